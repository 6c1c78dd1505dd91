/**
 * The route table: one record per route, the single source of truth for the functions (each
 * takes its scopes and body limit from its own entry), the local server, the 405 fallback and the
 * CDK stack. Paths use API Gateway's `{param}` syntax. Plain data: matching a path against the
 * table is lib/http/router.ts's job, so a function bundle that reads its entry compiles no
 * patterns.
 */
import { SCOPES } from '../auth/scopes.ts';
import { MAX_OVERRIDES_BYTES } from '../commands/agent-config.ts';
import { RESULT_MAX_BYTES } from '../commands/model.ts';
import { MAX_BULK_MEMBERS } from '../groups/membership.ts';
import { MAX_JOB_AGENTS } from '../jobs/model.ts';
import type { ScriptFile } from '../store/lua.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Route {
  /** Stable name, used for the Lambda function's logical id. */
  readonly name: string;
  readonly method: HttpMethod;
  readonly path: string;
  /** Handler file under functions/, without extension. */
  readonly handler: string;
  /** Scopes the token must carry; undefined means no token at all, [] any valid token. */
  readonly scopes: readonly string[] | undefined;
  /** The largest request body in bytes; undefined: the route takes no body. */
  readonly bodyLimit?: number;
  /** Debug routes can be left out of a deployment. */
  readonly debug?: boolean;
  /** The handler reads a secret (JWT key, Upstash token) and talks to the store. */
  readonly usesStore: boolean;
  /**
   * The handler serves the operators' console: its bundle ships the built page, script and
   * stylesheet (console/build.ts) in console/ beside index.mjs (infra/function.ts).
   */
  readonly console?: boolean;
  /** The handler only checks that the store answers: the store's settings and the Upstash token, no JWT key. */
  readonly probesStore?: boolean;
  /**
   * The handler's one store call admits the request (revocation and rate limit in the same
   * atomic step as its action); false: the auth middleware admits it with one call of its own.
   */
  readonly admitsInStore?: boolean;
  /**
   * The Redis store's scripts (lib/store/lua/<name>.lua) the handler can run, the auth
   * middleware's admission included: what its Lambda bundle ships, assembled, in lua/ beside
   * index.mjs (infra/function.ts). The gate, the preamble of every one of them, is implied for
   * a route that takes a token and never listed. A script left out is a 503 on Redis only.
   */
  readonly scripts: readonly ActionScript[];
  /**
   * The function's timeout in seconds when the route needs longer than the default
   * (FUNCTION_DEFAULTS in infra/function.ts): a job create over 1,000,000 targets is some 2,000
   * store calls one after the other. Under the HTTP API's 30 s integration limit.
   */
  readonly timeoutSeconds?: number;
  /**
   * What the handler does with the command signing key (docs/signing.md): `sign` (it makes
   * commands: kms:Sign on that key alone) or `publish` (it shows the public keys: kms:GetPublicKey);
   * absent: nothing, and the function is given neither the key's id nor a permission on it.
   */
  readonly commandKeys?: 'sign' | 'publish';
}

/** A script a handler runs: any file of lib/store/lua but the gate, which every one of them starts with. */
export type ActionScript = Exclude<ScriptFile, 'gate'>;

/** A route that requires a token (every route but /health, /ready and the console's). */
export interface AuthenticatedRoute extends Route {
  readonly scopes: readonly string[];
}

/** Room in a body for what surrounds a bounded value (command_id, status, ...). */
const ENVELOPE_BYTES = 4 * 1024;

/** An enqueue's body: the command, its args (bounded by this limit alone) and the envelope. */
const ENQUEUE_BODY_BYTES = 256 * 1024;

/**
 * A job's body: what an enqueue may carry (command, args, ttl and timeout), plus the target list
 * at its largest: MAX_JOB_AGENTS ids of 128 characters from a set JSON needs no escape for, each
 * written `"id",` (131 bytes). ENVELOPE_BYTES covers the rest with room: 10 group names (1,310
 * bytes the same way), a description of 256 UTF-16 units written as \uXXXX escapes at worst (1,538),
 * the member names, numbers and booleans of continuous, rollout and abort (about 200).
 */
const JOB_TARGET_BYTES = MAX_JOB_AGENTS * (128 + 3);

/** A bulk change of a group's members: MAX_BULK_MEMBERS ids written `"id",` at their longest, and the envelope. */
const BULK_MEMBERS_BODY_BYTES = MAX_BULK_MEMBERS * (128 + 3) + ENVELOPE_BYTES;

