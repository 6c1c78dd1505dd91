/**
 * Figure 6, the cost model: what one agent poll, one result and one enqueue cost at list prices,
 * and what a fleet costs a month, before and after the one-command admission (side by side).
 *
 * "After" is measured in this run: Upstash commands per request are figure 4's counts at the
 * bridge, and the handler's own time is figure 4's median per call less its Upstash round trips
 * (each a bare trip through the bridge on loopback, measured in the same rounds). "Before" is the
 * same handler time with the commands measured by figure 4 on the commit before the change
 * (BEFORE below). Lambda's billed duration is the handler's own time plus, per Upstash request
 * in sequence, NETWORK_MS (an assumption, not measured here: Lambda and Upstash in one region),
 * rounded up to the millisecond as Lambda bills. Before, the rate limiter's request was in flight
 * together with the revocation read, so it added commands, not time.
 *
 * The prices are PRICES below, with their date and source in bench/README.md; update both there.
 */
import type { FigureResult, TargetResult } from './stats.ts';
import { atMost, fmt, table } from './stats.ts';

/** List prices (USD) and the date they were read; bench/README.md says where from. */
export const PRICES = {
  asOf: '2026-12-01',
  upstashPerCommand: 0.2 / 100_000,
  apiGatewayPerRequest: 1.0 / 1_000_000,
  lambdaPerRequest: 0.2 / 1_000_000,
  lambdaPerGbSecond: 0.0000133334,
} as const;

/** Lambda memory the stack configures (infra/function.ts FUNCTION_DEFAULTS.memorySize). */
export const MEMORY_MB = 256;
/** Assumed time of one Upstash REST request from Lambda in the same region. */
export const NETWORK_MS = 2;

/**
 * Upstash commands per request before this change, measured by figure 4 (commit 798da53,
 * `npm run bench`): the revocation MGET, the action's command, and with the rate limit on the
 * limiter's EVALSHA (sent together with the MGET).
 */
export const BEFORE = {
  poll: { off: 2, on: 3, sequential: 2 },
  result: { off: 2, on: 3, sequential: 2 },
  enqueue: { off: 2, on: 3, sequential: 2 },
} as const;

const REQUESTS = [
  { kind: 'poll', endpoint: 'GET /api/commands' },
  { kind: 'result', endpoint: 'POST /api/results' },
  { kind: 'enqueue', endpoint: 'POST /api/agents/{id}/commands' },
] as const;

const SECONDS_PER_MONTH = 30 * 86_400;
const POLL_SECONDS = 30;

interface PerRequest {
  readonly commands: number;
  readonly lambdaMs: number;
}

function dollars(request: PerRequest): number {
  const gbSeconds = (Math.ceil(request.lambdaMs) / 1000) * (MEMORY_MB / 1024);
  return (
    request.commands * PRICES.upstashPerCommand +
    PRICES.apiGatewayPerRequest +
    PRICES.lambdaPerRequest +
    gbSeconds * PRICES.lambdaPerGbSecond
  );
}

/** A month of a fleet: every agent polls every 30 s and gets (and answers) one command a day. */
function month(agents: number, per: Record<'poll' | 'result' | 'enqueue', PerRequest>) {
  const polls = agents * (SECONDS_PER_MONTH / POLL_SECONDS);
  const daily = agents * 30;
  const cost = polls * dollars(per.poll) + daily * (dollars(per.result) + dollars(per.enqueue));
  const upstash =
    polls * per.poll.commands * PRICES.upstashPerCommand + daily * (per.result.commands + per.enqueue.commands) * PRICES.upstashPerCommand;
  const commandsPerSecond = (polls * per.poll.commands + daily * (per.result.commands + per.enqueue.commands)) / SECONDS_PER_MONTH;
  return { cost, upstash, commandsPerSecond };
}

