/**
 * The embedded default: everything in this process's memory. Each method runs to completion
 * without awaiting in between, so every change is atomic on Node's single thread. Storage only:
 * every rule is a call into lib/commands/lifecycle.ts, lib/jobs/rules.ts, lib/auth/revocation.ts,
 * lib/store/ratelimit.ts or lib/groups/membership.ts. The command, group and job stores share one
 * MemoryJobBook, because a poll makes a job's executions and a join or a leave changes a job's
 * targets.
 *
 * The stores themselves know no admission: they are the unchecked actions. memoryBackend puts
 * them behind one gate (gated): the revocation store decides the admission synchronously
 * (admitNow) and the action runs right after it, in the same synchronous step, so nothing can
 * come between the decision and the action, as in the one Lua script of the Upstash store.
 */
import { proofReplayed } from '../auth/dpop.ts';
import { DpopProofError, TokenError } from '../auth/errors.ts';
import { isLive, isRevoked, type RevocationMode, raisedCutoff, type TokenIdentity } from '../auth/revocation.ts';
import {
  applyReport,
  cancel,
  created,
  delivered,
  type IdempotencyEntry,
  idempotency,
  idempotentUntil,
  isDeliverable,
  isGone,
  budgetedPage,
  listed,
  PAGE_BUDGET,
  reportedAt,
  statusOf,
  type Transition,
} from '../commands/lifecycle.ts';
import { appendHistory, attemptOf, type HistoryEntry, historyEntry } from '../commands/history.ts';
import type {
  Cancellation,
  CommandRecord,
  EnqueueOutcome,
  IdempotentRequest,
  ListPage,
  ListQuery,
  NewCommand,
  Outcome,
  Report,
} from '../commands/model.ts';
import {
  type BulkOutcome,
  type JoinOutcome,
  joinOutcome,
  type LeaveOutcome,
  leaveOutcome,
  type MemberChanges,
  type MemberPage,
  memberPage,
  nextPosition,
  sortedGroups,
} from '../groups/membership.ts';
import type {
  CancelJobOutcome,
  CreateJobOutcome,
  DryRunOutcome,
  ExecutionDetail,
  ExecutionEntry,
  ExecutionPage,
  ExecutionQuery,
  JobCancellation,
  JobPauseChange,
  JobListPage,
  JobListQuery,
  JobSnapshot,
  JobSpec,
  JobState,
  JobStatus,
  JobTargets,
  PauseJobOutcome,
  TimedOutTally,
} from '../jobs/model.ts';
import { DRY_RUN_EXACT_TARGETS, ROLLOUT_WINDOW_MS } from '../jobs/model.ts';
import {
  abortAt,
  cancelJob,
  isJobEnded,
  pauseJob,
  countsAt,
  createdJob,
  createdSnapshot,
  deadlineEntry,
  ended,
  endInstant,
  JOB_PAGE_BUDGET,
  executionRecord,
  failureRetried,
  jobGoneAt,
  jobSnapshot,
  jobStatusAt,
  listedExecution,
  mayDeliver,
  needsSettling,
  phaseOf,
  RETRY_REASON,
  retally,
  retriesTimeout,
  retryCanceled,
  retryCutoff,
  rolloutRate,
  scheduledEnd,
  scheduledEndDue,
  takesJoiner,
  rolloutWindowStart,
  settledExecution,
  targetAdded,
  targetsOutcome,
  timeoutRetried,
  undeliveredStatus,
} from '../jobs/rules.ts';
import type { ConnectionStore } from './connections.ts';
import { MemoryConnectionStore } from './connections-memory.ts';
import { MemoryRateLimiter, type RateLimitSettings } from './ratelimit.ts';
import {
  type Admission,
  type CommandStore,
  type ExecutionSignature,
  type JobStore,
  RateLimitedError,
  type RevocationStore,
  type StoreBackend,
  type UncheckedGroupStore,
} from './types.ts';

/** What the gate asks of the revocation store: the admission, decided synchronously. */
export interface Gatekeeper {
  /** Throws TokenError('token_revoked') or RateLimitedError; counts the request otherwise. */
  admitNow(admission: Admission): void;
}

/**
 * Does meeting this record at `now` need its job (retries): a job's execution not ended that waits
 * for its retry's delivery, or whose deadline has come. The Lua's retryMet tests the same.
 */
function retryDue(record: CommandRecord, now: number): boolean {
  if (record.jobId === undefined || record.resultStatus !== undefined) return false;
  return record.deliveredAt === undefined || (record.deadlineAt !== undefined && record.deadlineAt <= now);
}

/** One command as kept: its sequence, its record and its history (lib/commands/history.ts), gone with it. */
interface QueueEntry {
  seq: number;
  record: CommandRecord;
  history?: HistoryEntry[];
}

/** One agent's commands: the queue and the log at once. */
interface Queue {
  /** Every command still kept, in enqueue order, with its sequence. */
  readonly entries: Map<string, QueueEntry>;
  /** The last sequence given out (never reused). */
  last: number;
}

interface MemoryGroup {
  /** The last join position given; kept when the group empties, as Redis keeps its counter. */
  last: number;
  readonly positions: Map<string, number>;
  /** The members in position order (positions only grow, so a join appends). */
  readonly order: { readonly agentId: string; readonly position: number }[];
}

/** One job as kept: what Redis keeps under job:, job-targets:, job-execs:, job-rollout: and job-deadlines:<job>. */
interface MemoryJob {
  state: JobState;
  /** The targets counted at creation: a replayed create answers the job as it was made. */
  readonly initialTargets: number;
  /** The targets in target order: the creation targets by code unit, then continuous joiners in join order. */
  readonly targets: string[];
  readonly isTarget: Set<string>;
  /** Targets that have their execution. */
  readonly execs: Set<string>;
  /** With a rollout: agent (`agent#attempt` for a retry's delivery) → its delivery (pruned as met, two windows back). */
  readonly rollout: Map<string, number>;
  /**
   * Agent → deadline (rules.deadlineEntry), by the phase its execution was last written in; `retry`
   * holds the same deadline again for an attempt whose timeout is retried (rules.retriesTimeout).
   */
  readonly deadlines: Record<'delivered' | 'in_progress' | 'retry', Map<string, number>>;
}

/** How many entries one write looks at in each map it prunes (Sweeper). */
const SWEEP_BUDGET = 8;

