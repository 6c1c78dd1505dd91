/**
 * The fields of the Redis store's hashes, named once. The Lua scripts read them through the
 * generated include `generated/fields` (lib/store/lua.ts makes a Lua table of each read list
 * below, so a script does `HMGET key unpack(COMMAND_RULE_FIELDS)` and reads the values by name);
 * every field a script writes or reads by its name is one of COMMAND_FIELDS, JOB_FIELDS or the
 * idempotency lists (test/stores/store-keys.test.ts checks the Lua files); the decoders of
 * lib/store/upstash.ts take their field names from the same types.
 */
import type { CommandRecord } from '../commands/model.ts';

/** A command's hash (`<p>cmd:<agent>:<commandId>`): the fields of CommandRecord, `args` as its JSON text. */
export const COMMAND_FIELDS = [
  'commandId',
  'agentId',
  'command',
  'args',
  'createdAt',
  'expiresAt',
  'timeoutMs',
  'jobId',
  'deliveredAt',
  'deliveryCount',
  'updatedAt',
  'startedAt',
  'deadlineAt',
  'statusDetailsJson',
  'resultStatus',
  'resultJson',
  'cancelReason',
  'completedAt',
  'attempt',
  'signature',
] as const satisfies readonly (keyof CommandRecord)[];
export type CommandField = (typeof COMMAND_FIELDS)[number];

/** Every field of CommandRecord has its place in the hash: a field added to the record without one does not compile. */
const everyRecordField: [Exclude<keyof CommandRecord, CommandField>] extends [never] ? true : never = true;
void everyRecordField;

/**
 * A job's hash (`<p>job:<job>`): its spec (args and targets as JSON text, continuous 1/0, the
 * rollout settings flat (an exponential rate's factor in tenths), the abort criteria as JSON; `abortPercent abortMin`: the one criterion of
 * type all of a job written before criteria, read only), seq, targetSeq (the next continuous joiner's score),
 * initialTargets, the tally (JobTally), its end (JobEnd: endForce 1/0, endFinal as JSON) and its
 * last pause or resume (JobPause: pauseState 1 paused / 0 resumed, pauseAt, pauseReason).
 */
export const JOB_FIELDS = [
  'jobId',
  'command',
  'args',
  'targetsJson',
  'createdAt',
  'expiresAt',
  'timeoutMs',
  'continuous',
  'rolloutMax',
  'rolloutBase',
  'rolloutFactor',
  'rolloutAfter',
  'rolloutAfterCount',
  'abortPercent',
  'abortMin',
  'abortCriteria',
  'scheduleStart',
  'scheduleEnd',
  'scheduleEndBehavior',
  'retryCriteria',
  'createdBy',
  'description',
  'seq',
  'targetSeq',
  'initialTargets',
  'targets',
  'materialized',
  'delivered',
  'inProgress',
  'completed',
  'failed',
  'rejected',
  'canceled',
  'retrying',
  'lastEndAt',
  'updatedAt',
  'endStatus',
  'endAt',
  'endReason',
  'endForce',
  'endUndelivered',
  'endFinal',
  'pauseState',
  'pauseAt',
  'pauseReason',
] as const;
export type JobField = (typeof JOB_FIELDS)[number];

/** An Idempotency-Key's hash for a command (`<p>idem:...`) and for a job (`<p>job-idem:...`). */
export const COMMAND_IDEMPOTENCY_FIELDS = ['fingerprint', 'commandId', 'until'] as const;
export const JOB_IDEMPOTENCY_FIELDS = ['fingerprint', 'jobId', 'until'] as const;

/**
 * A job being created over several scripts (`<p>job-build:<job>`, docs/jobs.md): the fields of
 * its job hash to be (JOB_FIELDS), and these, which the job hash never gets: where the build is
 * (`buildState` building, committed once the job is written, done once its leavers are indexed, `buildStep` steps done, `buildCall` the last step's call
 * id, `buildGroup` and `buildCursor` the group being copied and the last join position copied from
 * it, `buildSnaps` each group's snapshot position as JSON, `buildTargetSeq` continuous joiners
 * meanwhile) and its keys' ends (`buildUntil`, `buildKeep` the job's own).
 */
export const JOB_BUILD_FIELDS = [
  'buildState',
  'buildStep',
  'buildCall',
  'buildGroup',
  'buildCursor',
  'buildSnaps',
  'buildTargetSeq',
  'buildUntil',
  'buildKeep',
] as const;
/**
 * What a poll's last full look at the agent's jobs met (`<p>agent-met:<agent>`, lib/store/lua/fetch.lua).
 * `lookSeq`, not the `jobSeq` of an entry that also kept the agent's groups (written before a join
 * or leave deleted agent-met): such an entry has no `lookSeq`, so the next poll takes a full look.
 */
