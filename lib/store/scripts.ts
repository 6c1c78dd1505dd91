/**
 * The Lua scripts of the Upstash store, as typed descriptors: each names its file in
 * lib/store/lua/ (kebab-case), the pure function(s) it mirrors, its inputs and whether it locks
 * keys. The Lua itself is in the files, read the first time a script runs (lib/store/lua.ts):
 * each script file starts with its flags line and its inputs bound to named locals, exactly as its
 * descriptor says (the loader refuses one that does not), then its includes (the rules of
 * lib/store/lua/rules, each the twin of the TypeScript function of its name in
 * lib/commands/lifecycle.ts, lib/auth/revocation.ts, lib/store/ratelimit.ts,
 * lib/groups/membership.ts or lib/jobs/rules.ts, and the plumbing of lib/store/lua/include), then
 * its body. test/stores/parity.test.ts runs the scripts against those functions on random
 * histories, and the job suites run the job scripts against the memory store.
 *
 * Inputs are named: the caller passes its values by name through `inputsOf()`, so no position is
 * written twice, and a body never reaches into KEYS or ARGV itself. Every input arrives as a
 * string. Numbers that go back into Redis are passed in as the decimal strings TypeScript wrote
 * (Lua's tostring would write large numbers in exponent form); the body calls tonumber only where
 * it compares.
 *
 * Key locking (Upstash): a script marked `lockKeys` starts with `#!lua flags=allow-key-locking`
 * and then touches only the keys it declares, so Upstash locks those keys instead of the whole
 * database while it runs (test/stores/key-locking.test.ts checks every key such a script touches with
 * Redis MONITOR). Redis 7 does not know the flag: the local Upstash bridge strips it, as Upstash's
 * dialect meets Redis there (dev/). The scripts that read keys known only once they run cannot be
 * marked and run under the global lock: FETCH and LIST read the hash of every command the queue
 * or the log names (and FETCH the jobs of the agent's groups and agent-jobs), ENQUEUE and
 * JOB_CREATE with an idempotency key read what that key made (JOB_CREATE also the groups it
 * names and their group-jobs), JOB_DRY_RUN the groups it counts, JOB_LIST the job of each listing
 * entry, JOB_EXECUTIONS the execution of each target, GROUP_JOIN, GROUP_LEAVE and GROUP_BULK the
 * jobs of the group (GROUP_BULK also each agent's own keys). COMPLETE, CANCEL
 * and GET_COMMAND declare the keys of the job a command may be the execution of from the command
 * id (an execution's command id is its job id; for a plain command those keys do not exist);
 * JOB_GET, JOB_CANCEL and JOB_PAUSE declare the job's keys: these keep the flag.
 *
 * The admission gate (`gated()`): every agent and operator request runs its action inside one
 * script whose preamble (lua/gate.lua) first takes the revocation decision and counts the rate
 * limit, and only then runs the action; a refusal returns before the action has read or written
 * anything.
 */
import { assembleScript, gatedBody, KEY_LOCKING_FLAG, SCRIPT_FILES, type ScriptFile, scriptBody, scriptText } from './lua.ts';

/** For the bundling step: every script file, and the text of each as it is shipped (lua/<name>.lua beside index.mjs). */
export { assembleScript, KEY_LOCKING_FLAG, SCRIPT_FILES };

export interface LuaScript<K extends string = string, A extends string = string> {
  /** Its file, lib/store/lua/<name>.lua (a gated script: its action's). */
  readonly name: ScriptFile;
  /** The pure function(s) the script mirrors. */
  readonly mirrors: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  /** Declares every key it touches: sent with Upstash's allow-key-locking flag. */
  readonly lockKeys: boolean;
  /**
   * A write: behind the gate, its first answer is kept under the call's own id for a short while
   * (REPLY_KEEP_MS), and a retry of the same call answers it instead of running again.
   */
  readonly once: boolean;
  /** The whole script as sent to Redis: the flags line, the bindings, then the body (read from its file on first use). */
  readonly lua: string;
  /** The body alone (for composition by gated()). */
  readonly body: string;
}

interface Descriptor<K extends string, A extends string> {
  readonly name: ScriptFile;
  readonly mirrors: string;
  readonly keys: readonly K[];
  readonly args: readonly A[];
  readonly lockKeys: boolean;
  readonly once: boolean;
}

