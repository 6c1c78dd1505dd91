/**
 * Revokes tokens from the command line, in the same store the service uses:
 *
 *   npm run revoke -- --jti JTI [--exp EPOCH_SECONDS]   one token, until its exp (+ clock leeway)
 *   npm run revoke -- --sub SUBJECT                      every token of SUBJECT issued until now
 *
 * Configuration comes from the same environment as the service (loadConfig). With
 * USE_REDIS=true it talks to Upstash when UPSTASH_REDIS_REST_URL/TOKEN are set, otherwise to the
 * Redis at REDIS_HOST:REDIS_PORT through a local bridge, as the local server does. Without
 * Redis there is nothing to write to: the in-memory store lives inside the running server
 * process, so the command explains that and points at POST /api/revocations.
 *
 * Without --exp, a jti stays revoked for DEFAULT_TOKEN_LIFETIME_SECONDS (24 h, longer than any
 * token this project mints: `npm run token` defaults to 5 minutes) plus the clock leeway. Give
 * --exp (the token's own exp claim) whenever you know it.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createUpstashStores } from '../lib/store/upstash.ts';
import { loadLocalConfig } from './local-config.ts';

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export const USAGE = `usage: npm run revoke -- --jti JTI [--exp EPOCH_SECONDS]
       npm run revoke -- --sub SUBJECT

  --jti JTI      revoke one token (its jti claim)
  --exp SECONDS  that token's exp claim (epoch seconds); the entry goes by itself after it
                 (default: now + ${DEFAULT_TOKEN_LIFETIME_SECONDS} s)
  --sub SUBJECT  revoke every token of SUBJECT issued up to now (tokens issued later still work)`;

export type RevokeRequest = { readonly jti: string; readonly exp: number | undefined } | { readonly sub: string };

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses the arguments; throws UsageError with a message for the user. */
export function parseRevokeArgs(args: readonly string[]): RevokeRequest | 'help' {
  let values: { jti?: string | undefined; exp?: string | undefined; sub?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { jti: { type: 'string' }, exp: { type: 'string' }, sub: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  if ((values.jti === undefined) === (values.sub === undefined)) throw new UsageError('give exactly one of --jti or --sub');
  if (values.sub !== undefined) {
    if (values.exp !== undefined) throw new UsageError('--exp goes with --jti only');
    if (values.sub.trim() === '' || values.sub.length > 256)
      throw new UsageError('--sub must be a non-empty subject of at most 256 characters');
    return { sub: values.sub };
  }
  const jti = values.jti ?? '';
  if (jti.trim() === '' || jti.length > 256) throw new UsageError('--jti must be a non-empty token id of at most 256 characters');
  if (values.exp === undefined) return { jti, exp: undefined };
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
    const { revocations } = createUpstashStores(config);
    const nowSeconds = Math.floor(Date.now() / 1000);
    if ('sub' in request) {
      await revocations.revokeSubject(request.sub, nowSeconds);
      return `revoked every token of ${JSON.stringify(request.sub)} issued at or before ${new Date(nowSeconds * 1000).toISOString()} (${where}, prefix ${config.redisKeyPrefix})`;
    }
    // As POST /api/revocations does: kept until the token could no longer pass anyway.
    const until = (request.exp ?? nowSeconds + DEFAULT_TOKEN_LIFETIME_SECONDS) + config.clockToleranceSeconds;
    await revocations.revokeToken(request.jti, until);
    const note = request.exp === undefined ? ' (no --exp given: assumed the longest token lifetime)' : '';
    return `revoked jti ${JSON.stringify(request.jti)} until ${new Date(until * 1000).toISOString()}${note} (${where}, prefix ${config.redisKeyPrefix})`;
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
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`revoke: ${error.message}`);
      process.exit(2);
    }
    console.error(`revoke: failed, the revocation may not have been written; try again: ${(error as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();
