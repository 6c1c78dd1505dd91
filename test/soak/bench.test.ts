/**
 * The benchmark's quick mode runs end to end in a child Node process (bounded in time) and
 * every figure group produces numbers. Timings are never asserted: this machine is shared.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../bench/run.ts';
import { HAS_REDIS } from '../helpers/redis.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LIMIT_MS = 130_000;
/** Figure 8 starts a redis-server of its own, whether or not a Redis answers on REDIS_PORT. */
const HAS_REDIS_SERVER = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error === undefined;

async function runQuick(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.ts'), '--quick', `--json=${out}`], {
      cwd: ROOT,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', BENCH_OUT_DIR: path.join(path.dirname(out), 'bundles') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run bench -- --quick', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs every figure group and each produces numbers', { timeout: LIMIT_MS + 10_000 }, async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-test-'));
    const out = path.join(dir, 'report.json');
    const { code, output } = await runQuick(out);
    expect(code, output).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8')) as RunReport;
    expect(report.quick).toBe(true);
    expect(report.figures.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const numbers = (id: number) => {
      const figure = report.figures.find((f) => f.id === id);
      expect(figure?.status, figure?.reason).toBe('ok');
      return figure?.result?.numbers ?? {};
    };
    const positive = (value: number | undefined) => expect(Number.isFinite(value) && (value as number) > 0, String(value)).toBe(true);

    const verify = numbers(1);
    positive(verify.limitPerSec);
    positive(verify.verifyPerSec);
    positive(verify.verifyToLimit);

    const chain = numbers(2);
    positive(chain['GET /api/commands|production|perSec']);
    positive(chain['GET /api/commands|production|toLimit']);
    positive(chain['GET /api/commands|cacheOff|overhead']);
    positive(chain['POST /api/results|production|perSec']);
    positive(chain['GET /api/config|production|perSec']);

    const cold = numbers(3);
    positive(cold.emptyNodeMs);
    positive(cold['health|bytes']);
    positive(cold['get-commands|bytes']);
    positive(cold['get-commands|gzip']);
    positive(cold['health|toEmpty']);
    positive(cold['get-commands|toEmpty']);

    if (HAS_REDIS) {
      const trips = numbers(4);
      positive(trips.bareMs);
      positive(trips['GET /api/commands|trips']);
      positive(trips['GET /api/commands|toBare']);
      expect(trips['GET /health|trips']).toBe(0);
      const cost = numbers(6);
      positive(cost['poll|commands']);
      positive(cost['100000|on|before']);
      positive(cost['100000|on|after']);
      positive(cost['100000|on|cpsAfter']);
      const jobs = numbers(7);
      positive(jobs['create|500|ms']);
      positive(jobs['create|2000|trips']);
      positive(jobs['read|2000|ms']);
      expect(jobs['read|2000|trips']).toBe(1);
      expect(jobs['poll|trips']).toBe(1);
      // The poll that makes executions stores their signatures with one more call.
      expect(jobs['poll|first-trips']).toBe(2);
      const push = numbers(9);
      positive(push.p50Ms);
      positive(push.p99Ms);
      positive(push.jobSeconds);
      expect(push['100000|ratio']).toBeLessThan(0.2);
    } else {
      // Without a Redis (outside CI, where helpers/redis.ts has already warned) figures 4, 6 and 7 say SKIP.
      expect(report.figures.find((f) => f.id === 4)?.status).toBe('skipped');
      expect(report.figures.find((f) => f.id === 6)?.status).toBe('skipped');
      expect(report.figures.find((f) => f.id === 7)?.status).toBe('skipped');
      expect(report.figures.find((f) => f.id === 9)?.status).toBe('skipped');
    }

    if (HAS_REDIS_SERVER) {
      const redisTime = numbers(8);
      positive(redisTime['poll-empty|us']);
      positive(redisTime['poll-jobs-done|us']);
      positive(redisTime['create|100000|us']);
      positive(redisTime['page|100000|us']);
      positive(redisTime['capacity|jobsDone']);
      expect(Number.isFinite(redisTime['create|100000|maxUs'])).toBe(true);
      // A poll is one script (one Upstash command), jobs in play or not.
      expect(redisTime['poll-empty|scripts']).toBe(1);
      expect(redisTime['poll-jobs-done|scripts']).toBe(1);
    } else {
      expect(report.figures.find((f) => f.id === 8)?.status).toBe('skipped');
    }

    const http = numbers(5);
    positive(http.serviceRps);
    positive(http.bareRps);
    positive(http.ratio);
    expect(Number.isFinite(http.serviceErrors)).toBe(true);

    // Every target line is there, met or not.
    const targets = report.figures.flatMap((f) => f.result?.targets ?? []);
    expect(targets.length).toBeGreaterThanOrEqual(10);
    expect(output).toMatch(/== Targets: \d+ met, \d+ missed/);
  });
});