/**
 * Prunes a map a few entries per call, round robin: each call looks at the next `budget` entries
 * after where the last one stopped (starting over at the end, at most one turn per call) and drops
 * each one `expired` says has lapsed at `now` (it may also trim the entry in place). The writes of
 * a store call it, so an entry past its expiry goes within (map size / budget) writes even for an
 * id that is never read again: the map stays bounded by what is live, as Redis drops a key at its
 * expiry. The cursor is a live Map iterator: entries added or deleted meanwhile are met or skipped
 * as Map iteration defines, never twice in one turn.
 */
export class Sweeper<K, V> {
  private cursor: Iterator<[K, V]> | undefined;
  private readonly map: Map<K, V>;
  private readonly expired: (value: V, key: K, now: number) => boolean;
  private readonly budget: number;

  constructor(map: Map<K, V>, expired: (value: V, key: K, now: number) => boolean, budget = SWEEP_BUDGET) {
    this.map = map;
    this.expired = expired;
    this.budget = budget;
  }

  sweep(now: number): void {
    let restarted = false;
    for (let looked = 0; looked < this.budget; ) {
      this.cursor ??= this.map.entries();
      const next = this.cursor.next();
      if (next.done === true) {
        this.cursor = undefined;
        if (restarted) return;
        restarted = true;
        continue;
      }
      looked += 1;
      const [key, value] = next.value;
      if (this.expired(value, key, now)) this.map.delete(key);
    }
  }
}

/** Rollout entries older than this before `now` are dropped when met (the window is one minute). */
const ROLLOUT_KEPT_MS = 2 * ROLLOUT_WINDOW_MS;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The state the memory command, group and job stores share: the agents' queues, the groups and
 * the jobs with their indexes, laid out as the Redis keys are (lib/store/keys.ts). Storage and
 * the orders the Lua keeps; every decision is a call into lib/jobs/rules.ts or
 * lib/commands/lifecycle.ts. Each method runs synchronously, inside one store method.
 */
export class MemoryJobBook {
  readonly retentionMs: number;
  /** Commands per agent, in enqueue order. Finished ones stay readable until retention ends. */
  readonly queues = new Map<string, Queue>();
  readonly groups = new Map<string, MemoryGroup>();
  /** Agent id → the groups it is in. */
  readonly memberships = new Map<string, Set<string>>();
  readonly jobs = new Map<string, MemoryJob>();
  /** Job ids by seq, oldest first (the `jobs` sorted set). */
  readonly jobOrder: string[] = [];
  lastJobSeq = 0;
  /** Group → jobs that target it (pruned when met ended or gone). */
  readonly groupJobs = new Map<string, Set<string>>();
  /** Agent → jobs it must still look at: it is named, or it left a target group before its delivery. */
  readonly agentJobs = new Map<string, Set<string>>();
  /** Job idempotency keys by (sub, key); `commandId` is the job id. */
  readonly jobIdempotency = new Map<string, IdempotencyEntry>();

  /** Drops, a few per write, the agent-jobs entries whose job is past its retention (as Redis expires the set at the latest one's). */
  private readonly agentJobsSweeper = new Sweeper(this.agentJobs, (jobIds: Set<string>, _agentId, now) => {
    for (const jobId of jobIds) {
      const job = this.jobs.get(jobId);
      if (job === undefined || now >= jobGoneAt(job.state.spec, this.retentionMs)) jobIds.delete(jobId);
    }
    return jobIds.size === 0;
  });
  /** Drops, a few per write, the job idempotency keys past their `until` (as their Redis hashes expire). */
  private readonly jobIdempotencySweeper = new Sweeper(this.jobIdempotency, (entry: IdempotencyEntry, _key, now) => entry.until <= now);

  constructor(options: { resultRetentionSeconds: number }) {
    this.retentionMs = options.resultRetentionSeconds * 1000;
  }

  /** The bounded pruning step of a write at `now`: a few entries of agent-jobs and of the job idempotency keys. */
  sweep(now: number): void {
    this.agentJobsSweeper.sweep(now);
    this.jobIdempotencySweeper.sweep(now);
  }

  queueOf(agentId: string): Queue {
    let queue = this.queues.get(agentId);
    if (!queue) {
      queue = { entries: new Map(), last: 0 };
      this.queues.set(agentId, queue);
    }
    return queue;
  }

  /** The job unless it is past its retention at `now`; a gone one is forgotten, as its keys expire. */
  liveJob(jobId: string, now: number): MemoryJob | undefined {
    const job = this.jobs.get(jobId);
    if (job === undefined || now < jobGoneAt(job.state.spec, this.retentionMs)) return job;
    this.jobs.delete(jobId);
    const at = this.jobOrder.indexOf(jobId);
    if (at >= 0) this.jobOrder.splice(at, 1);
    return undefined;
  }

  /** The executions whose deadline (before the job's expiry) has come by `now`, by their written phase. */
  timedOut(job: MemoryJob, now: number): TimedOutTally {
    let lastAt: number | undefined;
    const count = (deadlines: Map<string, number>): number => {
      let passed = 0;
      for (const deadline of deadlines.values()) {
        if (deadline > now) continue;
        passed += 1;
        lastAt = Math.max(lastAt ?? deadline, deadline);
      }
      return passed;
    };
    const delivered = count(job.deadlines.delivered);
    const inProgress = count(job.deadlines.in_progress);
    const cutoff = retryCutoff(job.state);
    let retried = 0;
    for (const deadline of job.deadlines.retry.values()) if (deadline <= Math.min(now, cutoff)) retried += 1;
    return { delivered, inProgress, ...(retried === 0 ? {} : { retried }), ...(lastAt === undefined ? {} : { lastAt }) };
  }

  /** Meets the job at `now`: writes the end its schedule reached (rules.scheduledEnd), then the abort it has reached (rules.abortAt); the timeouts it read. */
  meet(job: MemoryJob, now: number): TimedOutTally {
    if (scheduledEndDue(job.state, now)) {
      // Read at the schedule's end (its timeouts then), as if met at that very instant.
      const endAt = job.state.spec.schedule?.endAt as number;
      const end = scheduledEnd(job.state, countsAt(job.state, this.timedOut(job, endAt), endAt), now);
      if (end !== undefined) job.state = ended(job.state, end);
    }
    const timedOut = this.timedOut(job, now);
    const end = abortAt(job.state, countsAt(job.state, timedOut, now), now);
    if (end !== undefined) job.state = ended(job.state, end);
    return timedOut;
  }

  /** The job's status at `now`, after meeting it (meet). */
  statusAfterMeeting(job: MemoryJob, now: number): JobStatus {
    const timedOut = this.meet(job, now);
    return jobStatusAt(job.state, countsAt(job.state, timedOut, now), now);
  }