export const AGENT_MET_FIELDS = ['lookSeq', 'wait'] as const;

/**
 * What sign-executions.lua reads of a job execution before it stores a signature: the job, the
 * attempt (absent: the first; the counter of an execution's retries) and a signature already there.
 */
export const EXECUTION_SIGNING_FIELDS = ['jobId', 'attempt', 'signature'] as const;

// The lists the scripts read (HMGET) or count (HINCRBY) by, each a part of one list above.

/** What the lifecycle rules read of a command (lib/store/lua/include/ruleFields.lua). */
export const COMMAND_RULE_FIELDS = [
  'expiresAt',
  'deadlineAt',
  'completedAt',
  'resultStatus',
  'startedAt',
  'deliveredAt',
  'timeoutMs',
  'jobId',
  'createdAt',
  'updatedAt',
  'attempt',
] as const satisfies readonly CommandField[];

/** What the job rules read of a job: the parts of JobState they look at (include/jobState.lua). */
export const JOB_STATE_FIELDS = [
  'expiresAt',
  'continuous',
  'abortPercent',
  'abortMin',
  'abortCriteria',
  'targets',
  'materialized',
  'delivered',
  'inProgress',
  'completed',
  'failed',
  'rejected',
  'canceled',
  'updatedAt',
  'lastEndAt',
  'rolloutMax',
  'endStatus',
  'endAt',
  'endReason',
  'endForce',
  'endUndelivered',
  'endFinal',
  'pauseState',
  'pauseAt',
  'pauseReason',
  'rolloutBase',
  'rolloutFactor',
  'rolloutAfter',
  'rolloutAfterCount',
  'scheduleStart',
  'scheduleEnd',
  'scheduleEndBehavior',
  'retryCriteria',
  'retrying',
] as const satisfies readonly JobField[];

/**
 * The spec's optional settings, written at create as field/value pairs (JOB_CREATE's
 * `specFields`): each present only when the job has that setting.
 */
export const JOB_SPEC_OPTION_FIELDS = [
  'rolloutMax',
  'rolloutBase',
  'rolloutFactor',
  'rolloutAfter',
  'rolloutAfterCount',
  'abortCriteria',
  'scheduleStart',
  'scheduleEnd',
  'scheduleEndBehavior',
  'retryCriteria',
  'createdBy',
] as const satisfies readonly JobField[];

/** A job's end alone, for settledExecution (include/jobEndOf.lua). */
export const JOB_END_FIELDS = ['endStatus', 'endAt', 'endReason', 'endForce'] as const satisfies readonly JobField[];

/** What an execution takes from its job's spec when a poll makes it (executionRecord). */
export const EXECUTION_SPEC_FIELDS = ['command', 'args', 'createdAt', 'timeoutMs'] as const satisfies readonly JobField[];

/** The tally's counters one change of an execution moves (retally), each by HINCRBY (include/writeRetally.lua). */
export const JOB_COUNTER_FIELDS = [
  'delivered',
  'inProgress',
  'completed',
  'failed',
  'rejected',
  'canceled',
  'retrying',
  'materialized',
] as const satisfies readonly JobField[];

/**
 * What an executions listing reads of a command (include/listedCommand.lua): every field but the
 * result, of which it reads the start alone (RESULT_EXCERPT_BYTES) when it shows one.
 */
export const COMMAND_LISTED_FIELDS = COMMAND_FIELDS.filter(
  (field): field is Exclude<CommandField, 'resultJson'> => field !== 'resultJson',
) as readonly Exclude<CommandField, 'resultJson'>[];

/** The lists the Lua reads, by the name it knows them by. */
export const LUA_FIELD_LISTS = {
  COMMAND_RULE_FIELDS,
  COMMAND_LISTED_FIELDS,
  JOB_STATE_FIELDS,
  JOB_END_FIELDS,
  EXECUTION_SPEC_FIELDS,
  JOB_COUNTER_FIELDS,
  COMMAND_IDEMPOTENCY_FIELDS,
  JOB_IDEMPOTENCY_FIELDS,
  JOB_BUILD_FIELDS,
  AGENT_MET_FIELDS,
  EXECUTION_SIGNING_FIELDS,
} as const;

/** Every field name a script may write or read by name, of any hash. */
export const HASH_FIELDS: ReadonlySet<string> = new Set<string>([
  ...COMMAND_FIELDS,
  ...JOB_FIELDS,
  ...COMMAND_IDEMPOTENCY_FIELDS,
  ...JOB_IDEMPOTENCY_FIELDS,
  ...JOB_BUILD_FIELDS,
  ...AGENT_MET_FIELDS,
  ...EXECUTION_SIGNING_FIELDS,
]);
