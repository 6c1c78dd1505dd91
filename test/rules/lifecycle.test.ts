/**
 * The lifecycle rules as pure functions of (record, time, event): every transition from every
 * state, the forbidden ones included, and the instants at which time alone ends a command.
 */
import { describe, expect, it } from 'vitest';
import {
  applyReport,
  cancel,
  changeAt,
  delivered,
  endedAt,
  goneAt,
  idempotency,
  isDeliverable,
  isTerminal,
  listPage,
  statusOf,
  updatedAtOf,
  budgetedPage,
  type Met,
} from '../../lib/commands/lifecycle.ts';
import type { CommandRecord, CommandStatus, Report } from '../../lib/commands/model.ts';

const T0 = Date.UTC(2026, 0, 1);
const RETENTION = 60_000;
const base: CommandRecord = { commandId: 'c1', agentId: 'a1', command: 'run', args: {}, createdAt: T0, expiresAt: T0 + 10_000 };

/** A final result; `null` for one without a body. */
const result = (status: 'completed' | 'failed' | 'rejected', at: number, resultJson: string | null = '{"ok":true}'): Report => ({
  status,
  resultJson: resultJson ?? undefined,
  completedAt: at,
});
const progress = (at: number, extra: { statusDetailsJson?: string; timeoutMs?: number } = {}): Report => ({
  status: 'in_progress',
  statusDetailsJson: extra.statusDetailsJson,
  timeoutMs: extra.timeoutMs,
  at,
});
const recordOf = (record: CommandRecord | undefined) => {
  if (record === undefined) throw new Error('no record');
  return record;
};

/** A record in each state at T0 + 100, built only through the transitions. */
function inState(status: CommandStatus): { record: CommandRecord; at: number } {
  const at = T0 + 100;
  const fetched = delivered({ ...base, timeoutMs: 5_000 }, T0 + 10);
  switch (status) {
    case 'pending':
      return { record: base, at };
    case 'delivered':
      return { record: fetched, at };
    case 'in_progress':
      return { record: recordOf(applyReport(fetched, progress(T0 + 20), RETENTION).record), at };
    case 'completed':
    case 'failed':
    case 'rejected':
      return { record: recordOf(applyReport(fetched, result(status, T0 + 20), RETENTION).record), at };
    case 'canceled':
      return { record: recordOf(cancel(fetched, { reason: 'r', at: T0 + 20 }, RETENTION).record), at };
    case 'timed_out':
      return { record: fetched, at: T0 + 10 + 5_000 };
    case 'expired':
      return { record: base, at: base.expiresAt };
  }
}

const ALL: CommandStatus[] = ['pending', 'delivered', 'in_progress', 'completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired'];
const OPEN = ALL.filter((status) => !isTerminal(status));
const TERMINAL = ALL.filter(isTerminal);

describe('states', () => {
  it.each(ALL)('%s is reached through the transitions and read as such', (status) => {
    const { record, at } = inState(status);
    expect(statusOf(record, at)).toBe(status);
  });

  it('pending, delivered and in_progress are open and delivered again; every other state is terminal and never delivered', () => {
    expect(OPEN).toEqual(['pending', 'delivered', 'in_progress']);
    for (const status of ALL) expect(isDeliverable(inState(status).record, inState(status).at), status).toBe(!isTerminal(status));
  });
});

describe('delivery', () => {
  it('counts every fetch, stamps delivered_at and updated_at once, and starts the deadline at the first', () => {
    const first = delivered({ ...base, timeoutMs: 5_000 }, T0 + 10);
    const second = delivered(first, T0 + 50);

    expect(first).toMatchObject({ deliveredAt: T0 + 10, deliveryCount: 1, updatedAt: T0 + 10, deadlineAt: T0 + 5_010 });
    expect(second).toMatchObject({ deliveredAt: T0 + 10, deliveryCount: 2, updatedAt: T0 + 10, deadlineAt: T0 + 5_010 });
  });

  it('sets no deadline for a command without a timeout', () => {
    expect(delivered(base, T0 + 10).deadlineAt).toBeUndefined();
  });
});