  /** The job as read at `now`, its abort written first. */
  snapshot(job: MemoryJob, now: number): JobSnapshot {
    const timedOut = this.meet(job, now); // first: it may write the abort that the snapshot then shows
    return jobSnapshot(job.state, timedOut, now);
  }

  /** The job as it was made (what a replayed create answers). */
  asCreated(job: MemoryJob): JobSnapshot {
    const { spec, seq } = job.state;
    return createdSnapshot(spec, seq, job.initialTargets);
  }

  /**
   * An execution met anywhere at `now`: its timeout retried, written as its next attempt (counted:
   * the tally moves, the counts do not; its timed_out and the retry go into its history), when
   * rules.timeoutRetried says so; then, waiting for that retry when its job's end or schedule's end
   * came, written canceled then (rules.retryCanceled); then written canceled when its job's forced
   * cancel ended it (no retally for either: those counts already hold).
   */
  settle(entry: QueueEntry, now: number | undefined): void {
    const { jobId } = entry.record;
    const job = jobId === undefined ? undefined : this.jobs.get(jobId);
    if (job === undefined) return;
    const retries = job.state.spec.retry !== undefined;
    if (retries && now !== undefined && retryDue(entry.record, now) && !isGone(entry.record, now, this.retentionMs)) {
      // The job met first (its abort written), as the Lua's retryMet does.
      this.meet(job, now);
      const retried = timeoutRetried(entry.record, job.state, now);
      if (retried !== undefined) {
        const at = retried.updatedAt as number;
        entry.history = appendHistory(entry.history, historyEntry(entry.record, 'timed_out', at));
        entry.history = appendHistory(entry.history, historyEntry(retried, 'pending', at, { reason: RETRY_REASON }));
        this.changed(job, entry.record, retried, at);
        entry.record = retried;
      }
      const canceled = retryCanceled(entry.record, job.state, now);
      if (canceled !== undefined) entry.record = canceled;
    }
    const { end } = job.state;
    if (needsSettling(entry.record, end)) entry.record = settledExecution(entry.record, end, this.retentionMs);
  }

  /** One written change of an execution at `at` (`before` undefined: it was just made): the tally and the deadline entry move. */
  changed(job: MemoryJob, before: CommandRecord | undefined, after: CommandRecord, at: number): void {
    job.state = { ...job.state, tally: retally(job.state.tally, before, after, at) };
    job.deadlines.delivered.delete(after.agentId);
    job.deadlines.in_progress.delete(after.agentId);
    job.deadlines.retry.delete(after.agentId);
    const phase = phaseOf(after);
    const deadline = deadlineEntry(after);
    if ((phase === 'delivered' || phase === 'in_progress') && deadline !== undefined) {
      job.deadlines[phase].set(after.agentId, deadline);
      if (retriesTimeout(job.state.spec, after)) job.deadlines.retry.set(after.agentId, deadline);
    }
  }

  /**
   * The executions a poll at `now` makes, at most `room`: the agent's candidate jobs (its own
   * index and its groups') in seq order; each one made goes to the end of the queue, delivered.
   */
  deliverJobs(agentId: string, room: number, now: number): CommandRecord[] {
    const made: CommandRecord[] = [];
    const candidates = new Map<string, MemoryJob>();
    const gather = (index: Map<string, Set<string>>, key: string) => {
      for (const jobId of index.get(key) ?? []) {
        const job = this.liveJob(jobId, now);
        if (job === undefined) unindex(index, key, jobId);
        else candidates.set(jobId, job);
      }
    };
    gather(this.agentJobs, agentId);
    for (const group of this.memberships.get(agentId) ?? []) gather(this.groupJobs, group);
    const bySeq = [...candidates.values()].sort((a, b) => a.state.seq - b.state.seq);
    for (const job of bySeq) {
      if (made.length >= room) break;
      const status = this.statusAfterMeeting(job, now);
      const { spec } = job.state;
      if (isJobEnded(status)) {
        unindex(this.agentJobs, agentId, spec.jobId);
        for (const group of spec.targets.groups) unindex(this.groupJobs, group, spec.jobId);
        continue;
      }
      if (job.execs.has(agentId)) {
        unindex(this.agentJobs, agentId, spec.jobId);
        continue;
      }
      const target = { isTarget: job.isTarget.has(agentId), hasExecution: false };
      const perMinute = rolloutRate(spec.rollout, job.state.tally);
      if (!mayDeliver(status, spec, now, target, this.recentFirstDeliveries(job, now), perMinute)) continue;
      const record = executionRecord(spec, agentId, now);
      const queue = this.queueOf(agentId);
      queue.last += 1;
      queue.entries.set(spec.jobId, { seq: queue.last, record, history: appendHistory([], historyEntry(record, 'delivered', now)) });
      job.execs.add(agentId);
      if (spec.rollout !== undefined) job.rollout.set(agentId, now);
      this.changed(job, undefined, record, now);
      made.push(record);
    }
    return made;
  }

  /**
   * A job's execution waiting for its retry, met by its agent's poll at `now`: its job when the
   * brakes allow a delivery (mayDeliver, as for a first one: the job in progress, the rollout's
   * rate); null: it waits.
   */
  retryDelivery(record: CommandRecord, now: number): MemoryJob | null {
    const job = record.jobId === undefined ? undefined : this.liveJob(record.jobId, now);
    if (job === undefined) return null;
    const status = this.statusAfterMeeting(job, now);
    const { spec } = job.state;
    const perMinute = rolloutRate(spec.rollout, job.state.tally);
    const allowed = mayDeliver(status, spec, now, { isTarget: true, hasExecution: false }, this.recentFirstDeliveries(job, now), perMinute);
    return allowed ? job : null;
  }

  /** A retry delivered at `now` (retryDelivery allowed it): counted (retally) and entered in the rollout window. */
  redelivered(job: MemoryJob, before: CommandRecord, after: CommandRecord, now: number): void {
    if (job.state.spec.rollout !== undefined) job.rollout.set(`${before.agentId}#${attemptOf(before)}`, now);
    this.changed(job, before, after, now);
  }

  /** First deliveries that count against the rollout at `now` (0 without one); old entries dropped. */
  private recentFirstDeliveries(job: MemoryJob, now: number): number {
    if (job.state.spec.rollout === undefined) return 0;
    const since = rolloutWindowStart(now);
    let recent = 0;
    for (const [agentId, at] of job.rollout) {
      if (at < now - ROLLOUT_KEPT_MS) job.rollout.delete(agentId);
      else if (at > since) recent += 1;
    }
    return recent;
  }