/** From figure 4's numbers of the same run. */
export function costFigure(roundTrips: Record<string, number>): FigureResult {
  const bareOff = roundTrips.bareOffMs ?? Number.NaN;
  const bareOn = roundTrips.bareOnMs ?? Number.NaN;
  const rows: string[][] = [];
  const numbers: Record<string, number> = {};
  const after = { off: {} as Record<string, PerRequest>, on: {} as Record<string, PerRequest> };
  const before = { off: {} as Record<string, PerRequest>, on: {} as Record<string, PerRequest> };
  for (const { kind, endpoint } of REQUESTS) {
    const offTrips = roundTrips[`${endpoint}|trips`] ?? Number.NaN;
    const onTrips = roundTrips[`${endpoint}|tripsRateLimited`] ?? Number.NaN;
    // The handler's own time: measured per call, less its round trips to the bridge.
    const ownMs = Math.max(0, (roundTrips[`${endpoint}|ms`] ?? Number.NaN) - offTrips * bareOff);
    const ownOnMs = Math.max(0, (roundTrips[`${endpoint}|msRateLimited`] ?? Number.NaN) - onTrips * bareOn);
    after.off[kind] = { commands: offTrips, lambdaMs: ownMs + offTrips * NETWORK_MS };
    after.on[kind] = { commands: onTrips, lambdaMs: ownOnMs + onTrips * NETWORK_MS };
    const was = BEFORE[kind];
    before.off[kind] = { commands: was.off, lambdaMs: ownMs + was.sequential * NETWORK_MS };
    before.on[kind] = { commands: was.on, lambdaMs: ownOnMs + was.sequential * NETWORK_MS };
    const perMillion = (r: PerRequest | undefined) => (r === undefined ? Number.NaN : dollars(r) * 1_000_000);
    rows.push([
      `${kind} (${endpoint})`,
      `${fmt(was.off, 0)} / ${fmt(was.on, 0)}`,
      `${fmt(offTrips, 2)} / ${fmt(onTrips, 2)}`,
      '1',
      fmt(ownMs, 2),
      `${fmt(Math.ceil(before.off[kind]?.lambdaMs ?? Number.NaN), 0)} → ${fmt(Math.ceil(after.off[kind]?.lambdaMs ?? Number.NaN), 0)}`,
      `${fmt(perMillion(before.off[kind]), 2)} → ${fmt(perMillion(after.off[kind]), 2)}`,
      `${fmt(perMillion(before.on[kind]), 2)} → ${fmt(perMillion(after.on[kind]), 2)}`,
    ]);
    numbers[`${kind}|commands`] = offTrips;
    numbers[`${kind}|commandsRateLimited`] = onTrips;
    numbers[`${kind}|ownMs`] = ownMs;
  }
  const fleetRows: string[][] = [];
  for (const agents of [1_000, 100_000]) {
    for (const limit of ['off', 'on'] as const) {
      const b = month(agents, before[limit] as Record<'poll' | 'result' | 'enqueue', PerRequest>);
      const a = month(agents, after[limit] as Record<'poll' | 'result' | 'enqueue', PerRequest>);
      fleetRows.push([
        `${fmt(agents)} agents, rate limit ${limit}`,
        `$${fmt(b.cost, 0)} → $${fmt(a.cost, 0)}`,
        `$${fmt(b.upstash, 0)} → $${fmt(a.upstash, 0)}`,
        `${fmt(b.commandsPerSecond, 0)} → ${fmt(a.commandsPerSecond, 0)}`,
      ]);
      numbers[`${agents}|${limit}|before`] = b.cost;
      numbers[`${agents}|${limit}|after`] = a.cost;
      numbers[`${agents}|${limit}|cpsBefore`] = b.commandsPerSecond;
      numbers[`${agents}|${limit}|cpsAfter`] = a.commandsPerSecond;
    }
  }
  const targets: TargetResult[] = [
    atMost('6', 'Upstash commands per agent poll (rate limit on)', numbers['poll|commandsRateLimited'] ?? Number.NaN, 1, '', 2),
  ];
  const text = [
    table(
      [
        'request',
        'Upstash cmds before (off / on)',
        'after (off / on)',
        'API GW',
        'handler ms (own)',
        'Lambda ms billed',
        '$ per million, limit off',
        '$ per million, limit on',
      ],
      rows,
    ),
    '',
    table(
      ['fleet, 30 s polls, 1 command a day each', 'pay-as-you-go $/month', 'of it Upstash', 'Upstash commands/s (fixed plan)'],
      fleetRows,
    ),
    `prices as of ${PRICES.asOf} (bench/README.md): Upstash $0.20 per 100K commands; API Gateway HTTP API $1.00 per million; ` +
      `Lambda arm64 $0.20 per million + $${PRICES.lambdaPerGbSecond} per GB-s at ${MEMORY_MB} MB; ${NETWORK_MS} ms assumed per Upstash request ` +
      'in the same region; one HTTP request per command (auto-pipelining off); free tiers left out; a 30-day month.',
  ].join('\n');
  return { title: '6. Cost model (list prices; before → after this change, side by side)', text, targets, numbers };
}
