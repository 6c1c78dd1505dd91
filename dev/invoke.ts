/**
 * Runs one handler on one sample event, offline, without Docker:
 *   npm run invoke -- events/get-commands.json            (the function is found from routeKey)
 *   npm run invoke -- get-commands events/get-commands.json
 * An `Authorization: Bearer {{token}}` header in the event is replaced with a token minted now
 * for the scopes the route needs, signed with the local configuration (JWT_SECRET_KEY /
 * JWT_SECRET_KEYS, JWT_ISSUER, JWT_AUDIENCE and their defaults), so the sample events never
 * expire. The handler is imported from functions/ and called with a Lambda-like context.
 *
 * The store is the one `npm start` uses (in-memory unless USE_REDIS=true; then Upstash, or the
 * local Upstash bridge in front of REDIS_HOST:REDIS_PORT). The samples about one command
 * (get-command, cancel-command, post-results) name a command that no store holds, so the command line first
 * enqueues one (events/enqueue-command.json) and puts its id in the event; the samples about one
 * job (get-job, list-job-executions, get-job-execution, cancel-job, pause-job, resume-job) get a job created first
 * (events/create-job.json).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { lambdaContext } from './lambda-context.ts';
import { configSigner, signToken } from './token.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { setReadinessStore } from '../functions/ready.ts';
import { buildConsole } from '../console/build.ts';
import { setConsoleFiles } from '../lib/http/console.ts';
import { useMetrics } from '../lib/http/observe.ts';
import { fallbackRoute, routes } from '../lib/http/routes.ts';
import { createRuntime, setRuntime } from '../lib/runtime.ts';
import { loadLocalConfig } from './local-config.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TOKEN_PLACEHOLDER = '{{token}}';
export const USAGE = `usage: npm run invoke -- [FUNCTION] events/ROUTE.json

  FUNCTION     a file name in functions/ (e.g. get-commands); by default the one the event's
               routeKey names
  -h, --help   this text

get-command.json, cancel-command.json and post-results.json first get a command enqueued (events/enqueue-command.json),
whose id replaces the sample's; get-job.json, list-job-executions.json, get-job-execution.json, cancel-job.json, pause-job.json and
resume-job.json get a job created
(events/create-job.json) the same way.`;

type Env = Readonly<Record<string, string | undefined>>;

export interface InvokeOptions {
  /** The environment the token is signed for; process.env by default (as the handler's runtime). */
  readonly env?: Env;
  /** The token's subject. */
  readonly sub?: string;
}

export interface InvokeResult {
  readonly functionName: string;
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  /** Parsed when the answer is JSON. */
  readonly body: unknown;
}

/** The handler file (under functions/) that serves an event, from its routeKey. */
export function functionForEvent(event: Pick<APIGatewayProxyEventV2, 'routeKey'>): string {
  if (event.routeKey === '$default') return fallbackRoute.handler;
  const route = routes.find((candidate) => `${candidate.method} ${candidate.path}` === event.routeKey);
  if (route === undefined) throw new Error(`no route in lib/routes.ts has routeKey ${JSON.stringify(event.routeKey)}`);
  return route.handler;
}

/** The scopes a token for this function needs (none for the fallback and /health). */
export function scopesFor(functionName: string): readonly string[] {
  return routes.find((route) => route.handler === functionName)?.scopes ?? [];
}

/** A token valid for five minutes, signed the way the local configuration verifies it. */
export async function mintToken(scopes: readonly string[], env: Env = process.env, sub = 'agent-001'): Promise<string> {
  // The key for tokens without kid: JWT_SECRET_KEY, or the first of JWT_SECRET_KEYS.
  if (loadConfig(env).secrets.get('') === undefined)
    throw new Error('no JWT secret configured (with only JWT_JWKS_URL, put a token from npm run token -- --key in the event)');
  return signToken(configSigner(env), { sub, scope: scopes.join(' '), client_id: 'local-invoke' });
}

