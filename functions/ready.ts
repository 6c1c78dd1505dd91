/**
 * GET /ready: readiness, no token. One PING to the store (Upstash) on a client of its own with a
 * short timeout (READY_TIMEOUT_MS, or REDIS_TIMEOUT_MS when shorter): 200 when it answers, 503
 * `temporarily_unavailable` naming the dependency otherwise. The in-memory store lives in the
 * process and is always ready. Reads only the store's settings and the Upstash token, never the
 * JWT key (its role may read the Upstash secret only). GET /health stays liveness.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadStoreSettings, type StoreSettings } from '../lib/config.ts';
import { chainOptions, edge, json } from '../lib/http/edge.ts';
import { unavailable } from '../lib/http/errors.ts';
import { loadSecrets } from '../lib/secrets.ts';
import { createRedisClient } from '../lib/store/upstash.ts';

export const READY_TIMEOUT_MS = 500;

type Probe = () => Promise<void>;

function storeProbe(settings: StoreSettings): Probe {
  if (!settings.useRedis) return async () => {};
  const redis = createRedisClient({ ...settings, redisTimeoutMs: Math.min(settings.redisTimeoutMs, READY_TIMEOUT_MS) });
  return async () => {
    const answer = await redis.ping();
    if (answer !== 'PONG') throw new Error(`PING answered ${JSON.stringify(answer)}`);
  };
}

let probe: Promise<Probe> | undefined;

/** Points the check at these settings (the local server, tests); by default it reads the environment once. */
export function setReadinessStore(settings: StoreSettings): void {
  probe = Promise.resolve(storeProbe(settings));
}

function currentProbe(): Promise<Probe> {
  probe ??= loadSecrets(process.env).then((env) => storeProbe(loadStoreSettings(env)));
  return probe.catch((error: unknown) => {
    probe = undefined;
    throw error;
  });
}

export async function ready(_event: unknown, _context: Context) {
  const check = await currentProbe();
  try {
    await check();
  } catch (error) {
    throw unavailable('not ready: the store (Redis) did not answer', error);
  }
  return json(200, { status: 'ready', checks: { store: 'ok' } });
}

export const handler = middy(ready, chainOptions).use(edge());