/** A script whose text is made on first use by `make` (its body) and kept. */
function lazyScript<K extends string, A extends string>(descriptor: Descriptor<K, A>, make: () => string): LuaScript<K, A> {
  let made: { body: string; lua: string } | undefined;
  const text = () => {
    if (made === undefined) {
      const body = make();
      made = { body, lua: scriptText(descriptor.keys, descriptor.args, descriptor.lockKeys, body) };
    }
    return made;
  };
  return {
    ...descriptor,
    get lua() {
      return text().lua;
    },
    get body() {
      return text().body;
    },
  };
}

function script<const K extends string, const A extends string>(descriptor: Descriptor<K, A>): LuaScript<K, A> {
  return lazyScript(descriptor, () => scriptBody(descriptor));
}

/** KEYS and ARGV in the script's order, from values given by name. */
export function inputsOf<K extends string, A extends string>(
  lua: LuaScript<K, A>,
  keys: Readonly<Record<K, string>>,
  args: Readonly<Record<A, string | number>>,
): { keys: string[]; args: string[] } {
  return {
    keys: lua.keys.map((name) => keys[name]),
    args: lua.args.map((name) => String(args[name])),
  };
}

/**
 * The gate's inputs. Keys: the subject's cut-off, the jti's denylist entry and allowlist
 * registration, this and the previous rate-limit window's counters (always declared, read only
 * where the mode and settings need them). Args: `mode` is 'denylist' or 'allowlist'; `hasJti`
 * and `hasIat` are '1' or '0'; `limitRequests` is '0' when the rate limit is off (the window's
 * index, lib/store/ratelimit.ts windowOf, names the two counters' keys; the Lua's slidingWindow
 * finds the same index from `limitNow` and `limitWindowMs`, as the TypeScript one does, so it is
 * not passed); `limitExpireAt` is when this window's counter may
 * go (the end of the next window, epoch ms); `limitNow` the caller's clock (epoch ms).
 *
 * Exactly once: `gateCall` is the store call's own id (a random UUID made before the client sends
 * it, so the client's retry carries the same one), '' for a script that is no write (`once`
 * false); `gateReplyKey` is where a write's reply is kept (keys.ts reply), for `gateReplyMs`.
 *
 * DPoP: `gateProofKey` is where the request's proof is remembered (keys.ts dpopProof), its value
 * `gateProofRequest`, the request's own id ('' when the token is not DPoP-bound: nothing is read
 * or written), until `gateProofUntil` (epoch ms, proofKeepUntil in lib/auth/dpop.ts).
 */
export const GATE_KEYS = [
  'gateCutoffKey',
  'gateRevokedKey',
  'gateActiveKey',
  'gateLimitKey',
  'gateLimitPreviousKey',
  'gateReplyKey',
  'gateProofKey',
] as const;
export const GATE_ARGS = [
  'gateMode',
  'gateHasJti',
  'gateIat',
  'gateHasIat',
  'limitRequests',
  'limitWindowMs',
  'limitExpireAt',
  'limitNow',
  'gateCall',
  'gateReplyMs',
  'gateProofRequest',
  'gateProofUntil',
] as const;
export type GateKey = (typeof GATE_KEYS)[number];
export type GateArg = (typeof GATE_ARGS)[number];

/**
 * The preamble (lua/gate.lua), not a script of its own: isRevoked (lib/auth/revocation.ts), then
 * proofReplayed (lib/auth/dpop.ts), then slidingWindow (lib/store/ratelimit.ts), counted under
 * pcall, then the proof remembered. Its file declares the gate's inputs
 * as the first of every gated script's.
 */
export const GATE = script({
  name: 'gate',
  mirrors: 'isRevoked (lib/auth/revocation.ts), proofReplayed (lib/auth/dpop.ts) and slidingWindow (lib/store/ratelimit.ts)',
  keys: GATE_KEYS,
  args: GATE_ARGS,
  lockKeys: true,
  once: false,
});

/**
 * The action run behind the gate, one script: returns {'revoked'}, {'rate_limited', reset} or
 * {'ok', limitNote, <what the action returns>}. Declares the gate's keys and the action's, so
 * it locks keys exactly when the action does.
 */
