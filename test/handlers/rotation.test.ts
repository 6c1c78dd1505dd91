/**
 * Key rotation without downtime, step by step as docs/tokens.md ("Rotating the JWT secret") and SECURITY.md describe it,
 * with the secret values the deployed stack reads (lib/secrets.ts turns them into the
 * environment). Each step is a fresh runtime, as a new Lambda instance after a deploy with a new
 * secretsRevision; the same token strings travel through all steps.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as whoami } from '../../functions/whoami.ts';
import { jwtSecretEnv } from '../../lib/secrets.ts';
import { invoke } from '../helpers/lambda.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken } from '../helpers/tokens.ts';

const OLD = 'old-key-0123456789abcdef0123456789abcdef-k1';
const NEW = 'new-key-fedcba9876543210fedcba9876543210-k2';

/** A new instance started on this secret value, in production mode (Lambda). */
function deploy(secretValue: string) {
  const env = Object.fromEntries(Object.entries(jwtSecretEnv(secretValue)).filter(([, value]) => value !== undefined)) as Record<
    string,
    string
  >;
  useTestRuntime({ AWS_LAMBDA_FUNCTION_NAME: 'biz-service-whoami', JWT_SECRET_KEY: '', ...env });
}

const status = async (token: string) => {
  const answer = await invoke(whoami, { path: '/api/whoami', token });
  return answer.status === 200 ? 200 : `${answer.status} ${answer.body.error_description}`;
};

describe('rotating the JWT secret', () => {
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    tokens.oldK1 = await signToken({}, { secret: OLD, header: { kid: 'k1' }, expiresIn: 3600 });
    tokens.oldNoKid = await signToken({}, { secret: OLD, expiresIn: 3600 });
    tokens.newK2 = await signToken({}, { secret: NEW, header: { kid: 'k2' }, expiresIn: 3600 });
    tokens.newNoKid = await signToken({}, { secret: NEW, expiresIn: 3600 });
    tokens.oldKeyNewKid = await signToken({}, { secret: OLD, header: { kid: 'k2' }, expiresIn: 3600 });
    tokens.newKeyOldKid = await signToken({}, { secret: NEW, header: { kid: 'k1' }, expiresIn: 3600 });
    tokens.newKeyOtherKid = await signToken({}, { secret: NEW, header: { kid: 'k3' }, expiresIn: 3600 });
  });

  it('step 0, one key: every token signed with it passes whatever its kid; the new key does not', async () => {
    deploy(JSON.stringify({ secret: OLD }));
    expect(await status(tokens.oldK1 as string)).toBe(200);
    expect(await status(tokens.oldNoKid as string)).toBe(200);
    expect(await status(tokens.oldKeyNewKid as string)).toBe(200);
    expect(await status(tokens.newK2 as string)).toBe('401 invalid_signature');
  });

  it('steps 1-2, both keys: old tokens (kid k1) and new ones (kid k2) pass; a kid picks exactly one key', async () => {
    deploy(JSON.stringify({ kid: 'k2', secret: NEW, previous: { kid: 'k1', secret: OLD } }));
    expect(await status(tokens.oldK1 as string)).toBe(200);
    expect(await status(tokens.newK2 as string)).toBe(200);
    expect(await status(tokens.newNoKid as string)).toBe(200); // no kid: the current key
    // A kid never lets the other key in, and unknown kids are refused.
    expect(await status(tokens.oldKeyNewKid as string)).toBe('401 invalid_signature');
    expect(await status(tokens.newKeyOldKid as string)).toBe('401 invalid_signature');
    expect(await status(tokens.newKeyOtherKid as string)).toBe('401 invalid_signature');
    // Documented: during a rotation the issuer must put the kid on old-key tokens.
    expect(await status(tokens.oldNoKid as string)).toBe('401 invalid_signature');
  });

  it('steps 3-4, old key dropped once its tokens expired: the same old token strings are refused, new ones pass', async () => {
    deploy(JSON.stringify({ secret: NEW }));
    expect(await status(tokens.oldK1 as string)).toBe('401 invalid_signature');
    expect(await status(tokens.oldNoKid as string)).toBe('401 invalid_signature');
    expect(await status(tokens.newK2 as string)).toBe(200);
    expect(await status(tokens.newNoKid as string)).toBe(200);
  });

  it('a verified token is remembered per instance only: a new instance on the new secret checks it again', async () => {
    deploy(JSON.stringify({ kid: 'k2', secret: NEW, previous: { kid: 'k1', secret: OLD } }));
    const token = tokens.oldK1 as string;
    expect(await status(token)).toBe(200);
    expect(await status(token)).toBe(200); // now from the verifier's cache
    deploy(JSON.stringify({ secret: NEW }));
    expect(await status(token)).toBe('401 invalid_signature');
  });

  it('refuses, at start in Lambda, a rotation whose keys are short or the sample secret, naming the variable', () => {
    expect(() => deploy(JSON.stringify({ kid: 'k2', secret: NEW, previous: { kid: 'k1', secret: 'short' } }))).toThrow(/^JWT_SECRET_KEYS:/);
    expect(() =>
      deploy(JSON.stringify({ kid: 'k2', secret: 'your-256-bit-secret-key-here', previous: { kid: 'k1', secret: OLD } })),
    ).toThrow(/^JWT_SECRET_KEYS:/);
  });
});