/** A copy of the event with the token placeholder filled in and the request time set to now. */
export async function prepareEvent(
  event: APIGatewayProxyEventV2,
  functionName: string,
  options: InvokeOptions = {},
): Promise<APIGatewayProxyEventV2> {
  const headers: Record<string, string | undefined> = { ...event.headers };
  for (const [name, value] of Object.entries(headers)) {
    if (value?.includes(TOKEN_PLACEHOLDER)) {
      const token = await mintToken(scopesFor(functionName), options.env ?? process.env, options.sub);
      headers[name] = value.replace(TOKEN_PLACEHOLDER, token);
    }
  }
  const now = Date.now();
  return { ...event, headers, requestContext: { ...event.requestContext, timeEpoch: now } };
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2 | string | undefined>;

async function loadHandler(functionName: string): Promise<Handler> {
  if (!/^[a-z0-9-]+$/.test(functionName)) throw new Error(`not a function name: ${JSON.stringify(functionName)}`);
  const file = path.join(ROOT, 'functions', `${functionName}.ts`);
  const module = (await import(pathToFileURL(file).href)) as { handler?: Handler };
  if (typeof module.handler !== 'function') throw new Error(`functions/${functionName}.ts does not export a handler`);
  return module.handler;
}

/** Runs a handler on an event (the function defaults to the one the event's routeKey names). */
export async function invokeEvent(
  event: APIGatewayProxyEventV2,
  functionName?: string,
  options: InvokeOptions = {},
): Promise<InvokeResult> {
  const name = functionName ?? functionForEvent(event);
  const handler = await loadHandler(name);
  // The console's files, built as the local server builds them (a deployment ships them built).
  if (routes.some((route) => route.handler === name && route.console === true)) setConsoleFiles(buildConsole());
  const context = lambdaContext(`biz-service-${name}`, { logStreamName: 'local-invoke' });
  const answer = await handler(await prepareEvent(event, name, options), context);
  // Payload 2.0 also allows a bare string or object answer: API Gateway sends it as a 200 JSON body.
  const result: APIGatewayProxyStructuredResultV2 =
    typeof answer === 'object' && answer !== null && 'statusCode' in answer ? answer : { statusCode: 200, body: JSON.stringify(answer) };
  const headers: Record<string, string> = {};
  for (const [header, value] of Object.entries(result.headers ?? {})) headers[header] = String(value);
  const contentType = Object.entries(headers).find(([header]) => header.toLowerCase() === 'content-type')?.[1] ?? '';
  let body: unknown = result.body;
  if (typeof result.body === 'string' && contentType.startsWith('application/json')) body = JSON.parse(result.body);
  return { functionName: name, statusCode: result.statusCode ?? 200, headers, body };
}

export async function readEvent(file: string): Promise<APIGatewayProxyEventV2> {
  return JSON.parse(await readFile(file, 'utf8')) as APIGatewayProxyEventV2;
}

/** The functions whose sample names one command, and where the sample keeps its id. */
const inPath = (event: APIGatewayProxyEventV2) => {
  const { agentId, commandId } = event.pathParameters ?? {};
  return agentId && commandId ? { agentId, commandId } : undefined;
};
const COMMAND_ID_OF: Record<string, (event: APIGatewayProxyEventV2) => { agentId: string; commandId: string } | undefined> = {
  'get-command': inPath,
  'cancel-command': inPath,
  'post-results': (event) => {
    const commandId = (JSON.parse(event.body ?? '{}') as { command_id?: unknown }).command_id;
    return typeof commandId === 'string' ? { agentId: 'agent-001', commandId } : undefined;
  },
};

/**
 * For a sample about one command: enqueues a command for its agent (events/enqueue-command.json)
 * and returns the event with that command's id in place of the sample's. Other events unchanged.
 */
export async function withEnqueuedCommand(
  event: APIGatewayProxyEventV2,
  functionName: string,
  options: InvokeOptions = {},
): Promise<{ event: APIGatewayProxyEventV2; commandId?: string }> {
  const named = COMMAND_ID_OF[functionName]?.(event);
  if (named === undefined) return { event };
  const enqueue = await readEvent(path.join(ROOT, 'events', 'enqueue-command.json'));
  const forAgent = JSON.parse(JSON.stringify(enqueue).replaceAll('agent-001', named.agentId)) as APIGatewayProxyEventV2;
  const created = await invokeEvent(forAgent, 'enqueue-command', options);
  const commandId = (created.body as { command_id?: unknown }).command_id;
  if (created.statusCode !== 201 || typeof commandId !== 'string') {
    throw new Error(`enqueueing a command first answered ${created.statusCode}: ${JSON.stringify(created.body)}`);
  }
  // The id appears in the path, the path parameters and the body; a UUID for a UUID keeps every length.
  return { event: JSON.parse(JSON.stringify(event).replaceAll(named.commandId, commandId)) as APIGatewayProxyEventV2, commandId };
}

/** The functions whose sample names one job. */
const JOB_SAMPLES = new Set(['get-job', 'list-job-executions', 'get-job-execution', 'cancel-job', 'pause-job', 'resume-job']);

/**
 * For a sample about one job: creates a job (events/create-job.json) and returns the event with
 * that job's id in place of the sample's. Other events unchanged.
 */
export async function withCreatedJob(
  event: APIGatewayProxyEventV2,
  functionName: string,
  options: InvokeOptions = {},
): Promise<{ event: APIGatewayProxyEventV2; jobId?: string }> {
  const named = JOB_SAMPLES.has(functionName) ? event.pathParameters?.jobId : undefined;
  if (named === undefined) return { event };
  const created = await invokeEvent(await readEvent(path.join(ROOT, 'events', 'create-job.json')), 'create-job', options);
  const jobId = (created.body as { job_id?: unknown }).job_id;
  if (created.statusCode !== 201 || typeof jobId !== 'string') {
    throw new Error(`creating a job first answered ${created.statusCode}: ${JSON.stringify(created.body)}`);
  }
  return { event: JSON.parse(JSON.stringify(event).replaceAll(named, jobId)) as APIGatewayProxyEventV2, jobId };
}

async function main(args: readonly string[]): Promise<number> {
  // EMF lines would mix with the answer printed on stdout; POWERTOOLS_METRICS_DISABLED=false shows them.
  if (process.env.POWERTOOLS_METRICS_DISABLED !== 'false') useMetrics(false);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const unknown = args.find((arg) => arg.startsWith('-'));
  if (args.length === 0 || args.length > 2 || unknown !== undefined) {
    console.error(`${unknown === undefined ? '' : `invoke: unknown option ${unknown}\n\n`}${USAGE}`);
    return 2;
  }
  const [first, second] = args;
  const file = second ?? first;
  const functionName = second === undefined ? undefined : first;
  if (file === undefined) return 2;
  let local: Awaited<ReturnType<typeof loadLocalConfig>> | undefined;
  try {
    // The store npm start would use, the local Upstash bridge included.
    local = await loadLocalConfig(process.env);
    setRuntime(createRuntime(local.config));
    setReadinessStore(local.config);
    const read = await readEvent(file);
    const name = functionName ?? functionForEvent(read);
    const { event: withCommand, commandId } = await withEnqueuedCommand(read, name);
    if (commandId !== undefined) console.error(`invoke: enqueued command ${commandId} first (events/enqueue-command.json)`);
    const { event, jobId } = await withCreatedJob(withCommand, name);
    if (jobId !== undefined) console.error(`invoke: created job ${jobId} first (events/create-job.json)`);
    const result = await invokeEvent(event, name);
    console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) console.error(`invoke: configuration error: ${error.message}`);
    else console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return error instanceof ConfigError ? 2 : 1;
  } finally {
    await local?.close();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