export const ROUTES = {
  Health: { name: 'Health', method: 'GET', path: '/health', handler: 'health', scopes: undefined, usesStore: false, scripts: [] },
  Ready: {
    name: 'Ready',
    method: 'GET',
    path: '/ready',
    handler: 'ready',
    scopes: undefined,
    usesStore: false,
    probesStore: true,
    scripts: [],
  },
  ConsolePage: {
    name: 'ConsolePage',
    method: 'GET',
    path: '/console',
    handler: 'console-page',
    scopes: undefined,
    usesStore: false,
    scripts: [],
    console: true,
  },
  ConsoleFile: {
    name: 'ConsoleFile',
    method: 'GET',
    path: '/console/{file}',
    handler: 'console-file',
    scopes: undefined,
    usesStore: false,
    scripts: [],
    console: true,
  },
  CommandKeys: {
    name: 'CommandKeys',
    method: 'GET',
    path: '/.well-known/command-keys',
    handler: 'command-keys',
    scopes: undefined,
    usesStore: false,
    scripts: [],
    commandKeys: 'publish',
  },
  GetCommands: {
    name: 'GetCommands',
    method: 'GET',
    path: '/api/commands',
    handler: 'get-commands',
    scopes: [SCOPES.commands],
    usesStore: true,
    admitsInStore: true,
    scripts: ['fetch', 'sign-executions'],
    // A poll makes job executions and signs them.
    commandKeys: 'sign',
  },
  PostResults: {
    name: 'PostResults',
    method: 'POST',
    path: '/api/results',
    handler: 'post-results',
    scopes: [SCOPES.results],
    // A result of RESULT_MAX_BYTES fits, with room for the envelope around it.
    bodyLimit: RESULT_MAX_BYTES + ENVELOPE_BYTES,
    usesStore: true,
    admitsInStore: true,
    scripts: ['complete'],
  },
  GetConfig: {
    name: 'GetConfig',
    method: 'GET',
    path: '/api/config',
    handler: 'get-config',
    scopes: [SCOPES.commands],
    usesStore: true,
    admitsInStore: true,
    scripts: ['get-config'],
    commandKeys: 'publish',
  },
  TokenInfo: {
    name: 'TokenInfo',
    method: 'GET',
    path: '/api/token-info',
    handler: 'token-info',
    scopes: [],
    debug: true,
    usesStore: true,
    scripts: ['admit'],
  },
  WhoAmI: {
    name: 'WhoAmI',
    method: 'GET',
    path: '/api/whoami',
    handler: 'whoami',
    scopes: [],
    debug: true,
    usesStore: true,
    scripts: ['admit'],
  },
  EnqueueCommand: {
    name: 'EnqueueCommand',
    method: 'POST',
    path: '/api/agents/{agentId}/commands',
    handler: 'enqueue-command',
    scopes: [SCOPES.adminCommands],
    bodyLimit: ENQUEUE_BODY_BYTES,
    usesStore: true,
    admitsInStore: true,
    scripts: ['enqueue'],
    commandKeys: 'sign',
  },
  GetCommand: {
    name: 'GetCommand',
    method: 'GET',
    path: '/api/agents/{agentId}/commands/{commandId}',
    handler: 'get-command',
    scopes: [SCOPES.adminCommands],
    usesStore: true,
    admitsInStore: true,
    scripts: ['get-command'],
  },
  ListCommands: {
    name: 'ListCommands',
    method: 'GET',
    path: '/api/agents/{agentId}/commands',
    handler: 'list-commands',
    scopes: [SCOPES.adminCommands],
    usesStore: true,
    admitsInStore: true,
    scripts: ['list'],
  },
  CancelCommand: {
    name: 'CancelCommand',
    method: 'POST',
    path: '/api/agents/{agentId}/commands/{commandId}/cancel',
    handler: 'cancel-command',
    scopes: [SCOPES.adminCommands],
    // Optional: {"reason": at most 256 characters}.
    bodyLimit: 4 * 1024,
    usesStore: true,
    admitsInStore: true,
    scripts: ['cancel'],
  },
  PutConfig: {
    name: 'PutConfig',
    method: 'PUT',
    path: '/api/agents/{agentId}/config',
    handler: 'put-config',
    scopes: [SCOPES.adminConfig],
    bodyLimit: MAX_OVERRIDES_BYTES,
    usesStore: true,
    admitsInStore: true,
    scripts: ['put-config'],
  },
  PostRevocations: {
    name: 'PostRevocations',
    method: 'POST',
    path: '/api/revocations',
    handler: 'post-revocations',
    scopes: [SCOPES.adminRevoke],
    bodyLimit: 4 * 1024,
    usesStore: true,
    admitsInStore: true,
    scripts: ['revoke-token', 'raise-cutoff'],
  },
  PutGroupMember: {
    name: 'PutGroupMember',
    method: 'PUT',
    path: '/api/groups/{group}/agents/{agentId}',
    handler: 'put-group-member',
    scopes: [SCOPES.adminGroups],
    usesStore: true,
    admitsInStore: true,
    scripts: ['group-join'],
  },
  DeleteGroupMember: {
    name: 'DeleteGroupMember',
    method: 'DELETE',
    path: '/api/groups/{group}/agents/{agentId}',
    handler: 'delete-group-member',
    scopes: [SCOPES.adminGroups],
    usesStore: true,
    admitsInStore: true,
    scripts: ['group-leave'],
  },
  PostGroupMembers: {
    name: 'PostGroupMembers',
    method: 'POST',
    path: '/api/groups/{group}/members',
    handler: 'post-group-members',
    scopes: [SCOPES.adminGroups],
    bodyLimit: BULK_MEMBERS_BODY_BYTES,
    usesStore: true,
    admitsInStore: true,
    scripts: ['group-bulk'],
  },
  GetGroupMembers: {
    name: 'GetGroupMembers',
    method: 'GET',
    path: '/api/groups/{group}/agents',
    handler: 'get-group-members',
    scopes: [SCOPES.adminGroups],
    usesStore: true,
    admitsInStore: true,
    scripts: ['group-members'],
  },
  GetAgentGroups: {
    name: 'GetAgentGroups',
    method: 'GET',
    path: '/api/agents/{agentId}/groups',
    handler: 'get-agent-groups',
    scopes: [SCOPES.adminGroups],
    usesStore: true,
    admitsInStore: true,
    scripts: ['agent-groups'],
  },
  CreateJob: {
    name: 'CreateJob',
    method: 'POST',
    path: '/api/jobs',
    handler: 'create-job',
    scopes: [SCOPES.jobs],
    bodyLimit: ENQUEUE_BODY_BYTES + JOB_TARGET_BYTES + ENVELOPE_BYTES,
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-create', 'job-create-step', 'job-dry-run'],
    timeoutSeconds: 28,
  },
  ListJobs: {
    name: 'ListJobs',
    method: 'GET',
    path: '/api/jobs',
    handler: 'list-jobs',
    scopes: [SCOPES.jobs],
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-list'],
  },
  GetJob: {
    name: 'GetJob',
    method: 'GET',
    path: '/api/jobs/{jobId}',
    handler: 'get-job',
    scopes: [SCOPES.jobs],
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-get'],
  },
  ListJobExecutions: {
    name: 'ListJobExecutions',
    method: 'GET',
    path: '/api/jobs/{jobId}/executions',
    handler: 'list-job-executions',
    scopes: [SCOPES.jobs],
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-executions'],
  },
  GetJobExecution: {
    name: 'GetJobExecution',
    method: 'GET',
    path: '/api/jobs/{jobId}/executions/{agentId}',
    handler: 'get-job-execution',
    scopes: [SCOPES.jobs],
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-execution'],
  },
  CancelJob: {
    name: 'CancelJob',
    method: 'POST',
    path: '/api/jobs/{jobId}/cancel',
    handler: 'cancel-job',
    scopes: [SCOPES.jobs],
    // Optional: {"reason": at most 256 characters, "force": boolean}.
    bodyLimit: 4 * 1024,
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-cancel'],
  },
  PauseJob: {
    name: 'PauseJob',
    method: 'POST',
    path: '/api/jobs/{jobId}/pause',
    handler: 'pause-job',
    scopes: [SCOPES.jobs],
    // Optional: {"reason": at most 256 characters}.
    bodyLimit: 4 * 1024,
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-pause'],
  },
  ResumeJob: {
    name: 'ResumeJob',
    method: 'POST',
    path: '/api/jobs/{jobId}/resume',
    handler: 'resume-job',
    scopes: [SCOPES.jobs],
    // Optional: {"reason": at most 256 characters}.
    bodyLimit: 4 * 1024,
    usesStore: true,
    admitsInStore: true,
    scripts: ['job-pause'],
  },
} as const satisfies Record<string, Route>;

/** Every route, in the table's order. */
export const routes: readonly Route[] = Object.values(ROUTES);

/** Serves every request no route matches: 404, or 405 with Allow when the path exists. */
export const fallbackRoute = { name: 'Fallback', handler: 'fallback', scripts: [] } as const;
