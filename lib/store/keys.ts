/**
 * Every Redis key the service writes: KEY_LAYOUT is the one record of the layout (pattern, type,
 * meaning, expiry), and redisKeys() builds each key of it. test/docs/keys.test.ts checks that every
 * entry has its builder and every builder makes its entry's pattern; the key table of
 * docs/architecture.md is generated from KEY_LAYOUT (`npx node dev/docs.ts`). The scripts that meet
 * keys while they run (a job's, a group's, an agent's) build them in Lua from `prefix` with the same
 * keyPart; test/stores/jobs-redis.test.ts checks that what they write is what these builders name.
 */

/** `%` → `%25` and `:` → `%3A`: unambiguous, never throws (encodeURIComponent does on lone surrogates). */
export function keyPart(id: string): string {
  return id.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

/**
 * The key builders. Ids that a client chooses (agent, group, sub, jti, idempotency key) and job
 * ids go through keyPart; a command id, a window number and a deadline phase are made by the
 * service and written as they are.
 */
export interface RedisKeys {
  revokedJti(jti: string): string;
  revokedSub(sub: string): string;
  activeJti(jti: string): string;
  command(agentId: string, commandId: string): string;
  history(agentId: string, commandId: string): string;
  /** What `command` puts before the command id (the fetch script appends the ids it finds). */
  commandPrefix(agentId: string): string;
  queue(agentId: string): string;
  log(agentId: string): string;
  seq(agentId: string): string;
  idempotency(sub: string, agentId: string, key: string): string;
  config(agentId: string): string;
  group(group: string): string;
  groupSeq(group: string): string;
  agentGroups(agentId: string): string;
  /** `window` as lib/store/ratelimit.ts windowOf gives it. */
  rateLimit(sub: string, window: number): string;
  /** `callId`: the id of one write's store call (a UUID the store makes). */
  reply(callId: string): string;
  dpopProof(proofId: string): string;
  job(jobId: string): string;
  jobTargets(jobId: string): string;
  jobExecs(jobId: string): string;
  jobRollout(jobId: string): string;
  jobDeadlines(jobId: string, phase: 'delivered' | 'in_progress' | 'retry'): string;
  jobs(): string;
  jobSeq(): string;
  groupJobs(group: string): string;
  agentJobs(agentId: string): string;
  agentMet(agentId: string): string;
  jobIdempotency(sub: string, key: string): string;
  jobBuild(jobId: string): string;
  jobLeavers(jobId: string): string;
  groupBuilds(group: string): string;
  pushAgent(agentId: string): string;
  pushConnection(connectionId: string): string;
  pushJti(jti: string): string;
  /** `<p>`: what every key starts with (the Lua key builder takes it). */
  readonly prefix: string;
}

/** The builders that make one key of the layout each (commandPrefix and prefix are parts of keys). */
export type KeyName = Exclude<keyof RedisKeys, 'commandPrefix' | 'prefix'>;

export interface KeyEntry {
  /** The builder of redisKeys() that makes it. */
  readonly name: KeyName;
  /**
   * The key: `<p>` is REDIS_KEY_PREFIX; every other `<...>` is one argument of the builder, in
   * order, escaped by keyPart unless it is one of VERBATIM_PARTS.
   */
  readonly pattern: string;
  readonly type: 'string' | 'hash' | 'set' | 'sorted set' | 'list';
  /** What it holds and why. */
  readonly meaning: string;
  /** When Redis drops it. */
  readonly expiry: string;
}

/** The parts of a key the service makes itself, written as they are (no keyPart). */
export const VERBATIM_PARTS: readonly string[] = ['commandId', 'window', 'phase'];

/** Kept as long as the job: every key of a job expires with it. */
const AS_THE_JOB = 'as the job';

/** The key layout, one entry per key, in the order the docs show them. */
export const KEY_LAYOUT: readonly KeyEntry[] = [
  {
    name: 'revokedJti',
    pattern: '<p>revoked:jti:<jti>',
    type: 'string',
    meaning: '`1`: a revoked token (denylist)',
    expiry: "`EXAT` the token's `exp` + clock leeway",
  },
  {
    name: 'revokedSub',
    pattern: '<p>revoked:sub:<sub>',
    type: 'string',
    meaning:
      "the subject's cut-off, epoch seconds: every token of `<sub>` with `iat` at or before it (or without `iat`) is revoked; only ever raised",
    expiry:
      "none: the verifier puts no upper bound on a token's lifetime, so any expiry could bring a revoked token back; one small key per subject an operator revoked, to delete by hand once all that subject's older tokens have expired",
  },
  {
    name: 'activeJti',
    pattern: '<p>active:jti:<jti>',
    type: 'string',
    meaning: '`1`: allowlist mode only, the token is accepted while this exists; written by the auth server (`registerToken` here)',
    expiry: "the token's `exp`",
  },
  {
    name: 'command',
    pattern: '<p>cmd:<agent>:<commandId>',
    type: 'hash',
    meaning:
      'one command: `commandId agentId command args createdAt expiresAt timeoutMs jobId` (`args` JSON kept byte for byte; times in epoch ms; ' +
      "`jobId` on a job's execution, whose `commandId` is the job id) + `deliveredAt deliveryCount updatedAt startedAt deadlineAt " +
      'statusDetailsJson resultStatus resultJson cancelReason completedAt` (`resultStatus`: `completed`, `failed`, `rejected` or `canceled`; ' +
      '`resultJson` kept byte for byte)',
    expiry:
      '`PEXPIREAT` its end (`goneAt`): the earlier of `expiresAt` and `deadlineAt`, + retention; once a result or cancel is written, `completedAt` + retention (`RESULT_RETENTION_SECONDS`)',
  },
  {
    name: 'history',
    pattern: '<p>history:<agent>:<commandId>',
    type: 'list',
    meaning:
      "the command's history, oldest first: one JSON entry per written change of its status (`status at attempt` + `statusDetailsJson` of a progress update, `reason` of a cancel); `RPUSH` then `LTRIM` to the 51 most recent (50 are shown; a 51st says older ones were dropped); timed_out, expired and a forced job cancel's settle are not written, the reads add them",
    expiry:
      "the command's at each append (`PTTL` of its hash, `PEXPIRE`); a forced job cancel that settles the command later leaves it the expiry of its last append (at most the command's `expiresAt` + retention)",
  },
  {
    name: 'queue',
    pattern: '<p>queue:<agent>',
    type: 'sorted set',
    meaning:
      "the agent's commands not yet terminal (member = command id), score = enqueue sequence (1, 2, 3, ...): exact enqueue order whatever the clocks of the Lambda instances say; a command leaves it when a result or cancel is written, or when a fetch meets it timed out or expired",
    expiry: '`PEXPIREAT` the latest end of its commands',
  },
  {
    name: 'log',
    pattern: '<p>log:<agent>',
    type: 'sorted set',
    meaning:
      "every command of the agent still kept, same scores: the operators' list walks it; an entry leaves when the list meets its command gone",
    expiry: 'as the queue',
  },
  {
    name: 'seq',
    pattern: '<p>seq:<agent>',
    type: 'string',
    meaning: "the agent's last enqueue sequence (`INCR`)",
    expiry:
      "`PEXPIREAT` the log's expiry + retention (set on each append, only ever later): it outlives the log, so a list cursor stays good for a retention period after the agent's last command is gone; after that the agent's sequences start again at 1",
  },
  {
    name: 'idempotency',
    pattern: '<p>idem:<sub>:<agent>:<key>',
    type: 'hash',
    meaning: "an operator's `Idempotency-Key` for an agent: `fingerprint commandId until`",
    expiry: '`PEXPIREAT` `until` (first use + `RESULT_RETENTION_SECONDS`)',
  },
  {
    name: 'config',
    pattern: '<p>config:<agent>',
    type: 'string',
    meaning: "the agent's config overrides (JSON)",
    expiry: 'none',
  },
  {
    name: 'group',
    pattern: '<p>group:<group>',
    type: 'sorted set',
    meaning: "the group's members (member = agent id), score = join position from `group-seq`: join order, stable for cursors",
    expiry: 'none',
  },
  {
    name: 'groupSeq',
    pattern: '<p>group-seq:<group>',
    type: 'string',
    meaning: 'the last join position the group gave (`INCR`); kept when the group empties, so that no position is given twice',
    expiry:
      'none: one small string per group an operator has ever filled (operators name groups, agents do not); without it a later join could take a position a cursor already passed',
  },
  {
    name: 'agentGroups',
    pattern: '<p>agent-groups:<agent>',
    type: 'set',
    meaning: 'the groups the agent is in (at most 64)',
    expiry: 'none',
  },
  {
    name: 'rateLimit',
    pattern: '<p>ratelimit:<sub>:<window>',
    type: 'string',
    meaning: 'requests of `<sub>` counted in one rate-limit window (`window` = epoch ms / window length, floored)',
    expiry: '`PEXPIREAT` the end of the next window',
  },
  {
    name: 'reply',
    pattern: '<p>reply:<call>',
    type: 'string',
    meaning:
      "a write's reply, kept so that the client's retry of the same store call (`<call>` its id) answers it instead of running again (exactly once; docs/architecture.md)",
    expiry: "`PX` 30 s (REPLY_KEEP_MS), far beyond the client's one retry within the Redis timeout",
  },
  {
    name: 'dpopProof',
    pattern: '<p>dpop-jti:<proof>',
    type: 'string',
    meaning:
      "a DPoP proof's jti seen (RFC 9449): `<proof>` is base64url SHA-256 of the key's thumbprint and the jti (proofId, lib/auth/dpop.ts), the value the id of the request that used it; written by the gate, which refuses the proof to any other request (docs/tokens.md#dpop-proof-of-possession-rfc-9449)",
    expiry:
      "`PXAT` the proof's `iat` + twice DPOP_IAT_WINDOW_SECONDS (proofKeepUntil): past its window the `iat` check refuses the proof by itself",
  },
  {
    name: 'job',
    pattern: '<p>job:<job>',
    type: 'hash',
    meaning:
      'a job: its spec `jobId command args targetsJson createdAt expiresAt timeoutMs continuous rolloutMax rolloutBase rolloutFactor rolloutAfter rolloutAfterCount abortCriteria scheduleStart scheduleEnd scheduleEndBehavior retryCriteria createdBy description` ' +
      '(`args` JSON, `continuous` 1/0, `rolloutFactor` in tenths, `abortCriteria` and `retryCriteria` JSON; `abortPercent abortMin` on a job written before criteria) + `seq targetSeq initialTargets` + the tally `targets materialized delivered inProgress completed failed ' +
      'rejected canceled retrying lastEndAt updatedAt` + its end `endStatus endAt endReason endForce endUndelivered endFinal` (`endForce` 1/0, `endFinal` JSON) + its last pause or resume `pauseState pauseAt pauseReason` (`pauseState` 1 paused, 0 resumed)',
    expiry: '`PEXPIREAT` `expiresAt` + retention, as every key of the job',
  },
  {
    name: 'jobTargets',
    pattern: '<p>job-targets:<job>',
    type: 'sorted set',
    meaning: "the job's target agent ids, score 0 at creation (so byte order), then 1, 2, 3 ... (`targetSeq`) for continuous joiners",
    expiry: AS_THE_JOB,
  },
  {
    name: 'jobExecs',
    pattern: '<p>job-execs:<job>',
    type: 'set',
    meaning: 'the targets that have their execution (`<p>cmd:<agent>:<job>`)',
    expiry: AS_THE_JOB,
  },
  {
    name: 'jobRollout',
    pattern: '<p>job-rollout:<job>',
    type: 'sorted set',
    meaning: 'first deliveries, score = their time (with a rollout only); pruned below now − 2 min',
    expiry: AS_THE_JOB,
  },
  {
    name: 'jobDeadlines',
    pattern: '<p>job-deadlines:<job>:<phase>',
    type: 'sorted set',
    meaning:
      "`<phase>` is `delivered` or `in_progress`: the executions last written in that phase, score = their deadline (only a deadline before the job's expiry); `ZCOUNT` of both up to now is the timed-out tally at a read. `retry`: the same deadline again for an attempt whose timeout is retried (its `ZCOUNT` up to now, below the retry cutoff, counts pending, not timed_out)",
    expiry: AS_THE_JOB,
  },
  {
    name: 'jobs',
    pattern: '<p>jobs',
    type: 'sorted set',
    meaning: 'every job id, score = its seq (the listing, newest first; an entry whose job is gone is dropped when met)',
    expiry: 'none',
  },
  {
    name: 'jobSeq',
    pattern: '<p>job-seq',
    type: 'string',
    meaning: 'the last job seq (`INCR`)',
    expiry: 'none',
  },
  {
    name: 'groupJobs',
    pattern: '<p>group-jobs:<group>',
    type: 'set',
    meaning: 'jobs in progress that target the group (pruned when met ended or gone)',
    expiry:
      '`PEXPIREAT` the latest `expiresAt` + retention of the jobs it holds, only ever later (`NX`, then `GT`), set by the create that adds a job: it goes with its last job even for a group nobody polls',
  },
  {
    name: 'agentJobs',
    pattern: '<p>agent-jobs:<agent>',
    type: 'set',
    meaning:
      'jobs the agent must still look at outside its groups: named targets, and targets that left a group before delivery; a job leaves it when a poll makes its execution or meets it ended or gone',
    expiry:
      '`PEXPIREAT` the latest `expiresAt` + retention (`jobGoneAt`) of the jobs it holds, only ever later (`NX`, then `GT`), set by each writer of a member for what it adds (job create for a named agent, group leave for a leaver) and by a poll for each member it meets: it goes with its last job even for an agent that never polls',
  },
  {
    name: 'agentMet',
    pattern: '<p>agent-met:<agent>',
    type: 'hash',
    meaning:
      "what the agent's last full look at its jobs in a poll met: `lookSeq` (`job-seq` then) and `wait` (JSON: the jobs left open, which each poll looks at again); a poll looks at all its jobs only when `job-seq` moved since or the key is gone (a join or leave that changes the agent's groups deletes it), else at `wait` (and `agent-jobs`) alone; none for an agent in no group",
    expiry: '`PEXPIRE` 5 min from the full look that wrote it (AGENT_MET_KEEP_MS): a full look at least that often',
  },
  {
    name: 'jobIdempotency',
    pattern: '<p>job-idem:<sub>:<key>',
    type: 'hash',
    meaning: "an operator's `Idempotency-Key` for a job: `fingerprint jobId until`",
    expiry: '`PEXPIREAT` `until` (first use + retention)',
  },
  {
    name: 'jobBuild',
    pattern: '<p>job-build:<job>',
    type: 'hash',
    meaning:
      'a job being created over more members than one script copies (docs/jobs.md#large-jobs): the fields of its job hash to be, and ' +
      '`buildState` (`building`, `committed` once the job is written, `done` once its leavers are indexed), `buildStep buildCall` ' +
      "(the steps done and the last one's call id), `buildGroup buildCursor` (the group being copied and the last join position " +
      "copied from it), `buildSnaps` (each group's snapshot position, JSON), `buildTargetSeq` (continuous joiners meanwhile), " +
      '`buildUntil buildKeep`; nothing reads the job before `job:<job>` is written',
    expiry: '`PEXPIREAT` its begin + 2 min (JOB_BUILD_KEEP_MS): an unfinished create leaves nothing behind',
  },
  {
    name: 'jobLeavers',
    pattern: '<p>job-leavers:<job>',
    type: 'set',
    meaning: "agents that left one of the job's groups while it was being created: put in `agent-jobs` once the job is written",
    expiry: 'as `job-build`',
  },
  {
    name: 'groupBuilds',
    pattern: '<p>group-builds:<group>',
    type: 'hash',
    meaning:
      "the jobs being created over the group, each with the group's `group-seq` when its create began: a leave or a join meanwhile keeps the job's snapshot",
    expiry: '`PEXPIREAT` the latest such create + 2 min; an entry leaves when its job is written or its build is met gone',
  },
  {
    name: 'pushAgent',
    pattern: '<p>ws-agent:<agent>',
    type: 'hash',
    meaning:
      "the agent's push connections (docs/push.md): field = connection id, value = JSON `{at, until, jti, iat}` (connected at, lapses at: + 2 h); at most 4 live, a fifth registration evicts the oldest; the lapsed go at the agent's next registration",
    expiry: '`PEXPIREAT` the latest `until` of its entries, only ever later (`NX`, then `GT`)',
  },
  {
    name: 'pushConnection',
    pattern: '<p>ws-conn:<connection>',
    type: 'string',
    meaning: 'the agent a push connection is registered for (`$disconnect` knows the connection id alone)',
    expiry: "`PXAT` the connection's `until` (connected at + 2 h); deleted by `$disconnect`",
  },
  {
    name: 'pushJti',
    pattern: '<p>ws-jti:<jti>',
    type: 'string',
    meaning: 'the agent whose push connections were opened with this token: a jti revocation finds them here',
    expiry: '`PEXPIREAT` the latest `until` of those connections, only ever later',
  },
];

export function redisKeys(prefix: string): RedisKeys {
  const commandPrefix = (agentId: string) => `${prefix}cmd:${keyPart(agentId)}:`;
  return {
    revokedJti: (jti) => `${prefix}revoked:jti:${keyPart(jti)}`,
    revokedSub: (sub) => `${prefix}revoked:sub:${keyPart(sub)}`,
    activeJti: (jti) => `${prefix}active:jti:${keyPart(jti)}`,
    command: (agentId, commandId) => `${commandPrefix(agentId)}${commandId}`,
    history: (agentId, commandId) => `${prefix}history:${keyPart(agentId)}:${commandId}`,
    commandPrefix,
    queue: (agentId) => `${prefix}queue:${keyPart(agentId)}`,
    log: (agentId) => `${prefix}log:${keyPart(agentId)}`,
    seq: (agentId) => `${prefix}seq:${keyPart(agentId)}`,
    idempotency: (sub, agentId, key) => `${prefix}idem:${keyPart(sub)}:${keyPart(agentId)}:${keyPart(key)}`,
    config: (agentId) => `${prefix}config:${keyPart(agentId)}`,
    group: (group) => `${prefix}group:${keyPart(group)}`,
    groupSeq: (group) => `${prefix}group-seq:${keyPart(group)}`,
    agentGroups: (agentId) => `${prefix}agent-groups:${keyPart(agentId)}`,
    rateLimit: (sub, window) => `${prefix}ratelimit:${keyPart(sub)}:${window}`,
    reply: (callId) => `${prefix}reply:${keyPart(callId)}`,
    dpopProof: (proofId) => `${prefix}dpop-jti:${keyPart(proofId)}`,
    job: (jobId) => `${prefix}job:${keyPart(jobId)}`,
    jobTargets: (jobId) => `${prefix}job-targets:${keyPart(jobId)}`,
    jobExecs: (jobId) => `${prefix}job-execs:${keyPart(jobId)}`,
    jobRollout: (jobId) => `${prefix}job-rollout:${keyPart(jobId)}`,
    jobDeadlines: (jobId, phase) => `${prefix}job-deadlines:${keyPart(jobId)}:${phase}`,
    jobs: () => `${prefix}jobs`,
    jobSeq: () => `${prefix}job-seq`,
    groupJobs: (group) => `${prefix}group-jobs:${keyPart(group)}`,
    agentJobs: (agentId) => `${prefix}agent-jobs:${keyPart(agentId)}`,
    agentMet: (agentId) => `${prefix}agent-met:${keyPart(agentId)}`,
    jobIdempotency: (sub, key) => `${prefix}job-idem:${keyPart(sub)}:${keyPart(key)}`,
    jobBuild: (jobId) => `${prefix}job-build:${keyPart(jobId)}`,
    jobLeavers: (jobId) => `${prefix}job-leavers:${keyPart(jobId)}`,
    groupBuilds: (group) => `${prefix}group-builds:${keyPart(group)}`,
    pushAgent: (agentId) => `${prefix}ws-agent:${keyPart(agentId)}`,
    pushConnection: (connectionId) => `${prefix}ws-conn:${keyPart(connectionId)}`,
    pushJti: (jti) => `${prefix}ws-jti:${keyPart(jti)}`,
    prefix,
  };
}
