/**
 * The attack catalogue (issue 6): each forged, confused or mangled credential is answered
 * 401 and never reaches the store: not the revocation check, not the rate limit, not the
 * command store. The stores of the runtime are wrapped in counting proxies for that.
 *
 * test/handlers/token-rules.test.ts checks the error code of the basic cases (alg none, HS512, stripped
 * signature, crit, changed payload, 8 KB, two headers, query string); here they only appear in
 * the "store untouched" table, next to the attacks that file does not cover.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { type Answer, type Handler, invoke } from '../helpers/lambda.ts';
import { memoryTestBackend, useTestRuntime } from '../helpers/runtime.ts';
import { signToken, TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET } from '../helpers/tokens.ts';

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hmac = (input: string, secret: string | Buffer = TEST_SECRET, hash = 'sha256') =>
  createHmac(hash, secret).update(input).digest('base64url');

/** A token from raw header and payload JSON text (for duplicate keys), signed with HMAC. */
function fromText(headerJson: string, payloadJson: string, secret: string | Buffer = TEST_SECRET): string {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  return `${input}.${hmac(input, secret)}`;
}

function claims(extra: Record<string, unknown> = {}) {
  return {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: 'agent-001',
    iat: now(),
    exp: now() + 300,
    jti: `jti-${Math.random()}`,
    scope: 'agent:commands agent:results',
    ...extra,
  };
}

function handMade(header: Record<string, unknown>, payload: Record<string, unknown> = claims(), secret: string | Buffer = TEST_SECRET) {
  return fromText(JSON.stringify(header), JSON.stringify(payload), secret);
}

/** Counts every call to every method of the stores and of a rate limiter. */
function counting<T extends object>(target: T, calls: string[], label: string): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(`${label}.${String(property)}`);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

let calls: string[];

beforeEach(() => {
  calls = [];
  const stores = memoryTestBackend({ RATE_LIMIT_REQUESTS: '1000', RATE_LIMIT_WINDOW_SECONDS: '60' });
  useTestRuntime(
    {},
    {
      stores: {
        ...stores,
        commands: counting(stores.commands, calls, 'commands'),
        revocations: counting(stores.revocations, calls, 'revocations'),
      },
    },
  );
});

afterEach(() => {
  vi.restoreAllMocks();
});

const withHeader = (authorization: string) => ({ authorization });

async function attack(headers: Record<string, string>, handler: Handler = whoami, extra: { query?: Record<string, string> } = {}) {
  const answers: Answer[] = [];
  answers.push(await invoke(handler, { path: '/api/whoami', headers, ...extra }));
  answers.push(
    await invoke(postResults, {
      method: 'POST',
      path: '/api/results',
      headers,
      body: { command_id: 'c-1', status: 'completed', result: { forged: true } },
      ...extra,
    }),
  );
  answers.push(await invoke(getCommands, { path: '/api/commands', headers, ...extra }));
  return answers;
}

function expectRefused(answers: Answer[], reason?: string) {
  for (const answer of answers) {
    expect(answer.status).toBe(401);
    expect(['invalid_token', 'missing_token']).toContain(answer.body.error);
    if (reason !== undefined)
      expect(answer.body).toEqual({ error: 'invalid_token', error_description: reason, request_id: expect.any(String) });
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="biz-service"/);
  }
  expect(calls).toEqual([]);
}

describe('the counting stores', () => {
  it('do count: a valid token reaches the command store, whose one call admits it (revocation and rate limit)', async () => {
    const answer = await invoke(getCommands, { path: '/api/commands', token: await signToken() });
    expect(answer.status).toBe(200);
    expect(calls).toEqual(['commands.fetch']);
    expect((await invoke(whoami, { path: '/api/whoami', token: await signToken() })).status).toBe(200);
    expect(calls).toEqual(['commands.fetch', 'revocations.admit']);
  });
});

describe('the basic catalogue never touches the store', () => {
  const unsigned = (alg: string) => `${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`;
  const cases: [string, () => Promise<string>][] = [
    ['alg none', async () => `Bearer ${unsigned('none')}`],
    ['alg None', async () => `Bearer ${unsigned('None')}`],
    ['alg NONE with a signature', async () => `Bearer ${unsigned('NONE')}${hmac('x')}`],
    ['the signature stripped', async () => `Bearer ${(await signToken()).split('.').slice(0, 2).join('.')}.`],
    ['the signature segment removed', async () => `Bearer ${(await signToken()).split('.').slice(0, 2).join('.')}`],
    ['HS512 with the right secret', async () => `Bearer ${await signToken({}, { alg: 'HS512' })}`],
    ['unknown crit', async () => `Bearer ${handMade({ alg: 'HS256', crit: ['exp-ext'], 'exp-ext': 1 })}`],
    [
      'a payload changed after signing',
      async () => {
        const [h, , s] = (await signToken()).split('.');
        return `Bearer ${h}.${b64(claims({ sub: 'agent-002' }))}.${s}`;
      },
    ],
    ['a token over 8 KB', async () => `Bearer ${await signToken({ padding: 'x'.repeat(9000) })}`],
    ['two Authorization headers', async () => `Bearer ${await signToken()},Bearer ${await signToken()}`],
  ];
  it.each(cases)('%s', async (_name, make) => {
    expectRefused(await attack(withHeader(await make())));
  });

  it('a token in the query string', async () => {
    expectRefused(await attack({}, whoami, { query: { access_token: await signToken() } }));
  });
});