  /** After `agentId` joined `group` at `now`: it becomes a target of the group's continuous jobs not ended (in progress or paused). */
  joined(group: string, agentId: string, now: number): void {
    for (const jobId of this.groupJobs.get(group) ?? []) {
      const job = this.liveJob(jobId, now);
      if (job === undefined) {
        unindex(this.groupJobs, group, jobId);
        continue;
      }
      if (!job.state.spec.continuous) continue;
      const status = this.statusAfterMeeting(job, now);
      if (isJobEnded(status)) {
        unindex(this.groupJobs, group, jobId);
        continue;
      }
      if (!takesJoiner(status, job.state.spec, now)) continue;
      if (job.isTarget.has(agentId)) continue;
      job.targets.push(agentId);
      job.isTarget.add(agentId);
      job.state = targetAdded(job.state);
    }
  }

  /** After `agentId` left `group`: the group's jobs it is a target of without an execution go to its own index. */
  left(group: string, agentId: string): void {
    for (const jobId of this.groupJobs.get(group) ?? []) {
      const job = this.jobs.get(jobId);
      if (job === undefined) unindex(this.groupJobs, group, jobId);
      else if (job.isTarget.has(agentId) && !job.execs.has(agentId)) index(this.agentJobs, agentId, jobId);
    }
  }
}

function index(sets: Map<string, Set<string>>, key: string, member: string): void {
  const set = sets.get(key) ?? new Set<string>();
  set.add(member);
  sets.set(key, set);
}

function unindex(sets: Map<string, Set<string>>, key: string, member: string): void {
  const set = sets.get(key);
  set?.delete(member);
  if (set?.size === 0) sets.delete(key);
}

export class MemoryCommandStore implements CommandStore {
  /** The state shared with the group and job stores (the agents' queues among it). */
  readonly book: MemoryJobBook;
  private readonly configs = new Map<string, Record<string, unknown>>();
  /** Idempotency keys by (sub, agent, key). */
  private readonly idempotency = new Map<string, IdempotencyEntry>();
  /** Drops, a few per enqueue, the idempotency keys past their `until` (as their Redis hashes expire). */
  private readonly idempotencySweeper = new Sweeper(this.idempotency, (entry: IdempotencyEntry, _key, now) => entry.until <= now);
  private readonly retentionMs: number;

  /** `book`: the state shared with a group and a job store (by default its own, with no jobs). */
  constructor(options: { resultRetentionSeconds: number }, book = new MemoryJobBook(options)) {
    this.retentionMs = options.resultRetentionSeconds * 1000;
    this.book = book;
  }

  async enqueue(command: NewCommand, request?: IdempotentRequest): Promise<EnqueueOutcome> {
    this.idempotencySweeper.sweep(command.createdAt);
    this.book.sweep(command.createdAt);
    const queue = this.book.queueOf(command.agentId);
    const key = request && JSON.stringify([request.sub, command.agentId, request.key]);
    if (request && key) {
      const entry = this.idempotency.get(key);
      const existing = entry && queue.entries.get(entry.commandId)?.record;
      const live = existing !== undefined && !isGone(existing, command.createdAt, this.retentionMs);
      switch (idempotency(entry, request.fingerprint, command.createdAt, live)) {
        case 'mismatch':
          return { outcome: 'mismatch' };
        case 'replay':
          return { outcome: 'replayed', record: copy(existing as CommandRecord) };
        case 'create':
          this.idempotency.set(key, {
            fingerprint: request.fingerprint,
            commandId: command.commandId,
            until: idempotentUntil(command.createdAt, this.retentionMs),
          });
      }
    }
    queue.last += 1;
    const record = created({ ...command, args: deepFreeze(structuredClone(command.args)) });
    queue.entries.set(command.commandId, { seq: queue.last, record });
    return { outcome: 'created', record: copy(record) };
  }

  /**
   * The queue walk first (existing commands, redeliveries; an execution a forced cancel ended is
   * written canceled when met, not handed out); then, while the page has room, the agent's
   * candidate jobs make their executions (MemoryJobBook.deliverJobs), appended to the queue.
   */
  async fetch(agentId: string, limit: number, now: number): Promise<CommandRecord[]> {
    if (limit < 1) return [];
    this.book.sweep(now);
    const out: CommandRecord[] = [];
    const queue = this.book.queues.get(agentId);
    for (const [id, entry] of queue?.entries ?? []) {
      if (isGone(entry.record, now, this.retentionMs)) {
        queue?.entries.delete(id);
        continue;
      }
      this.book.settle(entry, now);
      if (!isDeliverable(entry.record, now)) continue;
      const waiting = entry.record.jobId !== undefined && phaseOf(entry.record) === 'retrying';
      const retry = waiting ? this.book.retryDelivery(entry.record, now) : undefined;
      if (retry === null) continue; // a retry its job's brakes hold back: it waits in the queue
      const before = entry.record;
      const first = before.deliveredAt === undefined;
      entry.record = delivered(before, now); // same key: keeps its place in the queue
      if (first) entry.history = appendHistory(entry.history, historyEntry(entry.record, 'delivered', now));
      if (retry !== undefined) this.book.redelivered(retry, before, entry.record, now);
      out.push(copy(entry.record));
      if (out.length >= limit) return out;
    }
    for (const made of this.book.deliverJobs(agentId, limit - out.length, now)) out.push(copy(made));
    return out;
  }

  async complete(agentId: string, commandId: string, report: Report): Promise<Outcome> {
    const details = report.statusDetailsJson;
    return this.apply(
      agentId,
      commandId,
      reportedAt(report),
      (record) => applyReport(record, report, this.retentionMs),
      (after) => historyEntry(after, report.status, after.updatedAt ?? reportedAt(report), { statusDetailsJson: details }),
    ).outcome;
  }

  async cancel(agentId: string, commandId: string, cancellation: Cancellation): Promise<Transition> {
    const { outcome, record } = this.apply(
      agentId,
      commandId,
      cancellation.at,
      (found) => cancel(found, cancellation, this.retentionMs),
      (after) => historyEntry(after, 'canceled', after.updatedAt ?? cancellation.at, { reason: after.cancelReason }),
    );
    return { outcome, record: record && copy(record) };
  }

  async get(agentId: string, commandId: string, now?: number): Promise<CommandRecord | undefined> {
    return (await this.getDetail(agentId, commandId, now))?.record;
  }