describe('progress (in_progress)', () => {
  it.each(OPEN)('from %s: becomes in_progress, details replaced, updated_at moved, started_at kept from the first', (status) => {
    const { record, at } = inState(status);
    const first = applyReport(record, progress(at, { statusDetailsJson: '{"step":"1"}' }), RETENTION);
    const second = applyReport(recordOf(first.record), progress(at + 5, { statusDetailsJson: '{"step":"2"}' }), RETENTION);

    expect(first.outcome).toEqual({ outcome: 'accepted', status: 'in_progress' });
    expect(second.outcome).toEqual({ outcome: 'accepted', status: 'in_progress' });
    expect(second.record).toMatchObject({ statusDetailsJson: '{"step":"2"}', updatedAt: at + 5, startedAt: record.startedAt ?? at });
  });

  it('keeps the details when an update carries none', () => {
    const { record, at } = inState('in_progress');
    const withDetails = recordOf(applyReport(record, progress(at, { statusDetailsJson: '{"a":"b"}' }), RETENTION).record);
    expect(recordOf(applyReport(withDetails, progress(at + 1), RETENTION).record).statusDetailsJson).toBe('{"a":"b"}');
  });

  it('moves the deadline to now + a step timeout, earlier or later', () => {
    const { record, at } = inState('delivered');
    const later = recordOf(applyReport(record, progress(at, { timeoutMs: 60_000 }), RETENTION).record);
    const earlier = recordOf(applyReport(later, progress(at + 1, { timeoutMs: 1_000 }), RETENTION).record);

    expect(later.deadlineAt).toBe(at + 60_000);
    expect(earlier.deadlineAt).toBe(at + 1_001);
    expect(statusOf(earlier, at + 1_000)).toBe('in_progress');
    expect(statusOf(earlier, at + 1_001)).toBe('timed_out');
  });

  it('starts the timeout of a command never delivered', () => {
    const record = { ...base, timeoutMs: 2_000 };
    expect(recordOf(applyReport(record, progress(T0 + 5), RETENTION).record).deadlineAt).toBe(T0 + 2_005);
  });

  it.each(TERMINAL)('from %s: refused with that state, nothing changed', (status) => {
    const { record, at } = inState(status);
    const answer = applyReport(record, progress(at, { statusDetailsJson: '{"x":"y"}', timeoutMs: 60_000 }), RETENTION);

    expect(answer.outcome).toEqual({ outcome: 'refused', status });
    expect(answer.record).toBe(record);
  });
});

describe('final results (completed, failed, rejected)', () => {
  it.each(OPEN.flatMap((from) => (['completed', 'failed', 'rejected'] as const).map((to) => [from, to] as const)))(
    'from %s to %s: accepted, completed_at and updated_at set',
    (from, to) => {
      const { record, at } = inState(from);
      const answer = applyReport(record, result(to, at), RETENTION);

      expect(answer.outcome).toEqual({ outcome: 'accepted', status: to });
      expect(answer.record).toMatchObject({ resultStatus: to, completedAt: at, updatedAt: at, resultJson: '{"ok":true}' });
      expect(statusOf(recordOf(answer.record), at + 1e9)).toBe(to);
    },
  );

  it.each(['completed', 'failed', 'rejected'] as const)('the same %s result again is a duplicate; any other is refused', (status) => {
    const { record, at } = inState(status);
    expect(applyReport(record, result(status, at), RETENTION).outcome).toEqual({ outcome: 'duplicate', status });
    expect(applyReport(record, result(status, at, '{"ok":false}'), RETENTION).outcome).toEqual({ outcome: 'refused', status });
    expect(applyReport(record, result(status, at, null), RETENTION).outcome).toEqual({ outcome: 'refused', status });
    const other = status === 'completed' ? 'failed' : 'completed';
    expect(applyReport(record, result(other, at), RETENTION).outcome).toEqual({ outcome: 'refused', status });
  });

  it.each(['timed_out', 'canceled', 'expired'] as const)('after %s: refused with that state', (status) => {
    const { record, at } = inState(status);
    const answer = applyReport(record, result('completed', at), RETENTION);
    expect(answer.outcome).toEqual({ outcome: 'refused', status });
    expect(answer.record).toBe(record);
  });

  it('not_found for no record, and for one past retention', () => {
    const { record } = inState('completed');
    expect(applyReport(undefined, result('completed', T0), RETENTION).outcome).toEqual({ outcome: 'not_found' });
    expect(applyReport(record, result('completed', goneAt(record, RETENTION)), RETENTION).outcome).toEqual({ outcome: 'not_found' });
    expect(applyReport(record, result('completed', goneAt(record, RETENTION) - 1), RETENTION).outcome.outcome).toBe('duplicate');
  });
});

