/**
 * Secrets read once per process, at cold start, before the configuration is loaded.
 *
 * Locally nothing names a secret and the environment passes through unchanged. The deployed
 * stack puts the secret's id (ARN or name) in `JWT_SECRET_ID` and, when Upstash is used,
 * `UPSTASH_TOKEN_SECRET_ID`; the values are fetched from AWS Secrets Manager and put where
 * lib/config.ts reads them: `JWT_SECRET_KEY` (or `JWT_SECRET_KEYS` during a key rotation) and
 * `UPSTASH_REDIS_REST_TOKEN`. No secret value ever sits in the template or in the function's
 * environment variables.
 *
 * The JWT secret's value is one of:
 *   - plain text: the HS* secret itself;
 *   - `{"secret":"..."}` (a `"kid"` beside it is allowed and ignored): one key, which every
 *     token uses whatever its `kid`, as with JWT_SECRET_KEY (what the stack generates);
 *   - `{"kid":"k2","secret":"...","previous":{"kid":"k1","secret":"..."}}`: during a rotation,
 *     the current key and the one before it, each picked by the token's `kid` (the kids the
 *     issuer puts in its tokens); tokens without kid use the current key, other kids are
 *     refused. Drop "previous" once the old key's tokens have expired.
 * The Upstash token's value is the token as plain text, or `{"token":"..."}`.
 *
 * The default fetcher uses the AWS SDK that the Lambda runtime ships (`@aws-sdk/*` stays out
 * of the bundle), loaded only when a secret is named, so local runs never load it. The
 * Parameters and Secrets extension was not used: it answers only during INVOKE, and the
 * handlers start building the runtime during INIT.
 */

type Env = Readonly<Record<string, string | undefined>>;

/** Returns the secret's string value for a secret id (ARN or name). */
export type SecretFetcher = (secretId: string) => Promise<string>;

/** Environment variables the stack sets to name the secrets. */
export const SECRET_ID_VARIABLES = {
  jwt: 'JWT_SECRET_ID',
  upstashToken: 'UPSTASH_TOKEN_SECRET_ID',
} as const;

export class SecretsError extends Error {
  override name = 'SecretsError';
  /** The environment variable that named the secret. */
  readonly variable: string;
  constructor(variable: string, problem: string, cause?: unknown) {
    super(`${variable}: ${problem}`, cause === undefined ? undefined : { cause });
    this.variable = variable;
  }
}

const KID = /^[A-Za-z0-9._:-]{1,64}$/;

interface Key {
  kid: string | undefined;
  secret: string;
}

function key(value: unknown, where: string, variable: string): Key {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretsError(variable, `${where} must be an object with "secret" (and "kid")`);
  }
  const { kid, secret } = value as Record<string, unknown>;
  if (typeof secret !== 'string' || secret === '') throw new SecretsError(variable, `${where}.secret must be a non-empty string`);
  // JWT_SECRET_KEYS is "kid=secret,kid=secret": a comma in a secret would split it.
  if (secret.includes(',')) throw new SecretsError(variable, `${where}.secret must not contain a comma`);
  if (kid !== undefined && (typeof kid !== 'string' || !KID.test(kid))) {
    throw new SecretsError(variable, `${where}.kid must be 1 to 64 letters, digits or . _ : -`);
  }
  return { kid, secret };
}

/** The environment entries for a JWT secret value (see the formats above). */
export function jwtSecretEnv(value: string, variable: string = SECRET_ID_VARIABLES.jwt): Record<string, string | undefined> {
  if (!value.trimStart().startsWith('{')) {
    if (value === '') throw new SecretsError(variable, 'the secret is empty');
    return { JWT_SECRET_KEY: value, JWT_SECRET_KEYS: undefined };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new SecretsError(variable, 'the secret starts with "{" but is not valid JSON', error);
  }
  const current = key(parsed, 'the secret', variable);
  const previousValue = (parsed as Record<string, unknown>).previous;
  // One key: every token uses it whatever its kid, as with JWT_SECRET_KEY.
  if (previousValue === undefined || previousValue === null) return { JWT_SECRET_KEY: current.secret, JWT_SECRET_KEYS: undefined };
  const previous = key(previousValue, 'previous', variable);
  if (current.kid === undefined || previous.kid === undefined) {
    throw new SecretsError(variable, 'with "previous", both keys need a "kid"');
  }
  if (current.kid === previous.kid) throw new SecretsError(variable, 'the current and previous keys have the same kid');
  // The first pair also serves tokens without kid: the current key.
  return { JWT_SECRET_KEYS: `${current.kid}=${current.secret},${previous.kid}=${previous.secret}`, JWT_SECRET_KEY: undefined };
}

/** The Upstash REST token from its secret value. */
export function upstashToken(value: string, variable: string = SECRET_ID_VARIABLES.upstashToken): string {
  let token: unknown = value;
  if (value.trimStart().startsWith('{')) {
    try {
      token = (JSON.parse(value) as Record<string, unknown>).token;
    } catch (error) {
      throw new SecretsError(variable, 'the secret starts with "{" but is not valid JSON', error);
    }
  }
  if (typeof token !== 'string' || token.trim() === '') throw new SecretsError(variable, 'expected the token as text or {"token":"..."}');
  return token.trim();
}

/** Reads secrets with GetSecretValue through the SDK that the Lambda runtime provides. */
export const secretsManagerFetcher: SecretFetcher = (() => {
  let client: Promise<(secretId: string) => Promise<string | undefined>> | undefined;
  return async (secretId: string) => {
    client ??= import('@aws-sdk/client-secrets-manager').then(({ SecretsManagerClient, GetSecretValueCommand }) => {
      const sdk = new SecretsManagerClient({});
      return async (id: string) => (await sdk.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
    });
    const value = await (await client)(secretId);
    if (value === undefined) throw new Error('the secret has no SecretString (binary secrets are not supported)');
    return value;
  };
})();

async function fetchOne(fetcher: SecretFetcher, variable: string, secretId: string): Promise<string> {
  try {
    return await fetcher(secretId);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
    throw new SecretsError(variable, `could not read secret ${secretId} (${reason})`, error);
  }
}

/**
 * The environment with the named secrets filled in; unchanged when no secret is named.
 * Both secrets are fetched in parallel. Errors name the variable, never a secret value.
 */
export async function loadSecrets(env: Env, fetcher: SecretFetcher = secretsManagerFetcher): Promise<Record<string, string | undefined>> {
  const jwtId = env[SECRET_ID_VARIABLES.jwt] || undefined;
  const tokenId = env[SECRET_ID_VARIABLES.upstashToken] || undefined;
  if (jwtId === undefined && tokenId === undefined) return { ...env };

  const [jwtValue, tokenValue] = await Promise.all([
    jwtId === undefined ? undefined : fetchOne(fetcher, SECRET_ID_VARIABLES.jwt, jwtId),
    tokenId === undefined ? undefined : fetchOne(fetcher, SECRET_ID_VARIABLES.upstashToken, tokenId),
  ]);
  const next: Record<string, string | undefined> = { ...env };
  if (jwtValue !== undefined) Object.assign(next, jwtSecretEnv(jwtValue));
  if (tokenValue !== undefined) next.UPSTASH_REDIS_REST_TOKEN = upstashToken(tokenValue);
  return next;
}