  async getDetail(
    agentId: string,
    commandId: string,
    now?: number,
  ): Promise<{ record: CommandRecord; history: HistoryEntry[] } | undefined> {
    const entry = this.book.queues.get(agentId)?.entries.get(commandId);
    if (entry === undefined) return undefined;
    this.book.settle(entry, now);
    return { record: copy(entry.record), history: [...(entry.history ?? [])] };
  }

  /**
   * The log walk of listPage: at most the page's budget of entries after the cursor are examined
   * (settled when met), a gone one among them dropped then, as the Lua does.
   */
  async list(agentId: string, query: ListQuery, now: number): Promise<ListPage> {
    const queue = this.book.queues.get(agentId);
    if (!queue) return { records: [], nextAfter: undefined };
    const after = [...queue.entries].filter(([, entry]) => entry.seq > query.after);
    const page = budgetedPage(after, query.limit, query.budget ?? PAGE_BUDGET, ([id, entry]) => {
      if (isGone(entry.record, now, this.retentionMs)) {
        queue.entries.delete(id);
        return 'gone';
      }
      this.book.settle(entry, now);
      return listed(entry.record, query.statuses, now, this.retentionMs);
    });
    return { records: page.taken.map(([, entry]) => copy(entry.record)), nextAfter: page.resume?.[1].seq };
  }

  async getConfig(agentId: string): Promise<Record<string, unknown> | undefined> {
    const config = this.configs.get(agentId);
    return config ? structuredClone(config) : undefined;
  }

  async putConfig(agentId: string, overrides: Record<string, unknown>): Promise<void> {
    this.configs.set(agentId, structuredClone(overrides));
  }

  async signExecutions(agentId: string, entries: readonly ExecutionSignature[]): Promise<ReadonlyMap<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    const queue = this.book.queues.get(agentId);
    for (const { commandId, attempt, signature } of entries) {
      const entry = queue?.entries.get(commandId);
      if (entry === undefined || entry.record.jobId === undefined) continue;
      const held = (entry.record as { readonly attempt?: number }).attempt;
      if (entry.record.signature === undefined && held === attempt) entry.record = { ...entry.record, signature };
      out.set(commandId, entry.record.signature);
    }
    return out;
  }

  /**
   * Runs a transition at `at` on one command; a gone record is dropped when met, as the Lua does.
   * For a job's execution: the job's abort is written first and the record settled against the
   * job's end; an accepted change is counted in the job's tally, and an abort it reaches written,
   * and goes into the command's history as `change` makes its entry.
   */
  private apply(
    agentId: string,
    commandId: string,
    at: number,
    transition: (record: CommandRecord | undefined) => Transition,
    change: (after: CommandRecord) => HistoryEntry,
  ): Transition {
    const entries = this.book.queues.get(agentId)?.entries;
    const entry = entries?.get(commandId);
    const job = entry?.record.jobId === undefined ? undefined : this.book.liveJob(entry.record.jobId, at);
    if (entry && job) {
      this.book.meet(job, at);
      this.book.settle(entry, at);
    }
    const before = entry?.record;
    const result = transition(before);
    if (entry && result.record === undefined) entries?.delete(commandId);
    else if (entry && result.record) {
      entry.record = result.record;
      if (result.outcome.outcome === 'accepted') entry.history = appendHistory(entry.history, change(result.record));
      if (job && before && result.outcome.outcome === 'accepted') {
        // Counted at the instant the rule stamped the change (changeAt), as the Lua does.
        const stamped = result.record.updatedAt ?? at;
        // A failure with a retry left is the execution's next attempt, pending from that instant.
        const retried = failureRetried(result.record, job.state, stamped);
        if (retried !== undefined) {
          entry.record = retried;
          entry.history = appendHistory(entry.history, historyEntry(retried, 'pending', stamped, { reason: RETRY_REASON }));
        }
        this.book.changed(job, before, entry.record, stamped);
        this.book.meet(job, stamped);
        return retried === undefined ? result : { ...result, record: retried };
      }
    }
    return result;
  }
}

