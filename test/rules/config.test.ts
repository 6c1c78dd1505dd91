/** Configuration is read once, checked, and a bad value names its variable. */
import { describe, expect, it } from 'vitest';
import { loadLocalSettings } from '../../dev/local-config.ts';
import { ConfigError, DEFAULT_SECRET, loadConfig } from '../../lib/config.ts';

describe('the test run', () => {
  it('runs on Node 24, the Lambda runtime of the stack', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });
});

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      issuer: 'https://localhost:8443',
      audiences: ['biz-service'],
      algorithms: ['HS256'],
      clockToleranceSeconds: 60,
      useRedis: false,
      redisTimeoutMs: 1000,
      revocationMode: 'denylist',
      commandTtlSeconds: 86400,
      resultRetentionSeconds: 604800,
      production: false,
    });
    expect(config.secrets.get('')).toBe(DEFAULT_SECRET);
  });

  it.each([
    ['USE_REDIS', 'maybe'],
    ['JWT_CLOCK_TOLERANCE_SECONDS', '-5'],
    ['COMMAND_TTL_SECONDS', '1h'],
    ['REVOCATION_MODE', 'sometimes'],
    ['JWT_ALGORITHMS', 'RS256'],
    ['JWT_SECRET_KEYS', 'no-equals-sign'],
    ['UPSTASH_REDIS_REST_URL', 'redis://localhost'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });

  it('leaves the local-only settings (port, Redis host and port, TLS files) to the local tools', () => {
    const config = loadConfig({ BIZ_SERVICE_PORT: 'abc', REDIS_PORT: '0', TLS_CERT_FILE: 'x.pem' }) as unknown as Record<string, unknown>;
    for (const key of ['port', 'redisHost', 'redisPort', 'tls']) expect(config).not.toHaveProperty(key);
  });

  it('never allows alg none, in any case', () => {
    for (const value of ['none', 'HS256,None', 'NONE']) {
      expect(() => loadConfig({ JWT_ALGORITHMS: value })).toThrow(/JWT_ALGORITHMS: "none" can never be allowed/);
    }
  });

  it('reads USE_REDIS as a boolean', () => {
    expect(loadConfig({ USE_REDIS: 'true' }).useRedis).toBe(true);
    expect(loadConfig({ USE_REDIS: 'FALSE' }).useRedis).toBe(false);
  });

  it('refuses the sample secret and short secrets in Lambda and in production', () => {
    for (const env of [{ AWS_LAMBDA_FUNCTION_NAME: 'fn' }, { NODE_ENV: 'production' }]) {
      expect(() => loadConfig(env)).toThrow(/^JWT_SECRET_KEY: the sample secret is refused/);
      expect(() => loadConfig({ ...env, JWT_SECRET_KEY: 'short-secret' })).toThrow(/^JWT_SECRET_KEY: a secret must be at least 32 bytes/);
      expect(() => loadConfig({ ...env, JWT_SECRET_KEYS: `a=${'x'.repeat(32)},b=short` })).toThrow(/^JWT_SECRET_KEYS/);
      expect(loadConfig({ ...env, JWT_SECRET_KEY: 'x'.repeat(32) }).production).toBe(true);
    }
  });

  it('accepts the sample secret for local development', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).secrets.get('')).toBe(DEFAULT_SECRET);
  });

  it('reads several keys by kid, the first serving tokens without kid', () => {
    const config = loadConfig({ JWT_SECRET_KEYS: 'new=secret-one, old=secret-two' });
    expect([...config.secrets]).toEqual([
      ['new', 'secret-one'],
      ['old', 'secret-two'],
      ['', 'secret-one'],
    ]);
  });

  it('needs both Upstash variables or neither', () => {
    expect(() => loadConfig({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io' })).toThrow(/^UPSTASH_REDIS_REST_TOKEN/);
    expect(loadConfig({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't' }).upstashUrl).toBe(
      'https://x.upstash.io',
    );
  });
});

describe('the log level', () => {
  it('refuses a level Powertools does not know, naming the variable', () => {
    expect(() => loadConfig({ POWERTOOLS_LOG_LEVEL: 'bogus' })).toThrow(/^POWERTOOLS_LOG_LEVEL: expected one of TRACE, DEBUG, INFO/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/^LOG_LEVEL: expected one of/);
  });

  it('takes every known level in any case', () => {
    for (const level of ['trace', 'DEBUG', 'Info', 'warn', 'ERROR', 'critical', 'SILENT']) {
      expect(() => loadConfig({ POWERTOOLS_LOG_LEVEL: level }), level).not.toThrow();
    }
  });
});

describe('loadLocalSettings (dev tools only)', () => {
  it('gives the documented defaults', () => {
    expect(loadLocalSettings({})).toEqual({ port: 5000, redisHost: 'localhost', redisPort: 6379, tls: undefined });
  });

  it.each([
    ['BIZ_SERVICE_PORT', 'abc'],
    ['BIZ_SERVICE_PORT', '70000'],
    ['REDIS_PORT', '0'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadLocalSettings({ [name]: value })).toThrow(ConfigError);
    expect(() => loadLocalSettings({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });
});