export function gated<K extends string, A extends string>(action: LuaScript<K, A>): LuaScript<K | GateKey, A | GateArg> {
  return lazyScript(
    {
      name: action.name,
      mirrors: `the gate (isRevoked, proofReplayed, slidingWindow), then ${action.mirrors}`,
      keys: [...GATE_KEYS, ...action.keys],
      args: [...GATE_ARGS, ...action.args],
      lockKeys: action.lockKeys,
      once: action.once,
    },
    () => gatedBody(GATE.body, action.body),
  );
}

/** The gate alone, for requests whose handler touches no store (whoami, token-info). */
export const ADMIT = script({
  name: 'admit',
  mirrors: 'storage only: the gate (isRevoked, slidingWindow) is all it runs',
  keys: [],
  args: [],
  once: false,
  lockKeys: true,
});

/** lua/enqueue.lua: the command's hash at the end of its agent's queue and log, after an idempotency key. */
export const ENQUEUE = script({
  name: 'enqueue',
  mirrors: 'created, idempotency and idempotentUntil; expiry at goneAt (lib/commands/lifecycle.ts)',
  keys: ['commandKey', 'queueKey', 'logKey', 'seqKey', 'idemKey'],
  args: [
    'commandPrefix',
    'commandId',
    'agentId',
    'command',
    'args',
    'createdAt',
    'expiresAt',
    'timeoutMs',
    'signature',
    'keepUntil',
    'useKey',
    'fingerprint',
    'idemUntil',
    'retentionMs',
  ],
  // With an idempotency key, reads `commandPrefix .. <the key's command>`: a key it cannot declare.
  once: true,
  lockKeys: false,
});

