/**
 * Prints a token signed with the current configuration, for curl:
 *   npm run token -- --sub agent-001 --scope "agent:commands agent:results" [--ttl 300] [--kid K] [--client-id C]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { ConfigError, loadConfig } from '../lib/config.ts';

const USAGE =
  'usage: npm run token -- --sub AGENT_ID [--scope "agent:commands agent:results"] [--ttl SECONDS] [--kid KID] [--client-id ID]';

export function mintToken(
  options: { sub: string; scope: string; ttl: number; kid?: string; clientId?: string },
  env = process.env,
): string {
  const config = loadConfig(env);
  const kid = options.kid ?? '';
  const secret = config.secrets.get(kid);
  if (secret === undefined) throw new ConfigError('JWT_SECRET_KEYS', `no secret for kid ${JSON.stringify(kid)}`);
  return jwt.sign({ scope: options.scope, jti: randomUUID(), client_id: options.clientId ?? options.sub }, secret, {
    algorithm: config.algorithms[0] ?? 'HS256',
    issuer: config.issuer,
    audience: config.audiences[0] ?? 'biz-service',
    subject: options.sub,
    expiresIn: options.ttl,
    ...(options.kid ? { keyid: options.kid } : {}),
  });
}

function main(): void {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        sub: { type: 'string' },
        scope: { type: 'string', default: 'agent:commands agent:results' },
        ttl: { type: 'string', default: '300' },
        kid: { type: 'string' },
        'client-id': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const ttl = Number(values.ttl);
  if (typeof values.sub !== 'string' || values.sub === '' || !Number.isInteger(ttl) || ttl < 1) {
    console.error(USAGE);
    process.exit(2);
  }
  try {
    console.log(
      mintToken({
        sub: values.sub,
        scope: String(values.scope),
        ttl,
        ...(typeof values.kid === 'string' ? { kid: values.kid } : {}),
        ...(typeof values['client-id'] === 'string' ? { clientId: values['client-id'] } : {}),
      }),
    );
  } catch (error) {
    console.error(`token: ${(error as Error).message}`);
    process.exit(2);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