describe('algorithm confusion', () => {
  it('refuses HS384 with the right secret when only HS256 is allowed', async () => {
    expectRefused(await attack(withHeader(`Bearer ${await signToken({}, { alg: 'HS384' })}`)), 'unsupported_algorithm');
  });

  it('refuses an RSA or EC public key (PEM) used as the HMAC secret', async () => {
    for (const type of ['rsa', 'ec'] as const) {
      const { publicKey } =
        type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      expectRefused(await attack(withHeader(`Bearer ${handMade({ alg: 'HS256', typ: 'JWT' }, claims(), pem)}`)), 'invalid_signature');
      expectRefused(await attack(withHeader(`Bearer ${await signToken({}, { secret: pem })}`)), 'invalid_signature');
    }
  });

  it('refuses tokens really signed with RS256 or ES256', async () => {
    for (const [alg, type] of [
      ['RS256', 'rsa'],
      ['ES256', 'ec'],
    ] as const) {
      const { privateKey } =
        type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const token = await new SignJWT(claims()).setProtectedHeader({ alg, typ: 'JWT' }).sign(privateKey);
      expectRefused(await attack(withHeader(`Bearer ${token}`)), 'unsupported_algorithm');
    }
  });
});

describe('kid', () => {
  const kids = [
    '../../../../etc/passwd',
    '/dev/null',
    "' OR '1'='1",
    "x'; DROP TABLE keys; --",
    'k'.repeat(4000),
    'a\u0000b',
    '',
    '__proto__',
    'constructor',
  ];
  const guesses: (string | Buffer)[] = ['', 'null', 'undefined', Buffer.alloc(32), 'root:x:0:0:root:/root:/bin/bash\n'];
  const label = (kid: string) => (kid.length > 40 ? `${kid.slice(0, 10)}… (${kid.length} chars)` : JSON.stringify(kid));

  it.each(kids.map((kid) => [label(kid), kid]))('refuses kid %s signed with a guessed secret (one JWT_SECRET_KEY)', async (_label, kid) => {
    for (const secret of guesses) {
      const token = handMade({ alg: 'HS256', typ: 'JWT', kid }, claims(), secret);
      expectRefused(await attack(withHeader(`Bearer ${token}`)), 'invalid_signature');
    }
  });

  it.each(kids.filter((kid) => kid !== '').map((kid) => [label(kid), kid]))(
    'refuses kid %s with JWT_SECRET_KEYS, even signed with one of the real secrets',
    async (_label, kid) => {
      const previous = 'previous-secret-0123456789abcdef01234567';
      const stores = memoryTestBackend();
      useTestRuntime(
        { JWT_SECRET_KEY: '', JWT_SECRET_KEYS: `2026-11=${TEST_SECRET},2026-10=${previous}` },
        {
          stores: {
            ...stores,
            commands: counting(stores.commands, calls, 'commands'),
            revocations: counting(stores.revocations, calls, 'revocations'),
          },
        },
      );
      for (const secret of [TEST_SECRET, previous, ...guesses]) {
        const token = handMade({ alg: 'HS256', typ: 'JWT', kid }, claims(), secret);
        expectRefused(await attack(withHeader(`Bearer ${token}`)), 'invalid_signature');
      }
    },
  );

  it('refuses a kid that is not a string', async () => {
    for (const kid of [1, null, ['a'], { a: 1 }]) {
      expectRefused(await attack(withHeader(`Bearer ${handMade({ alg: 'HS256', kid })}`)), 'malformed_token');
    }
  });
});