describe('cancel', () => {
  it.each(OPEN)('from %s: canceled, with its reason, at once', (status) => {
    const { record, at } = inState(status);
    const answer = cancel(record, { reason: 'no longer needed', at }, RETENTION);

    expect(answer.outcome).toEqual({ outcome: 'accepted', status: 'canceled' });
    expect(answer.record).toMatchObject({ resultStatus: 'canceled', completedAt: at, updatedAt: at, cancelReason: 'no longer needed' });
    expect(isDeliverable(recordOf(answer.record), at)).toBe(false);
  });

  it('keeps no reason when none is given', () => {
    expect(recordOf(cancel(base, { reason: undefined, at: T0 + 1 }, RETENTION).record)).not.toHaveProperty('cancelReason');
  });

  it.each(TERMINAL)('from %s: refused with that state', (status) => {
    const { record, at } = inState(status);
    expect(cancel(record, { reason: undefined, at }, RETENTION)).toEqual({ outcome: { outcome: 'refused', status }, record });
  });

  it('not_found past retention', () => {
    const { record } = inState('canceled');
    expect(cancel(record, { reason: undefined, at: goneAt(record, RETENTION) }, RETENTION).outcome).toEqual({ outcome: 'not_found' });
  });
});

describe('a clock behind the last change (changeAt)', () => {
  // Delivered by a caller whose clock read T0 + 5 s; the next change comes from one at T0 + 1 s.
  const fetched = delivered({ ...base, timeoutMs: 60_000 }, T0 + 5_000);
  const behind = T0 + 1_000;

  it('stamps a change at the last one, never before it', () => {
    expect(changeAt(fetched, behind)).toBe(T0 + 5_000);
    expect(changeAt(fetched, T0 + 6_000)).toBe(T0 + 6_000);
    expect(changeAt(base, T0 - 1)).toBe(T0);
  });

  it('progress, a result and a cancel are stamped at or after the delivery', () => {
    const started = recordOf(applyReport(fetched, progress(behind, { timeoutMs: 1_000 }), RETENTION).record);
    expect(started).toMatchObject({ startedAt: T0 + 5_000, updatedAt: T0 + 5_000, deadlineAt: T0 + 6_000 });
    const done = recordOf(applyReport(started, result('completed', behind), RETENTION).record);
    expect(done).toMatchObject({ completedAt: T0 + 5_000, updatedAt: T0 + 5_000 });
    const canceled = recordOf(cancel(fetched, { reason: undefined, at: behind }, RETENTION).record);
    expect(canceled).toMatchObject({ resultStatus: 'canceled', completedAt: T0 + 5_000, deliveredAt: T0 + 5_000 });
  });
});

describe('time alone', () => {
  it('times out at deadline_at exactly, and reads completed_at and updated_at as that instant', () => {
    const record = delivered({ ...base, timeoutMs: 1_000 }, T0);
    expect(statusOf(record, T0 + 999)).toBe('delivered');
    expect(statusOf(record, T0 + 1_000)).toBe('timed_out');
    expect(endedAt(record, T0 + 999)).toBeUndefined();
    expect(endedAt(record, T0 + 5_000)).toBe(T0 + 1_000);
    expect(updatedAtOf(record, T0 + 5_000)).toBe(T0 + 1_000);
  });

  it('expires at expires_at exactly; a tie with the deadline is expired, an earlier expiry wins over a later deadline', () => {
    const tie = { ...base, deadlineAt: base.expiresAt };
    const late = { ...base, deadlineAt: base.expiresAt + 1 };
    expect(statusOf(base, base.expiresAt - 1)).toBe('pending');
    expect(statusOf(base, base.expiresAt)).toBe('expired');
    expect(statusOf(tie, base.expiresAt)).toBe('expired');
    expect(statusOf(late, base.expiresAt)).toBe('expired');
  });

  it('a written end wins over a later deadline or expiry', () => {
    const { record } = inState('completed');
    expect(statusOf(record, record.expiresAt + 1)).toBe('completed');
  });

  it('is gone at the end plus retention: completed_at, else the earlier of deadline and expiry', () => {
    expect(goneAt(base, RETENTION)).toBe(base.expiresAt + RETENTION);
    expect(goneAt({ ...base, deadlineAt: T0 + 1 }, RETENTION)).toBe(T0 + 1 + RETENTION);
    expect(goneAt({ ...base, completedAt: T0 + 2 }, RETENTION)).toBe(T0 + 2 + RETENTION);
  });
});

