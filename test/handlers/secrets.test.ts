/**
 * lib/secrets.ts: the secrets named by the stack are read once and put where the configuration
 * reads them; locally nothing changes. The default fetcher is exercised with the real AWS SDK
 * against a loopback server that imitates Secrets Manager's GetSecretValue.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import { jwtSecretEnv, loadSecrets, type SecretFetcher, SecretsError, secretsManagerFetcher, upstashToken } from '../../lib/secrets.ts';
import { signToken, TEST_AUDIENCE, TEST_ISSUER } from '../helpers/tokens.ts';

const CURRENT = 'current-secret-0123456789abcdef0123456789abcdef';
const PREVIOUS = 'previous-secret-0123456789abcdef0123456789abcde';
const JWT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:biz/jwt-AbCdEf';
const TOKEN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:biz/upstash-GhIjKl';

function fetcherOf(values: Record<string, string>): SecretFetcher & { calls: string[] } {
  const calls: string[] = [];
  const fetcher = async (secretId: string) => {
    calls.push(secretId);
    const value = values[secretId];
    if (value === undefined)
      throw Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: 'ResourceNotFoundException' });
    return value;
  };
  return Object.assign(fetcher, { calls });
}

const lambdaEnv = {
  AWS_LAMBDA_FUNCTION_NAME: 'biz-get-commands',
  JWT_ISSUER: TEST_ISSUER,
  JWT_AUDIENCE: TEST_AUDIENCE,
  JWT_SECRET_ID: JWT_ARN,
  UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io',
  UPSTASH_TOKEN_SECRET_ID: TOKEN_ARN,
};

describe('loadSecrets', () => {
  it('passes the environment through untouched when no secret is named', async () => {
    const fetcher = vi.fn<SecretFetcher>();
    const env = { JWT_SECRET_KEY: 'local', OTHER: 'x' };
    const loaded = await loadSecrets(env, fetcher);
    expect(loaded).toEqual(env);
    expect(loaded).not.toBe(env);
    expect(fetcher).not.toHaveBeenCalled();
  });

  it('fills the JWT secret and the Upstash token, reading each secret once', async () => {
    const fetcher = fetcherOf({ [JWT_ARN]: CURRENT, [TOKEN_ARN]: 'upstash-token-123' });
    const env = await loadSecrets(lambdaEnv, fetcher);
    expect(fetcher.calls.sort()).toEqual([JWT_ARN, TOKEN_ARN].sort());
    expect(env.JWT_SECRET_KEY).toBe(CURRENT);
    expect(env.UPSTASH_REDIS_REST_TOKEN).toBe('upstash-token-123');
    const config = loadConfig(env);
    expect(config.production).toBe(true);
    expect(config.secrets.get('')).toBe(CURRENT);
    expect(config.upstashToken).toBe('upstash-token-123');
  });

  it('accepts the value the stack generates ({"secret"}) as a production key for tokens with any kid', async () => {
    const generated = JSON.stringify({ secret: `${'A'.repeat(20)}${'b'.repeat(20)}${'0123456789'.repeat(2)}zzzz` });
    const env = await loadSecrets(
      { ...lambdaEnv, UPSTASH_TOKEN_SECRET_ID: undefined, UPSTASH_REDIS_REST_URL: undefined },
      fetcherOf({ [JWT_ARN]: generated }),
    );
    const config = loadConfig(env);
    expect([...config.secrets.keys()]).toEqual(['']);
    const verifier = new TokenVerifier({ ...config, cacheSize: 0 });
    const secret = config.secrets.get('') as string;
    expect(verifier.verify(await signToken({}, { secret, header: { kid: 'issuer-chosen-kid' } })).sub).toBe('agent-001');
  });

  it('during a rotation, verifies tokens of the current key (with or without kid) and of the previous key', async () => {
    const value = JSON.stringify({ kid: 'k2', secret: CURRENT, previous: { kid: 'k1', secret: PREVIOUS } });
    const env = await loadSecrets(
      { ...lambdaEnv, UPSTASH_TOKEN_SECRET_ID: undefined, UPSTASH_REDIS_REST_URL: undefined },
      fetcherOf({ [JWT_ARN]: value }),
    );
    expect(env.JWT_SECRET_KEY).toBeUndefined();
    const config = loadConfig(env);
    const verifier = new TokenVerifier({ ...config, cacheSize: 0 });
    expect(verifier.verify(await signToken({}, { secret: CURRENT, header: { kid: 'k2' } })).sub).toBe('agent-001');
    expect(verifier.verify(await signToken({}, { secret: CURRENT })).sub).toBe('agent-001');
    expect(verifier.verify(await signToken({}, { secret: PREVIOUS, header: { kid: 'k1' } })).sub).toBe('agent-001');
    const unknownKid = await signToken({}, { secret: CURRENT, header: { kid: 'k0' } });
    expect(() => verifier.verify(unknownKid)).toThrow(/kid/);
  });

  it('names the variable when a secret cannot be read, without the value', async () => {
    const failing: SecretFetcher = async () => {
      throw Object.assign(new Error('User is not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' });
    };
    const error = await loadSecrets(lambdaEnv, failing).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretsError);
    expect((error as SecretsError).variable).toMatch(/^(JWT_SECRET_ID|UPSTASH_TOKEN_SECRET_ID)$/);
    expect((error as Error).message).toContain('AccessDeniedException');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});

describe('the JWT secret formats', () => {
  it('take plain text as the key itself', () => {
    expect(jwtSecretEnv(CURRENT)).toEqual({ JWT_SECRET_KEY: CURRENT, JWT_SECRET_KEYS: undefined });
  });

  it('take {"secret"}, with or without kid, as the key for every token', () => {
    expect(jwtSecretEnv(JSON.stringify({ secret: CURRENT }))).toEqual({ JWT_SECRET_KEY: CURRENT, JWT_SECRET_KEYS: undefined });
    expect(jwtSecretEnv(JSON.stringify({ kid: 'k1', secret: CURRENT }))).toEqual({ JWT_SECRET_KEY: CURRENT, JWT_SECRET_KEYS: undefined });
  });

  it('put the current key first during a rotation', () => {
    expect(jwtSecretEnv(JSON.stringify({ kid: 'k2', secret: CURRENT, previous: { kid: 'k1', secret: PREVIOUS } })).JWT_SECRET_KEYS).toBe(
      `k2=${CURRENT},k1=${PREVIOUS}`,
    );
  });

  it.each([
    ['broken JSON', '{"kid":'],
    ['an empty secret', ''],
    ['no secret member', JSON.stringify({ kid: 'k1' })],
    ['previous without kid', JSON.stringify({ kid: 'k2', secret: CURRENT, previous: { secret: PREVIOUS } })],
    ['current without kid', JSON.stringify({ secret: CURRENT, previous: { kid: 'k1', secret: PREVIOUS } })],
    ['the same kid twice', JSON.stringify({ kid: 'k1', secret: CURRENT, previous: { kid: 'k1', secret: PREVIOUS } })],
    ['a comma in a secret', JSON.stringify({ kid: 'k2', secret: 'a,b', previous: { kid: 'k1', secret: PREVIOUS } })],
    ['a kid with "="', JSON.stringify({ kid: 'k=2', secret: CURRENT, previous: { kid: 'k1', secret: PREVIOUS } })],
  ])('refuse %s, naming JWT_SECRET_ID and not the value', (_what, value) => {
    let error: unknown;
    try {
      jwtSecretEnv(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SecretsError);
    expect((error as SecretsError).message).toMatch(/^JWT_SECRET_ID: /);
    expect((error as SecretsError).message).not.toContain(CURRENT);
  });
});

describe('the Upstash token', () => {
  it('is read as text or from {"token"}, without surrounding whitespace', () => {
    expect(upstashToken('abc123\n')).toBe('abc123');
    expect(upstashToken('{"token":"abc123"}')).toBe('abc123');
    expect(() => upstashToken('{"nope":1}')).toThrow(/UPSTASH_TOKEN_SECRET_ID/);
    expect(() => upstashToken(' ')).toThrow(SecretsError);
  });
});

describe('the default fetcher (AWS SDK, GetSecretValue)', () => {
  let server: Server;
  const seen: { target: string | undefined; auth: string | undefined; body: unknown }[] = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      request.on('end', () => {
        const parsed = JSON.parse(body) as { SecretId: string };
        seen.push({ target: request.headers['x-amz-target'] as string | undefined, auth: request.headers.authorization, body: parsed });
        response.setHeader('Content-Type', 'application/x-amz-json-1.1');
        if (parsed.SecretId === JWT_ARN) {
          response.end(
            JSON.stringify({ ARN: JWT_ARN, Name: 'biz/jwt', SecretString: CURRENT, VersionId: 'v1', VersionStages: ['AWSCURRENT'] }),
          );
        } else {
          response.statusCode = 400;
          response.end(
            JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }),
          );
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00',
      AWS_SECRET_ACCESS_KEY: 'example-secret-access-key-0000000000000000',
      AWS_SESSION_TOKEN: 'example-session-token',
      AWS_MAX_ATTEMPTS: '1',
    });
  });

  afterAll(async () => {
    process.env = saved;
    await new Promise((resolve) => server.close(resolve));
  });

  it('signs a GetSecretValue request and returns SecretString', async () => {
    await expect(secretsManagerFetcher(JWT_ARN)).resolves.toBe(CURRENT);
    expect(seen.at(-1)).toMatchObject({ target: 'secretsmanager.GetSecretValue', body: { SecretId: JWT_ARN } });
    expect(seen.at(-1)?.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/);
  });

  it('surfaces a missing secret as a SecretsError through loadSecrets', async () => {
    const error = await loadSecrets({ JWT_SECRET_ID: 'biz/missing' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretsError);
    expect((error as Error).message).toMatch(/JWT_SECRET_ID: could not read secret biz\/missing \(ResourceNotFoundException/);
  });
});
