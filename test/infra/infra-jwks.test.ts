/**
 * The stack with the issuer's JWKS (context jwksUrl): the URL is configuration, and with no
 * HMAC secret the stack makes no JWT secret at all. Asserted on the synthesised template.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SettingsError } from '../../infra/settings.ts';
import { nagFindings, resourcesOfType, synth } from '../helpers/infra-synth.ts';

const UPSTASH_URL = 'https://eu1-example-12345.upstash.io';
const JWKS_URL = 'https://auth.example.com/oauth2/jwks';

const storeVariables = (json: ReturnType<typeof synth>['json']) =>
  resourcesOfType(json, 'AWS::Lambda::Function')
    .map(([, fn]) => fn.Properties?.Environment?.Variables as Record<string, unknown> | undefined)
    .filter((variables) => variables?.JWT_ISSUER !== undefined) as Record<string, unknown>[];

describe('the stack with a JWKS', () => {
  it('makes no JWT secret, grants no read of one, and gives the functions the JWKS URL', () => {
    const { json, template, stack } = synth({ upstashUrl: UPSTASH_URL, jwksUrl: JWKS_URL, jwtAlgorithms: 'RS256,ES256' });
    expect(nagFindings(stack)).toEqual([]);
    expect(resourcesOfType(json, 'AWS::SecretsManager::Secret').map(([id]) => id)).toEqual([expect.stringMatching(/^UpstashToken/)]);
    expect(Object.keys(json.Outputs ?? {})).not.toContain('JwtSecretArn');
    const variables = storeVariables(json);
    expect(variables.length).toBeGreaterThan(0);
    for (const each of variables) {
      expect(each).toMatchObject({ JWT_JWKS_URL: JWKS_URL, JWT_ALGORITHMS: 'RS256,ES256' });
      expect(each.JWT_SECRET_ID).toBeUndefined();
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['secretsmanager:GetSecretValue']) })]) },
    });
    for (const [, policy] of resourcesOfType(json, 'AWS::IAM::Policy')) {
      expect(JSON.stringify(policy.Properties)).not.toMatch(/JwtSecret/);
    }
  });

  it('keeps an imported HMAC secret beside the JWKS during a migration', () => {
    const { json } = synth({ jwksUrl: JWKS_URL, jwtSecret: 'biz-service/jwt', jwtAlgorithms: 'HS256,RS256' });
    for (const each of storeVariables(json)) {
      expect(each).toMatchObject({ JWT_JWKS_URL: JWKS_URL, JWT_SECRET_ID: 'biz-service/jwt', JWT_ALGORITHMS: 'HS256,RS256' });
    }
  });

  it('makes the JWT secret as before without a JWKS', () => {
    const { json } = synth({});
    expect(resourcesOfType(json, 'AWS::SecretsManager::Secret').some(([id]) => id.startsWith('JwtSecret'))).toBe(true);
    for (const each of storeVariables(json)) expect(each.JWT_JWKS_URL).toBeUndefined();
  });

  it.each([
    [{ jwksUrl: 'http://auth.example.com/jwks' }, 'jwksUrl'],
    [{ jwksUrl: JWKS_URL, jwtAlgorithms: 'EdDSA' }, 'jwtAlgorithms'],
    [{ jwksUrl: JWKS_URL, jwtAlgorithms: 'HS256' }, 'jwtAlgorithms'],
    [{ jwtAlgorithms: 'RS256' }, 'jwtAlgorithms'],
  ])('refuses %o, naming the context key', (context, key) => {
    expect(() => synth(context)).toThrow(SettingsError);
    expect(() => synth(context)).toThrow(new RegExp(`^context ${key}: `));
  });
});
