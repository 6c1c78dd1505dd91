/**
 * Fleet jobs on both stores: the job store contract (with the command and group stores it shares
 * its state with) and the agent's side through the real handlers, in memory and on a real Redis
 * through the bridge; and the helpers' own arithmetic (the sliding-minute counter the rollout
 * cases rely on), so that a check that cannot fail does not pass for one that can.
 */
import { describe, expect, it } from 'vitest';
import { jobContract, jobHandlerContract, mostInAnyMinute, recount } from '../helpers/job-contract.ts';
import { storeTargets } from '../helpers/targets.ts';

describe('the job suites own arithmetic', () => {
  it('counts the most first deliveries in any sliding minute (s, s + 60 s]', () => {
    expect(mostInAnyMinute([])).toBe(0);
    expect(mostInAnyMinute([0, 30_000, 60_000])).toBe(2);
    expect(mostInAnyMinute([0, 30_000, 59_999])).toBe(3);
    expect(mostInAnyMinute([60_000, 0, 1, 59_999, 120_000])).toBe(3);
  });

  it('recounts executions by status', () => {
    const entry = (status: 'pending' | 'failed') => ({
      agentId: 'a',
      status,
      record: undefined,
      cancelReason: undefined,
      endedAt: undefined,
    });
    expect(recount([entry('pending'), entry('failed'), entry('failed')])).toMatchObject({ pending: 1, failed: 2, completed: 0 });
  });
});

describe.each(storeTargets('jobs'))('jobs on the $name store', (target) => {
  jobContract(target);
  jobHandlerContract(target);
});