/** A snapshot of a record; its args are frozen at enqueue, so they can be shared, not cloned. */
function copy(record: CommandRecord): CommandRecord {
  return { ...record };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export class MemoryRevocationStore implements RevocationStore, Gatekeeper {
  /** Denylisted jti → until when (epoch s). */
  private readonly revoked = new Map<string, number>();
  /** Allowlist registrations: jti → until when (epoch s). */
  private readonly registered = new Map<string, number>();
  /** Subject → cut-off (epoch s); never pruned, as its Redis key has no expiry (lib/store/keys.ts). */
  private readonly cutoffs = new Map<string, number>();
  /** Drop, a few per revocation or registration, the entries past their `until` (as their Redis keys expire). */
  private readonly revokedSweeper = new Sweeper(this.revoked, (until: number, _jti, now) => !isLive(until, now));
  private readonly registeredSweeper = new Sweeper(this.registered, (until: number, _jti, now) => !isLive(until, now));
  /** DPoP proofs seen: proof id → the request that used it and until when it is kept (epoch ms), as `<p>dpop-jti:<proof>`. */
  private readonly proofs = new Map<string, { request: string; until: number }>();
  private readonly proofSweeper = new Sweeper(this.proofs, (entry: { until: number }, _id, now) => entry.until <= now);
  private readonly nowSeconds: () => number;
  private readonly mode: RevocationMode;
  private readonly limiter: MemoryRateLimiter | undefined;

  constructor(nowSeconds: () => number, options: { revocationMode?: RevocationMode; rateLimit?: RateLimitSettings | undefined } = {}) {
    this.nowSeconds = nowSeconds;
    this.mode = options.revocationMode ?? 'denylist';
    this.limiter = options.rateLimit === undefined ? undefined : new MemoryRateLimiter(options.rateLimit);
  }

  async isRevoked(token: TokenIdentity): Promise<boolean> {
    return this.revokedNow(token);
  }

  /**
   * The gate, as the Lua preamble: the revocation decision first, then a DPoP proof's replay
   * (proofReplayed), then the rate limit, counted only when admitted, and the proof remembered last.
   */
  admitNow(admission: Admission): void {
    const { token, proof, now } = admission;
    if (this.revokedNow(token)) throw new TokenError('token_revoked', undefined, undefined, token.sub);
    if (proof !== undefined) {
      const seen = this.proofs.get(proof.id);
      const live = seen !== undefined && seen.until > now ? seen.request : undefined;
      if (proofReplayed(live, proof.request)) throw new DpopProofError('proof_replayed', 'its jti was used before', undefined, token.sub);
    }
    if (this.limiter !== undefined) {
      const decision = this.limiter.limit(token.sub, now);
      if (!decision.allowed) throw new RateLimitedError(token.sub, decision.reset, now);
    }
    if (proof !== undefined) {
      this.proofSweeper.sweep(now);
      this.proofs.set(proof.id, { request: proof.request, until: proof.until });
    }
  }

  private revokedNow(token: TokenIdentity): boolean {
    const now = this.nowSeconds();
    return isRevoked(token, this.mode, {
      jtiRevoked: token.jti !== undefined && this.live(this.revoked, token.jti, now),
      subjectCutoff: this.cutoffs.get(token.sub),
      registered: token.jti !== undefined && this.live(this.registered, token.jti, now),
    });
  }

  async revokeToken(jti: string, expiresAt: number): Promise<void> {
    this.revokedSweeper.sweep(this.nowSeconds());
    this.revoked.set(jti, expiresAt);
  }

  async revokeSubject(sub: string, cutoff: number): Promise<void> {
    this.cutoffs.set(sub, raisedCutoff(this.cutoffs.get(sub), cutoff));
  }

  async registerToken(jti: string, expiresAt: number): Promise<void> {
    this.registeredSweeper.sweep(this.nowSeconds());
    this.registered.set(jti, expiresAt);
  }

  /** Whether the entry for `jti` is live; a lapsed one is dropped (as its Redis key expires). */
  private live(entries: Map<string, number>, jti: string, now: number): boolean {
    const until = entries.get(jti);
    if (until === undefined) return false;
    if (isLive(until, now)) return true;
    entries.delete(jti);
    return false;
  }
}

export class MemoryGroupStore implements UncheckedGroupStore {
  /** The state shared with the command and job stores (groups and memberships among it). */
  readonly book: MemoryJobBook;

  /** `book`: the state shared with a command and a job store (by default its own: no job can reach it). */
  constructor(book = new MemoryJobBook({ resultRetentionSeconds: 0 })) {
    this.book = book;
  }

  /** A join also makes the agent a target of the group's continuous jobs in progress at `now` (MemoryJobBook.joined). */
  async join(group: string, agentId: string, now: number = Date.now()): Promise<JoinOutcome> {
    return this.joinNow(group, agentId, now);
  }

  /** A leave cancels nothing: the group's jobs the agent has still to receive go to its own index (MemoryJobBook.left). */
  async leave(group: string, agentId: string): Promise<LeaveOutcome> {
    return this.leaveNow(group, agentId);
  }

  /** The leaves, then the joins, each as leave and join (one synchronous step, as the one Lua script). */
  async change(group: string, changes: MemberChanges, now: number = Date.now()): Promise<BulkOutcome> {
    let removed = 0;
    let unchanged = 0;
    let added = 0;
    const refused: string[] = [];
    for (const agentId of changes.remove) {
      if (this.leaveNow(group, agentId) === 'removed') removed += 1;
      else unchanged += 1;
    }
    for (const agentId of changes.add) {
      const outcome = this.joinNow(group, agentId, now);
      if (outcome === 'added') added += 1;
      else if (outcome === 'unchanged') unchanged += 1;
      else refused.push(agentId);
    }
    return { added, removed, unchanged, refused };
  }

  private joinNow(group: string, agentId: string, now: number): JoinOutcome {
    const { groups, memberships } = this.book;
    const entry = groups.get(group);
    const outcome = joinOutcome(entry?.positions.has(agentId) ?? false, memberships.get(agentId)?.size ?? 0);
    if (outcome !== 'added') return outcome;
    const target: MemoryGroup = entry ?? { last: 0, positions: new Map(), order: [] };
    groups.set(group, target);
    const position = nextPosition(target.last);
    target.last = position;
    target.positions.set(agentId, position);
    target.order.push({ agentId, position });
    const mine = memberships.get(agentId) ?? new Set<string>();
    mine.add(group);
    memberships.set(agentId, mine);
    this.book.joined(group, agentId, now);
    return outcome;
  }

  private leaveNow(group: string, agentId: string): LeaveOutcome {
    const { groups, memberships } = this.book;
    const entry = groups.get(group);
    const position = entry?.positions.get(agentId);
    const outcome = leaveOutcome(position !== undefined);
    if (entry === undefined || position === undefined) return outcome;
    entry.positions.delete(agentId);
    entry.order.splice(firstAfter(entry.order, position - 1), 1);
    const mine = memberships.get(agentId);
    mine?.delete(group);
    if (mine?.size === 0) memberships.delete(agentId);
    this.book.left(group, agentId);
    return outcome;
  }

  async members(group: string, after: number, limit: number): Promise<MemberPage> {
    const order = this.book.groups.get(group)?.order ?? [];
    const start = firstAfter(order, after);
    return memberPage(order.slice(start, start + limit + 1), limit);
  }

  async groupsOf(agentId: string): Promise<string[]> {
    return sortedGroups(this.book.memberships.get(agentId) ?? []);
  }
}

/** The index of the first entry whose position is greater than `after` (binary search). */
function firstAfter(order: readonly { readonly position: number }[], after: number): number {
  let low = 0;
  let high = order.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((order[middle] as { position: number }).position <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Fleet jobs over the book the command and group stores share: a job is its spec, its target set
 * and its tally; its executions are made in the agents' own polls (MemoryCommandStore.fetch).
 */
export class MemoryJobStore implements JobStore {
  readonly book: MemoryJobBook;

  /** `book`: the state shared with the command and group stores. */
  constructor(book: MemoryJobBook) {
    this.book = book;
  }

  /**
   * The targets: the named agents and the groups' members now, each once, by code unit (as a
   * sorted set of equal scores). Counted first, as Redis counts them before writing anything
   * (targetsOutcome over the groups' sizes and the named agents): a refusal keeps nothing, the
   * Idempotency-Key included. Made in one step: the build Redis spreads over several scripts has
   * the same visible outcome (the job appears whole, at its commit).
   */
  async create(spec: JobSpec, request?: IdempotentRequest): Promise<CreateJobOutcome> {
    const { book } = this;
    const at = spec.createdAt;
    const key = request && JSON.stringify([request.sub, request.key]);
    if (request && key !== undefined) {
      const entry = book.jobIdempotency.get(key);
      const existing = entry && book.liveJob(entry.commandId, at);
      switch (idempotency(entry, request.fingerprint, at, existing !== undefined)) {
        case 'mismatch':
          return { outcome: 'mismatch' };
        case 'replay':
          return { outcome: 'replayed', job: book.asCreated(existing as MemoryJob) };
        case 'create':
          break;
      }
    }
    let counted = spec.targets.agents.length;
    for (const group of spec.targets.groups) counted += book.groups.get(group)?.order.length ?? 0;
    const verdict = targetsOutcome(counted, spec.continuous);
    if (verdict === 'too_many_targets') return { outcome: verdict, counted };
    if (verdict === 'no_targets') return { outcome: verdict };
    if (request && key !== undefined) {
      book.jobIdempotency.set(key, {
        fingerprint: request.fingerprint,
        commandId: spec.jobId,
        until: idempotentUntil(at, book.retentionMs),
      });
    }
    const kept: JobSpec = deepFreeze(structuredClone(spec));
    const chosen = new Set<string>();
    for (const group of kept.targets.groups) for (const member of book.groups.get(group)?.order ?? []) chosen.add(member.agentId);
    for (const agentId of kept.targets.agents) chosen.add(agentId);
    const targets = [...chosen].sort(byCodeUnit);
    book.lastJobSeq += 1;
    const job: MemoryJob = {
      state: createdJob(kept, book.lastJobSeq, targets.length),
      initialTargets: targets.length,
      targets,
      isTarget: chosen,
      execs: new Set(),
      rollout: new Map(),
      deadlines: { delivered: new Map(), in_progress: new Map(), retry: new Map() },
    };
    book.jobs.set(kept.jobId, job);
    book.jobOrder.push(kept.jobId);
    for (const group of kept.targets.groups) index(book.groupJobs, group, kept.jobId);
    for (const agentId of kept.targets.agents) index(book.agentJobs, agentId, kept.jobId);
    return { outcome: 'created', job: book.asCreated(job) };
  }

  /** The create's count (targetsOutcome) and, up to DRY_RUN_EXACT_TARGETS, its targets told apart; nothing kept. */
  async dryRun(targets: JobTargets, continuous: boolean): Promise<DryRunOutcome> {
    const { book } = this;
    const members = targets.groups.map((group) => book.groups.get(group)?.order.length ?? 0);
    const counted = members.reduce((sum, size) => sum + size, targets.agents.length);
    const verdict = targetsOutcome(counted, continuous);
    if (verdict === 'too_many_targets') return { outcome: verdict, counted };
    if (verdict === 'no_targets') return { outcome: verdict };
    let distinct: number | undefined;
    if (counted <= DRY_RUN_EXACT_TARGETS) {
      const chosen = new Set(targets.agents);
      for (const group of targets.groups) for (const member of book.groups.get(group)?.order ?? []) chosen.add(member.agentId);
      distinct = chosen.size;
    }
    return { outcome: 'ok', counted, members, distinct };
  }

  async get(jobId: string, now: number): Promise<JobSnapshot | undefined> {
    const job = this.book.liveJob(jobId, now);
    return job && this.book.snapshot(job, now);
  }

  /**
   * Newest first from `query.before`, at most the page's budget of jobs examined (budgetedPage);
   * a gone one among them leaves the listing then, as the Lua does.
   */
  async list(query: JobListQuery, now: number): Promise<JobListPage> {
    const { book } = this;
    const older: { jobId: string; seq: number }[] = [];
    for (let at = book.jobOrder.length - 1; at >= 0; at -= 1) {
      const jobId = book.jobOrder[at] as string;
      const seq = book.jobs.get(jobId)?.state.seq ?? 0;
      if (query.before === 0 || seq < query.before) older.push({ jobId, seq });
    }
    const shown = new Map<string, JobSnapshot>();
    const page = budgetedPage(older, query.limit, query.budget ?? JOB_PAGE_BUDGET, ({ jobId }) => {
      const job = book.liveJob(jobId, now);
      if (job === undefined) return 'gone';
      const snapshot = book.snapshot(job, now);
      if (query.statuses !== undefined && !query.statuses.includes(snapshot.status)) return 'other';
      shown.set(jobId, snapshot);
      return 'match';
    });
    return { jobs: page.taken.map(({ jobId }) => shown.get(jobId) as JobSnapshot), nextBefore: page.resume?.seq };
  }

  /**
   * Targets in target order from offset `query.after`, at most the page's budget of them examined
   * (budgetedPage); nextAfter is the offset the next page starts at.
   */
  async executions(jobId: string, query: ExecutionQuery, now: number): Promise<ExecutionPage | undefined> {
    const { book } = this;
    const job = book.liveJob(jobId, now);
    if (job === undefined) return undefined;
    book.meet(job, now);
    const shown = new Map<number, ExecutionEntry>();
    const ranks = function* () {
      for (let rank = query.after; rank < job.targets.length; rank += 1) yield rank;
    };
    const page = budgetedPage(ranks(), query.limit, query.budget ?? PAGE_BUDGET, (rank) => {
      const execution = this.executionOf(job, job.targets[rank] as string, now);
      // A target never leaves: one whose execution is past retention is passed over, as in the Lua.
      if (execution === undefined) return 'other';
      if (query.statuses !== undefined && !query.statuses.includes(execution.status)) return 'other';
      shown.set(rank, execution);
      return 'match';
    });
    return {
      executions: page.taken.map((rank) => shown.get(rank) as ExecutionEntry),
      nextAfter: page.resume === undefined ? undefined : page.resume + 1,
    };
  }

  /** One target alone at `now` (executionOf), with its execution's history. */
  async execution(jobId: string, agentId: string, now: number): Promise<ExecutionDetail> {
    const { book } = this;
    const job = book.liveJob(jobId, now);
    if (job === undefined) return { outcome: 'not_found' };
    if (!job.isTarget.has(agentId)) return { outcome: 'no_target' };
    book.meet(job, now);
    const entry = this.executionOf(job, agentId, now);
    if (entry === undefined) return { outcome: 'no_target' };
    const kept = entry.record === undefined ? undefined : book.queues.get(agentId)?.entries.get(jobId)?.history;
    return { outcome: 'ok', entry, history: [...(kept ?? [])] };
  }

  /** One target at `now`: its execution (settled), none past retention, or the arithmetic's status (rules.undeliveredStatus). */
  private executionOf(job: MemoryJob, agentId: string, now: number): ExecutionEntry | undefined {
    const jobId = job.state.spec.jobId;
    if (!job.execs.has(agentId)) {
      const { status, reason, endedAt } = undeliveredStatus(job.state, now);
      return { agentId, status, record: undefined, cancelReason: reason, endedAt };
    }
    const queue = this.book.queues.get(agentId);
    const entry = queue?.entries.get(jobId);
    if (entry === undefined) return undefined;
    // Past retention: not shown; its entry stays until the agent's list or poll drops it, as in Redis (the log keeps it).
    if (isGone(entry.record, now, this.book.retentionMs)) return undefined;
    this.book.settle(entry, now);
    const status = statusOf(entry.record, now);
    const cancelReason = status === 'canceled' ? entry.record.cancelReason : undefined;
    return { agentId, status, ...listedExecution(copy(entry.record), status), cancelReason, endedAt: undefined };
  }

  async cancel(jobId: string, cancellation: JobCancellation): Promise<CancelJobOutcome> {
    const job = this.book.liveJob(jobId, cancellation.at);
    if (job === undefined) return { outcome: 'not_found' };
    // Met, read and ended at endInstant: never before the job's last change (its end after every
    // execution's stamps even when the caller's clock is behind the one that made that change).
    const at = endInstant(job.state, cancellation.at);
    const timedOut = this.book.meet(job, at);
    const { outcome, state } = cancelJob(job.state, countsAt(job.state, timedOut, at), { ...cancellation, at });
    job.state = state;
    return { outcome, job: jobSnapshot(state, timedOut, at) };
  }

  async pause(jobId: string, change: JobPauseChange): Promise<PauseJobOutcome> {
    const job = this.book.liveJob(jobId, change.at);
    if (job === undefined) return { outcome: 'not_found' };
    const at = endInstant(job.state, change.at);
    const timedOut = this.book.meet(job, at);
    const { outcome, state } = pauseJob(job.state, countsAt(job.state, timedOut, at), { ...change, at });
    job.state = state;
    return { outcome, job: jobSnapshot(state, timedOut, at) };
  }
}

/** The four memory stores over one book, with the revocation store whose state admits requests. */
export interface MemoryStores {
  readonly commands: MemoryCommandStore;
  readonly groups: MemoryGroupStore;
  readonly jobs: MemoryJobStore;
  readonly revocations: MemoryRevocationStore;
  readonly connections: MemoryConnectionStore;
}

/** What the runtime makes without USE_REDIS: fresh stores over one new book, revocations on `nowSeconds`. */
export function createMemoryStores(
  options: { resultRetentionSeconds: number; revocationMode?: RevocationMode; rateLimit?: RateLimitSettings | undefined },
  nowSeconds: () => number,
): MemoryStores {
  const book = new MemoryJobBook(options);
  return {
    commands: new MemoryCommandStore(options, book),
    groups: new MemoryGroupStore(book),
    jobs: new MemoryJobStore(book),
    revocations: new MemoryRevocationStore(nowSeconds, options),
    connections: new MemoryConnectionStore(),
  };
}

/**
 * The memory stores as a backend (lib/store/types.ts StoreBackend): every action behind the
 * revocation store's gate when the view holding it is admitted, the store's own method otherwise.
 * Any stores with the memory stores' shape will do (tests pass counting wrappers).
 */
export function memoryBackend(stores: {
  readonly commands: CommandStore;
  readonly groups: UncheckedGroupStore;
  readonly jobs: JobStore;
  readonly revocations: RevocationStore & Gatekeeper;
  /** The push connection registry; its own by default. */
  readonly connections?: ConnectionStore;
}): StoreBackend {
  const { commands, groups, jobs, revocations } = stores;
  const connections = stores.connections ?? new MemoryConnectionStore();
  const gate = revocations;
  return {
    commands: {
      enqueue: gated(gate, commands.enqueue.bind(commands)),
      fetch: gated(gate, commands.fetch.bind(commands)),
      complete: gated(gate, commands.complete.bind(commands)),
      cancel: gated(gate, commands.cancel.bind(commands)),
      get: gated(gate, commands.get.bind(commands)),
      getDetail: gated(gate, commands.getDetail.bind(commands)),
      list: gated(gate, commands.list.bind(commands)),
      getConfig: gated(gate, commands.getConfig.bind(commands)),
      putConfig: gated(gate, commands.putConfig.bind(commands)),
      // Never gated (CommandStore.signExecutions says why).
      signExecutions: (_admission, agentId, entries) => commands.signExecutions(agentId, entries),
    },
    groups: {
      join: gated(gate, groups.join.bind(groups)),
      leave: gated(gate, groups.leave.bind(groups)),
      change: gated(gate, groups.change.bind(groups)),
      members: gated(gate, groups.members.bind(groups)),
      groupsOf: gated(gate, groups.groupsOf.bind(groups)),
    },
    jobs: {
      create: gated(gate, jobs.create.bind(jobs)),
      dryRun: gated(gate, jobs.dryRun.bind(jobs)),
      get: gated(gate, jobs.get.bind(jobs)),
      list: gated(gate, jobs.list.bind(jobs)),
      executions: gated(gate, jobs.executions.bind(jobs)),
      execution: gated(gate, jobs.execution.bind(jobs)),
      cancel: gated(gate, jobs.cancel.bind(jobs)),
      pause: gated(gate, jobs.pause.bind(jobs)),
    },
    revocations: {
      revokeToken: gated(gate, revocations.revokeToken.bind(revocations)),
      revokeSubject: gated(gate, revocations.revokeSubject.bind(revocations)),
      admit: async (admission) => gate.admitNow(admission),
      isRevoked: (token) => revocations.isRevoked(token),
      registerToken: (jti, expiresAt) => revocations.registerToken(jti, expiresAt),
    },
    connections: {
      register: gated(gate, connections.register.bind(connections)),
      remove: gated(gate, connections.remove.bind(connections)),
      ofAgents: gated(gate, connections.ofAgents.bind(connections)),
      byJti: gated(gate, connections.byJti.bind(connections)),
    },
  };
}

/**
 * The memory stores' one gate: with an admission, the decision (admitNow throws a refusal) and
 * then the action, both before the first await, so in one synchronous step; without one, the
 * action alone. A refusal rejects the returned promise, as a store failure does.
 */
function gated<A extends unknown[], R>(
  gate: Gatekeeper,
  action: (...args: A) => Promise<R>,
): (admission: Admission | undefined, ...args: A) => Promise<R> {
  return async (admission, ...args) => {
    if (admission !== undefined) gate.admitNow(admission);
    return action(...args);
  };
}