describe('listing', () => {
  const entries = [1, 2, 3, 4, 5].map((seq) => ({ seq, record: { ...base, commandId: `c${seq}`, expiresAt: T0 + seq * 1_000 } }));

  it('pages in order, with the last sequence as the cursor only while more follow', () => {
    const first = listPage(entries, { statuses: undefined, limit: 2, after: 0 }, T0, RETENTION);
    const last = listPage(entries, { statuses: undefined, limit: 3, after: 2 }, T0, RETENTION);

    expect(first.records.map((r) => r.commandId)).toEqual(['c1', 'c2']);
    expect(first.nextAfter).toBe(2);
    expect(last.records.map((r) => r.commandId)).toEqual(['c3', 'c4', 'c5']);
    expect(last.nextAfter).toBeUndefined();
  });

  it('filters by the status at now, and leaves out what is gone', () => {
    const now = T0 + 2_500;
    expect(listPage(entries, { statuses: ['expired'], limit: 10, after: 0 }, now, RETENTION).records.map((r) => r.commandId)).toEqual([
      'c1',
      'c2',
    ]);
    expect(listPage(entries, { statuses: ['expired'], limit: 1, after: 0 }, now, RETENTION).nextAfter).toBe(1);
    expect(listPage(entries, { statuses: undefined, limit: 10, after: 0 }, T0 + 1_000 + RETENTION, RETENTION).records).toHaveLength(4);
  });

  it('examines at most the budget of entries not gone: a short or empty page with a cursor, null only at the end', () => {
    const now = T0 + 2_500;
    // c1, c2 expired, c3..c5 pending at `now`.
    expect(listPage(entries, { statuses: ['pending'], limit: 5, after: 0, budget: 2 }, now, RETENTION)).toEqual({
      records: [],
      nextAfter: 2,
    });
    expect(listPage(entries, { statuses: ['pending'], limit: 5, after: 2, budget: 2 }, now, RETENTION).nextAfter).toBe(4);
    expect(listPage(entries, { statuses: ['pending'], limit: 5, after: 4, budget: 2 }, now, RETENTION).nextAfter).toBeUndefined();
    // Gone entries (c1, c2 past retention) do not count against the budget.
    const later = T0 + 2_000 + RETENTION;
    const page = listPage(entries, { statuses: undefined, limit: 5, after: 0, budget: 2 }, later, RETENTION);
    expect(page.records.map((r) => r.commandId)).toEqual(['c3', 'c4']);
    expect(page.nextAfter).toBe(4);
  });
});

describe('budgetedPage', () => {
  const met = (kinds: string) => (i: number) => ({ g: 'gone', m: 'match', o: 'other' })[kinds[i] as 'g' | 'm' | 'o'] as Met;
  const walk = (kinds: string, limit: number, budget: number, pruneBudget?: number) =>
    budgetedPage([...kinds].keys(), limit, budget, met(kinds), pruneBudget);

  it('stops at the first match past limit, resuming after the entry before it', () => {
    expect(walk('momom', 2, 10)).toEqual({ taken: [0, 2], resume: 3 });
    expect(walk('mm', 2, 10)).toEqual({ taken: [0, 1], resume: undefined });
  });

  it('stops at the first entry not gone past the budget, resuming after the last examined', () => {
    expect(walk('ooooo', 1, 3)).toEqual({ taken: [], resume: 2 });
    expect(walk('ooog', 1, 3)).toEqual({ taken: [], resume: undefined });
    expect(walk('oooggo', 1, 3)).toEqual({ taken: [], resume: 2 });
  });

  it('resumes where it would without the gone entries, until their own allowance runs out', () => {
    expect(walk('gogogom', 1, 2)).toEqual({ taken: [], resume: 3 });
    expect(walk('gggm', 1, 5, 2)).toEqual({ taken: [], resume: 1 });
  });

  it('examines only the entries it counts, and one more', () => {
    const seen: number[] = [];
    budgetedPage([0, 1, 2, 3, 4, 5], 1, 2, (i) => {
      seen.push(i);
      return 'other';
    });
    expect(seen).toEqual([0, 1, 2]);
  });
});

describe('idempotency', () => {
  const entry = { fingerprint: 'f', commandId: 'c1', until: T0 + 1_000 };

  it('creates for a new key, a lapsed one or one whose command is gone; replays the same request; refuses another', () => {
    expect(idempotency(undefined, 'f', T0, false)).toBe('create');
    expect(idempotency(entry, 'f', T0 + 999, true)).toBe('replay');
    expect(idempotency(entry, 'g', T0 + 999, true)).toBe('mismatch');
    expect(idempotency(entry, 'g', T0 + 1_000, true)).toBe('create');
    expect(idempotency(entry, 'f', T0, false)).toBe('create');
  });
});