/** lua/fetch.lua: the agent's queue oldest first, then the executions its jobs let it have. */
export const FETCH = script({
  name: 'fetch',
  mirrors:
    'isDeliverable, delivered and isGone (lib/commands/lifecycle.ts); settledExecution, abortAt, mayDeliver, executionRecord and retally (lib/jobs/rules.ts)',
  keys: ['queueKey', 'logKey', 'seqKey', 'agentGroupsKey', 'agentJobsKey', 'jobSeqKey', 'agentMetKey'],
  args: ['keyPrefix', 'commandPrefix', 'agentId', 'limit', 'now', 'retentionMs', 'metKeepMs'],
  // Reads `commandPrefix .. id` for each id in the queue, and the keys of the jobs of the agent's
  // groups: keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/**
 * lua/sign-executions.lua: after a poll, the signatures of the job executions it handed out
 * unsigned, each set only when the execution has none yet and its attempt is the one signed.
 */
export const SIGN_EXECUTIONS = script({
  name: 'sign-executions',
  mirrors: 'storage only: signExecutions of the in-memory store (set when absent and the attempt is unchanged)',
  keys: [],
  args: ['commandPrefix', 'entriesJson'],
  // Reads `commandPrefix .. id` for each execution signed: keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/** lua/complete.lua: a progress update or a final result, as applyReport decides. */
export const COMPLETE = script({
  name: 'complete',
  mirrors:
    'applyReport (lib/commands/lifecycle.ts): isGone, staleAttempt, then progress or finish (isSameResult, statusOf); abortAt, settledExecution, timeoutRetried, failureRetried, retryCanceled and retally (lib/jobs/rules.ts)',
  keys: ['commandKey', 'queueKey', 'jobKey', 'jobDeliveredKey', 'jobInProgressKey', 'historyKey', 'jobRetryKey'],
  args: [
    'commandId',
    'agentId',
    'status',
    'hasResult',
    'resultJson',
    'hasDetails',
    'statusDetailsJson',
    'stepTimeoutMs',
    'at',
    'retentionMs',
    'attempt',
  ],
  once: true,
  lockKeys: true,
});

/** lua/cancel.lua: an operator's cancel of one command. */
export const CANCEL = script({
  name: 'cancel',
  mirrors:
    'cancel (lib/commands/lifecycle.ts): isGone, then statusOf and isTerminal; abortAt, settledExecution and retally (lib/jobs/rules.ts)',
  keys: ['commandKey', 'queueKey', 'jobKey', 'jobDeliveredKey', 'jobInProgressKey', 'historyKey', 'jobRetryKey'],
  args: ['commandId', 'agentId', 'hasReason', 'reason', 'at', 'retentionMs'],
  once: true,
  lockKeys: true,
});

/** lua/list.lua: a page of the agent's log for operators. */
export const LIST = script({
  name: 'list',
  mirrors: 'listPage, budgetedPage, statusOf and isGone (lib/commands/lifecycle.ts); settledExecution (lib/jobs/rules.ts)',
  keys: ['logKey', 'queueKey'],
  args: ['keyPrefix', 'commandPrefix', 'after', 'limit', 'statuses', 'now', 'retentionMs', 'budget', 'pruneBudget'],
  // Reads `commandPrefix .. id` for each id in the log (and the job of each execution): keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/** lua/raise-cutoff.lua: revoke a subject, the cut-off only ever raised. */
export const RAISE_CUTOFF = script({
  name: 'raise-cutoff',
  mirrors: 'raisedCutoff (lib/auth/revocation.ts)',
  keys: ['cutoffKey'],
  args: ['cutoff'],
  once: true,
  lockKeys: true,
});

/** lua/group-join.lua: join a group, and the continuous jobs of the group take the agent as a target. */
export const GROUP_JOIN = script({
  name: 'group-join',
  mirrors: 'joinOutcome and nextPosition (lib/groups/membership.ts); abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['groupKey', 'seqKey', 'agentGroupsKey', 'groupJobsKey', 'groupBuildsKey', 'agentMetKey'],
  args: ['keyPrefix', 'group', 'agentId', 'maxGroups', 'now'],
  // Reads the keys of each job group-jobs and group-builds name: keys it cannot declare (see the top).
  once: true,
  lockKeys: false,
});

/** lua/group-leave.lua: leave a group; the jobs that still have the agent as a target keep it. */
export const GROUP_LEAVE = script({
  name: 'group-leave',
  mirrors: 'leaveOutcome (lib/groups/membership.ts)',
  keys: ['groupKey', 'agentGroupsKey', 'groupJobsKey', 'agentJobsKey', 'groupBuildsKey', 'agentMetKey'],
  args: ['keyPrefix', 'group', 'agentId', 'retentionMs'],
  // Reads the keys of each job group-jobs and group-builds name: keys it cannot declare (see the top).
  once: true,
  lockKeys: false,
});

/** lua/group-bulk.lua: many agents out of and into one group, each as GROUP_LEAVE and GROUP_JOIN. */
export const GROUP_BULK = script({
  name: 'group-bulk',
  mirrors: 'leaveOutcome, joinOutcome and nextPosition (lib/groups/membership.ts); abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['groupKey', 'seqKey', 'groupJobsKey', 'groupBuildsKey'],
  args: ['keyPrefix', 'group', 'addJson', 'removeJson', 'maxGroups', 'now', 'retentionMs'],
  // Reads each agent's groups, agent-met and agent-jobs, and the keys of each job group-jobs and
  // group-builds name: keys it cannot declare (see the top).
  once: true,
  lockKeys: false,
});

/** lua/group-members.lua: a page of a group's members with their positions. */
export const GROUP_MEMBERS = script({
  name: 'group-members',
  mirrors: 'storage only: members of the in-memory store; the page is cut by memberPage (lib/groups/membership.ts)',
  keys: ['groupKey'],
  args: ['after', 'count'],
  once: false,
  lockKeys: true,
});

/** lua/agent-groups.lua: the groups an agent is in. */
export const AGENT_GROUPS = script({
  name: 'agent-groups',
  mirrors: 'storage only: groupsOf of the in-memory store; sorted by sortedGroups (lib/groups/membership.ts)',
  keys: ['agentGroupsKey'],
  args: [],
  once: false,
  lockKeys: true,
});

/** lua/revoke-token.lua: revoke one token (its denylist entry). */
export const REVOKE_TOKEN = script({
  name: 'revoke-token',
  mirrors: 'storage only: revokeToken of the in-memory store; the entry is live until its EXAT (isLive)',
  keys: ['revokedKey'],
  args: ['exat'],
  once: true,
  lockKeys: true,
});

/** lua/get-command.lua: one command's hash and history for the operator's read, an execution settled first. */
export const GET_COMMAND = script({
  name: 'get-command',
  mirrors: 'settledExecution, timeoutRetried and retryCanceled (lib/jobs/rules.ts); otherwise storage only: get of the in-memory store',
  keys: ['commandKey', 'jobKey', 'historyKey', 'jobDeliveredKey', 'jobInProgressKey', 'jobRetryKey'],
  args: ['commandId', 'retentionMs', 'now'],
  once: false,
  lockKeys: true,
});

/** lua/get-config.lua: the agent's config overrides. */
export const GET_CONFIG = script({
  name: 'get-config',
  mirrors: 'storage only: getConfig of the in-memory store',
  keys: ['configKey'],
  args: [],
  once: false,
  lockKeys: true,
});

/** lua/put-config.lua: replaces the agent's config overrides. */
export const PUT_CONFIG = script({
  name: 'put-config',
  mirrors: 'storage only: putConfig of the in-memory store',
  keys: ['configKey'],
  args: ['overrides'],
  once: true,
  lockKeys: true,
});

/**
 * lua/job-create.lua: after an idempotency key and the target limits, a job, its targets and its
 * indexes when one script's share of members covers them; otherwise the build of the job begins
 * (JOB_CREATE_STEP goes on with it), or an unfinished one under the same key is resumed.
 */
export const JOB_CREATE = script({
  name: 'job-create',
  mirrors: 'targetsOutcome and createdJob (lib/jobs/rules.ts); idempotency and idempotentUntil (lib/commands/lifecycle.ts)',
  keys: ['jobKey', 'targetsKey', 'jobsKey', 'jobSeqKey', 'idemKey', 'buildKey', 'leaversKey'],
  args: [
    'keyPrefix',
    'jobId',
    'command',
    'args',
    'targets',
    'createdAt',
    'expiresAt',
    'timeoutMs',
    'continuous',
    'specFields',
    'hasDescription',
    'description',
    'keepUntil',
    'useKey',
    'fingerprint',
    'idemUntil',
    'retentionMs',
    'maxTargets',
    'stepMembers',
    'buildUntil',
  ],
  // Reads the groups named in `targets` and writes their group-jobs (or group-builds), and with an
  // idempotency key reads the job or the build that key made: keys it cannot declare (see the top).
  once: true,
  lockKeys: false,
});

/**
 * lua/job-create-step.lua: one bounded step of a job's build that JOB_CREATE began: members
 * copied, then the job written, then the agents that left meanwhile put in agent-jobs. Never
 * behind the gate: the store runs it only inside a create the gate admitted (the steps continue
 * that request and are not counted again); exactly once by its step number and call id.
 */
export const JOB_CREATE_STEP = script({
  name: 'job-create-step',
  mirrors: 'createdJob (lib/jobs/rules.ts)',
  keys: ['jobKey', 'targetsKey', 'jobsKey', 'jobSeqKey', 'buildKey', 'leaversKey'],
  args: ['keyPrefix', 'step', 'stepCall', 'stepMembers'],
  // Reads the groups of the build and writes their group-jobs, group-builds and the leavers'
  // agent-jobs: keys it cannot declare (see the top).
  once: true,
  lockKeys: false,
});

/** lua/job-dry-run.lua: a create's targets counted as JOB_CREATE counts them, written nowhere. */
export const JOB_DRY_RUN = script({
  name: 'job-dry-run',
  mirrors: 'targetsOutcome (lib/jobs/rules.ts)',
  keys: [],
  args: ['keyPrefix', 'targets', 'continuous', 'maxTargets', 'exactTargets'],
  // Reads the groups named in `targets`: keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/** lua/job-get.lua: the job at `now`, abortAt written first. */
export const JOB_GET = script({
  name: 'job-get',
  mirrors: 'abortAt and countsAt (lib/jobs/rules.ts): the read of jobSnapshot',
  keys: ['jobKey', 'jobDeliveredKey', 'jobInProgressKey', 'jobRetryKey'],
  args: ['now', 'retentionMs'],
  once: false,
  lockKeys: true,
});

/** lua/job-list.lua: a page of jobs newest first, of the statuses asked for. */
export const JOB_LIST = script({
  name: 'job-list',
  mirrors: 'abortAt and jobStatusAt (lib/jobs/rules.ts); budgetedPage (lib/commands/lifecycle.ts)',
  keys: ['jobsKey'],
  args: ['keyPrefix', 'before', 'limit', 'statuses', 'now', 'retentionMs', 'budget', 'pruneBudget'],
  // Reads the keys of each job the listing names: keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/** lua/job-executions.lua: a page of a job's targets with the status of each. */
export const JOB_EXECUTIONS = script({
  name: 'job-executions',
  mirrors:
    'abortAt, settledExecution and undeliveredStatus (lib/jobs/rules.ts); budgetedPage, statusOf and isGone (lib/commands/lifecycle.ts)',
  keys: ['jobKey', 'targetsKey', 'execsKey', 'jobDeliveredKey', 'jobInProgressKey', 'jobRetryKey'],
  args: ['keyPrefix', 'jobId', 'after', 'limit', 'statuses', 'now', 'retentionMs', 'budget'],
  // Reads cmd:<agent>:<job> for each target with an execution: keys it cannot declare (see the top).
  once: false,
  lockKeys: false,
});

/** lua/job-execution.lua: one target of a job with its execution's history, as JOB_EXECUTIONS shows each. */
export const JOB_EXECUTION = script({
  name: 'job-execution',
  mirrors: 'abortAt, settledExecution and undeliveredStatus (lib/jobs/rules.ts); statusOf and isGone (lib/commands/lifecycle.ts)',
  keys: ['jobKey', 'targetsKey', 'execsKey', 'jobDeliveredKey', 'jobInProgressKey', 'commandKey', 'queueKey', 'historyKey', 'jobRetryKey'],
  args: ['jobId', 'agentId', 'now', 'retentionMs'],
  once: false,
  lockKeys: true,
});

/** lua/job-cancel.lua: an operator's cancel of a job. */
export const JOB_CANCEL = script({
  name: 'job-cancel',
  mirrors: 'endInstant, cancelJob, abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['jobKey', 'jobDeliveredKey', 'jobInProgressKey', 'jobRetryKey'],
  args: ['hasReason', 'reason', 'force', 'at', 'retentionMs'],
  once: true,
  lockKeys: true,
});

/**
 * lua/push-register.lua: a push connection registered for its agent (lib/store/connections.ts),
 * the oldest of a full set evicted. Behind the gate of the $connect request's token.
 */
export const PUSH_REGISTER = script({
  name: 'push-register',
  mirrors: 'storage only: register of the in-memory connection registry (oldestConnection, lib/store/connections.ts)',
  keys: ['agentKey', 'connKey', 'jtiKey'],
  args: ['connectionId', 'agentId', 'hasJti', 'entry', 'connectedAt', 'expiresAt', 'maxConnections'],
  once: true,
  lockKeys: true,
});

/** lua/push-remove.lua: a push connection forgotten ($disconnect knows its id alone). */
export const PUSH_REMOVE = script({
  name: 'push-remove',
  mirrors: 'storage only: remove of the in-memory connection registry',
  keys: ['connKey'],
  args: ['keyPrefix', 'connectionId'],
  // Idempotent by itself; once, so that a gated run would keep its reply too.
  once: true,
  // Writes the hash of the agent it reads from ws-conn: a key it cannot declare.
  lockKeys: false,
});

/** lua/push-connections.lua: the live push connections of up to 250 agents. */
export const PUSH_CONNECTIONS = script({
  name: 'push-connections',
  mirrors: 'storage only: ofAgents of the in-memory connection registry',
  keys: [],
  args: ['keyPrefix', 'agents', 'now'],
  once: false,
  // Reads the hash of each agent it is given: keys built while it runs.
  lockKeys: false,
});

/** lua/push-jti.lua: the live push connections opened with one token. */
export const PUSH_JTI = script({
  name: 'push-jti',
  mirrors: 'storage only: byJti of the in-memory connection registry',
  keys: ['jtiKey'],
  args: ['keyPrefix', 'jti', 'now'],
  once: false,
  // Reads the hash of the agent ws-jti names.
  lockKeys: false,
});

/** lua/job-pause.lua: an operator's pause or resume of a job. */
export const JOB_PAUSE = script({
  name: 'job-pause',
  mirrors: 'endInstant, pauseJob, abortAt and jobStatusAt (lib/jobs/rules.ts)',
  keys: ['jobKey', 'jobDeliveredKey', 'jobInProgressKey', 'jobRetryKey'],
  args: ['paused', 'hasReason', 'reason', 'at', 'retentionMs'],
  once: true,
  lockKeys: true,
});