describe('key-location headers (jku, x5u, jwk, x5c)', () => {
  const attacker = 'attacker-secret-0123456789abcdef0123456789';
  const pointers: Record<string, unknown>[] = [
    { jku: 'https://attacker.example/jwks.json' },
    { x5u: 'https://attacker.example/cert.pem' },
    { jwk: { kty: 'oct', k: Buffer.from(attacker).toString('base64url') } },
    { x5c: ['MIIBszCCAVmgAwIBAgIUAttackerCertificate'] },
  ];

  it('ignores them: a token signed with the key they point at is refused, and nothing is fetched', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch');
    for (const pointer of pointers) {
      const token = handMade({ alg: 'HS256', typ: 'JWT', ...pointer }, claims(), attacker);
      expectRefused(await attack(withHeader(`Bearer ${token}`)), 'invalid_signature');
    }
    expect(fetch).not.toHaveBeenCalled();
  });

  it('ignores them on a token signed with our secret: the secret decides, not the header', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch');
    for (const pointer of pointers) {
      const token = handMade({ alg: 'HS256', typ: 'JWT', ...pointer });
      expect((await invoke(whoami, { path: '/api/whoami', token })).status).toBe(200);
    }
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('crit', () => {
  it('refuses any crit, even an empty list or one naming a header it carries', async () => {
    for (const header of [
      { alg: 'HS256', crit: [] },
      { alg: 'HS256', crit: ['b64'], b64: false },
      { alg: 'HS256', crit: 'exp' },
    ]) {
      expectRefused(await attack(withHeader(`Bearer ${handMade(header)}`)), 'malformed_token');
    }
  });
});

describe('duplicate JSON member names', () => {
  const payload = JSON.stringify(claims());
  const body = payload.slice(1, -1);

  it('refuses a header with alg twice, even when the last one is allowed', async () => {
    for (const header of ['{"alg":"none","alg":"HS256","typ":"JWT"}', '{"alg":"HS256","typ":"JWT","alg":"HS256"}']) {
      expectRefused(await attack(withHeader(`Bearer ${fromText(header, payload)}`)), 'malformed_token');
    }
  });

  it('refuses a payload with sub twice, also when one name is written with an escape', async () => {
    for (const text of [
      `{${body},"sub":"agent-002"}`,
      `{"sub":"agent-002",${body}}`,
      `{${body},"s\\u0075b":"agent-002"}`,
      `{${body},"scope":"admin:commands"}`,
    ]) {
      expectRefused(await attack(withHeader(`Bearer ${fromText('{"alg":"HS256","typ":"JWT"}', text)}`)), 'malformed_token');
    }
  });

  it('refuses duplicates nested inside a claim', async () => {
    const text = `{${body},"cnf":{"x5t#S256":"a","x5t#S256":"b"}}`;
    expectRefused(await attack(withHeader(`Bearer ${fromText('{"alg":"HS256"}', text)}`)), 'malformed_token');
  });

  it('still accepts the same name in different objects, and names that only look alike', async () => {
    const text = `{${body},"ext":{"sub":"x","nested":{"sub":"y"}},"list":[{"a":1},{"a":2}],"Sub":"z","su b":1}`;
    expect((await invoke(whoami, { path: '/api/whoami', token: fromText('{"alg":"HS256"}', text) })).status).toBe(200);
  });
});

describe('encoding', () => {
  /** Same bytes, another spelling: flips the unused low bits of the last base64url character. */
  function respell(part: string): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = part.at(-1) as string;
    const unused = part.length % 4 === 2 ? 0b1111 : 0b11; // 2 chars carry 1 byte, 3 chars carry 2
    const index = alphabet.indexOf(last);
    const respelled = alphabet[(index & ~unused) | ((index + 1) & unused)] as string;
    return part.slice(0, -1) + respelled;
  }

  it('refuses non-canonical base64url in any segment (the same bytes, spelled otherwise)', async () => {
    const token = await signToken({ pad: 'xx' });
    const parts = token.split('.');
    for (let i = 0; i < 3; i += 1) {
      const part = parts[i] as string;
      if (part.length % 4 === 0) continue; // no unused bits to play with
      const changed = [...parts];
      changed[i] = respell(part);
      expect(Buffer.from(changed[i] as string, 'base64url')).toEqual(Buffer.from(part, 'base64url'));
      expectRefused(await attack(withHeader(`Bearer ${changed.join('.')}`)), 'malformed_token');
    }
  });

  it('refuses padding, standard base64 characters and a segment of impossible length', async () => {
    const [h, p, s] = (await signToken()).split('.') as [string, string, string];
    for (const forged of [
      `${h}==.${p}.${s}`,
      `${h}.${p}.${s}=`,
      `${h.replace(/-/g, '+').replace(/_/g, '/')}+/.${p}.${s}`,
      `${h}.${p}A.${s}`,
    ]) {
      expectRefused(await attack(withHeader(`Bearer ${forged}`)));
    }
  });

  it('refuses whitespace and control characters inside the token', async () => {
    const token = await signToken();
    const at = token.indexOf('.') + 5;
    for (const char of [' ', '\t', '\u0000', '\u0001', '\u007f', '\u00a0', '\u200b', '\u2028', '\ufeff', '\r\n ']) {
      const mangled = `${token.slice(0, at)}${char}${token.slice(at)}`;
      expectRefused(await attack(withHeader(`Bearer ${mangled}`)));
    }
    // Around the token: a tab or no-break space as the separator, a control character after it.
    for (const header of [`Bearer\t${token}`, `Bearer\u00a0${token}`, `Bearer ${token}\u0000`, `Bearer ${token}.`]) {
      expectRefused(await attack(withHeader(header)));
    }
  });

  it('refuses a header or payload that decodes to invalid UTF-8 or to JSON with a BOM', async () => {
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(claims()))]).toString('base64url');
    const header = b64({ alg: 'HS256' });
    const withBom = `${header}.${payload}`;
    expectRefused(await attack(withHeader(`Bearer ${withBom}.${hmac(withBom)}`)), 'malformed_token');
    const broken = `${header}.${Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('base64url')}`;
    expectRefused(await attack(withHeader(`Bearer ${broken}.${hmac(broken)}`)), 'malformed_token');
  });
});
