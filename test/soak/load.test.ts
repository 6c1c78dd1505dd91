/**
 * Load: the local server (its own process, as `npm start` runs it) on real Redis through its
 * Upstash bridge, 50 concurrent agents mixing fetch, post and whoami while operators enqueue.
 * Zero 5xx, zero lost or duplicated results (everything accepted is read back), nothing shown to
 * another agent, memory flat after warm-up.
 *
 * Short by default (CI): 4 seconds. The full run (a few minutes):
 *
 *   LOAD_SECONDS=180 npm run test:soak -- test/soak/load.test.ts
 *
 * LOAD_CONNECTIONS (default 50) sets the number of concurrent agents. Figures are printed.
 * LOAD_REDIS_TIMEOUT_MS (default 5000) is the server's REDIS_TIMEOUT_MS here: this test is about
 * correctness under load, and on a shared 2-core machine a Redis call can wait longer than the
 * production default of 1000 ms for a CPU; answers to a slow Redis are test/soak/outage.test.ts's job.
 */
import { describe, expect, it } from 'vitest';
import { agentWorker, Ledger, makeFleet, operatorWorker, readBack, serverOnRedis } from '../helpers/load.ts';
import { HAS_REDIS } from '../helpers/redis.ts';

const SECONDS = Number(process.env.LOAD_SECONDS || 4);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS || 50);
const REDIS_TIMEOUT_MS = process.env.LOAD_REDIS_TIMEOUT_MS || '5000';
const MB = 1024 * 1024;

describe.skipIf(!HAS_REDIS)(`load: ${CONNECTIONS} agents for ${SECONDS} s on real Redis`, () => {
  const running = serverOnRedis('load', REDIS_TIMEOUT_MS);

  it(
    'answers every request without a 5xx, loses and duplicates nothing, and keeps its memory flat',
    async () => {
      const fleet = await makeFleet(CONNECTIONS);
      const ledger = new Ledger();
      const started = performance.now();
      const until = started + SECONDS * 1000;

      // Memory of the server process: sampled through the run; "warm" is after the first quarter.
      const rss: { at: number; bytes: number }[] = [];
      const sampler = setInterval(() => rss.push({ at: performance.now() - started, bytes: running.server.rss() }), 250);

      const operators = Math.max(2, Math.round(CONNECTIONS / 10));
      await Promise.all([
        ...Array.from({ length: operators }, () => operatorWorker(running.server.url, fleet, ledger, until)),
        ...fleet.agents.map((agent) => agentWorker(running.server.url, fleet, agent, ledger, until)),
      ]);
      clearInterval(sampler);
      const elapsed = (performance.now() - started) / 1000;

      const problems = await readBack(running.server.url, fleet, ledger);
      const total = ledger.answers();
      const warm = rss.filter((s) => s.at >= (SECONDS * 1000) / 4);
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      const half = Math.floor(warm.length / 2);
      const early = median(warm.slice(0, half).map((s) => s.bytes));
      const late = median(warm.slice(half).map((s) => s.bytes));
      const peak = Math.max(...rss.map((s) => s.bytes));

      console.info(
        [
          `load: ${total} requests in ${elapsed.toFixed(1)} s (${Math.round(total / elapsed)}/s) from ${CONNECTIONS} agents and ${operators} operators`,
          `  answers: ${JSON.stringify(ledger.tally())}`,
          `  enqueued ${ledger.enqueued.size}, results accepted ${ledger.accepted.size}, read back ${ledger.enqueued.size} commands: ${problems.length} problems`,
          `  server RSS after warm-up: median ${(early / MB).toFixed(0)} MB (first half) → ${(late / MB).toFixed(0)} MB (second half), peak ${(peak / MB).toFixed(0)} MB`,
        ].join('\n'),
      );

      const failures = ledger.answers((status) => status >= 500);
      if (failures > 0) console.info(`server log (last lines):\n${running.server.output()}`);

      expect(ledger.errors.slice(0, 5), 'requests without an HTTP answer').toEqual([]);
      expect(
        ledger.answers((status) => status >= 500),
        'answers 5xx',
      ).toBe(0);
      expect(
        ledger.answers((status) => status !== 200 && status !== 201),
        'answers other than 200/201',
      ).toBe(0);
      expect(ledger.violations.slice(0, 5)).toEqual([]);
      expect(problems.slice(0, 5)).toEqual([]);
      expect(ledger.accepted.size).toBeGreaterThan(0);
      expect(total).toBeGreaterThan(CONNECTIONS * SECONDS);
      // Flat: the second half of the run after warm-up holds no more than the first half plus a
      // margin for GC timing (generous on short CI runs; on long runs a leak shows up here).
      expect(late, `RSS grew from ${early} to ${late}`).toBeLessThan(early * 1.25 + 48 * MB);
    },
    SECONDS * 1000 + 120_000,
  );
});
