/**
 * Revokes tokens from the command line, in the same store the service uses:
 *
 *   npm run -s revoke -- --jti JTI --exp EPOCH_SECONDS   one token, until its exp (+ clock leeway)
 *   npm run -s revoke -- --token JWT                      one token given whole: its own jti and exp
 *   npm run -s revoke -- --sub SUBJECT                    every token of SUBJECT issued until now
 *
 * `-s`, because without it npm echoes the command line, a token given with --token included. This
 * command never prints a token: it answers with the jti or subject it revoked, and an argument it
 * does not expect is refused without being repeated.
 *
 * Configuration comes from the same environment as the service (loadConfig). With
 * USE_REDIS=true it talks to Upstash when UPSTASH_REDIS_REST_URL/TOKEN are set, otherwise to the
 * Redis at REDIS_HOST:REDIS_PORT through a local bridge, as the local server does. Without
 * Redis there is nothing to write to: the in-memory store lives inside the running server
 * process, so the command explains that and points at POST /api/revocations.
 *
 * --jti needs the token's own exp (no guess: a guessed lifetime shorter than the token's would
 * let it work again); --token reads both from the token, after checking it is one the service
 * accepts. The windows are the API's own (lib/auth/revocation-window.ts).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RevocationRefused, revocationWindow } from '../lib/auth/revocation-window.ts';
import { TokenVerifier } from '../lib/auth/verifier.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createUpstashStores } from '../lib/store/upstash.ts';
import { loadLocalConfig } from './local-config.ts';

export const USAGE = `usage: npm run revoke -- --jti JTI --exp EPOCH_SECONDS
       npm run revoke -- --token JWT
       npm run revoke -- --sub SUBJECT

  --jti JTI      revoke one token (its jti claim) ...
  --exp SECONDS  ... with that token's exp claim (epoch seconds, not yet passed); the entry goes
                 by itself after it (plus the clock leeway)
  --token JWT    revoke one token given whole: its own jti and exp are used
  --sub SUBJECT  revoke every token of SUBJECT issued up to now (and within the clock leeway
                 after it; tokens issued later work)
  -h, --help     this text

Run it as npm run -s revoke: without -s, npm prints the command line, token included.`;

export type RevokeRequest = { readonly jti: string; readonly exp: number } | { readonly token: string } | { readonly sub: string };

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses the arguments; throws UsageError with a message for the user. */
export function parseRevokeArgs(args: readonly string[]): RevokeRequest | 'help' {
  let values: {
    jti?: string | undefined;
    exp?: string | undefined;
    sub?: string | undefined;
    token?: string | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        jti: { type: 'string' },
        exp: { type: 'string' },
        sub: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs quotes a stray argument whole, and a stray argument may well be a token.
    if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError('an argument without its option (a token goes after --token)');
    }
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const given = [values.jti, values.sub, values.token].filter((value) => value !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --jti (with --exp), --token or --sub');
  if (values.token !== undefined) {
    if (values.exp !== undefined) throw new UsageError('--exp goes with --jti only (--token carries its own)');
    return { token: values.token };
  }
  if (values.sub !== undefined) {
    if (values.exp !== undefined) throw new UsageError('--exp goes with --jti only');
    if (values.sub.trim() === '' || values.sub.length > 256)
      throw new UsageError('--sub must be a non-empty subject of at most 256 characters');
    return { sub: values.sub };
  }
  const jti = values.jti ?? '';
  if (jti.trim() === '' || jti.length > 256) throw new UsageError('--jti must be a non-empty token id of at most 256 characters');
  if (values.exp === undefined) throw new UsageError("--jti needs --exp, the token's exp claim (or give the whole token with --token)");
  if (!/^\d{1,12}$/.test(values.exp) || Number(values.exp) <= 0)
    throw new UsageError("--exp must be the token's exp claim in epoch seconds");
  return { jti, exp: Number(values.exp) };
}

/** Writes the revocation; returns the line to print. */
export async function revoke(request: RevokeRequest, env: Record<string, string | undefined> = process.env): Promise<string> {
  if (!loadConfig(env).useRedis) {
    throw new UsageError(
      'USE_REDIS is not true, so the service keeps revocations in memory, inside the running server process; ' +
        'this command cannot reach them. Revoke through the running service instead:\n' +
        '  curl -X POST http://localhost:5000/api/revocations -H "Authorization: Bearer $ADMIN_TOKEN" \\\n' +
        '       -H "Content-Type: application/json" -d \'{"jti":"...","exp":...}\'   (or \'{"sub":"..."}\'; scope admin:revoke)\n' +
        'or run the service and this command with USE_REDIS=true.',
    );
  }
  const local = await loadLocalConfig(env);
  const { config } = local;
  const where = local.bridged ? `Redis at ${local.local.redisHost}:${local.local.redisPort}` : `Upstash at ${config.upstashUrl}`;
  try {
    // The operator's own revocation: no request, so no admission (the unchecked view).
    const { revocations } = createUpstashStores(config).unchecked;
    const window = revocationWindow(Date.now(), config.clockToleranceSeconds);
    if ('sub' in request) {
      await revocations.revokeSubject(request.sub, window.subjectCutoff);
      return `revoked every token of ${JSON.stringify(request.sub)} issued at or before ${new Date(window.subjectCutoff * 1000).toISOString()} (${where}, prefix ${config.redisKeyPrefix})`;
    }
    const { jti, exp } = 'token' in request ? window.tokenToRevoke(new TokenVerifier({ ...config, cacheSize: 0 }), request.token) : request;
    if (exp <= window.nowSeconds)
      throw new UsageError("--exp has passed: a token with that exp can no longer be used; give the token's real exp");
    const until = window.keepUntil(exp);
    await revocations.revokeToken(jti, until);
    return `revoked jti ${JSON.stringify(jti)} until ${new Date(until * 1000).toISOString()} (${where}, prefix ${config.redisKeyPrefix})`;
  } finally {
    await local.close();
  }
}

async function main(): Promise<void> {
  let request: RevokeRequest | 'help';
  try {
    request = parseRevokeArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`revoke: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (request === 'help') {
    console.log(USAGE);
    return;
  }
  try {
    console.log(await revoke(request));
    process.exit(0);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof RevocationRefused) {
      console.error(`revoke: ${error.message}`);
      process.exit(2);
    }
    console.error(`revoke: failed, the revocation may not have been written; try again: ${(error as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();
