/**
 * What every request leaves behind, written once at the end of its chain: the `X-Request-Id`
 * header (API Gateway's request id, the one in its access log) and ONE log line (INFO, or ERROR
 * for a 5xx, with its cause) with the route, status, agent, reason code and duration, which is
 * also the request's CloudWatch EMF document: its `_aws` member declares the metrics whose
 * values stand in the same line (Requests, Duration, the domain counts, StoreLatency by route and
 * status class; TokenRejected by reason; Unavailable by cause).
 *
 * Why not Powertools Metrics: it writes a second line per request (a third for a rejection or a
 * 503). Measured here, that line cost about 21 µs per request against 13 µs for the log line, and
 * at fleet scale every line is paid again in CloudWatch Logs ingestion (100,000 agents polling
 * every 30 s make 8.6 billion lines a month). The EMF format is the same one Powertools writes;
 * only where it goes changed. Powertools Logger still writes the line, with its level and format.
 *
 * Per-request state lives on the Lambda context object (never in module state), so the local
 * server's concurrent requests never mix their keys. Handlers add domain counts with `count()`.
 */
import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, requestKeys } from '../logger.ts';
import { takeStoreLatencies } from '../store/latency.ts';
import { type CountMetric, METRIC, METRICS_NAMESPACE } from './metric-names.ts';

export { type CountMetric, METRIC, METRICS_NAMESPACE } from './metric-names.ts';

/** Why a 503 was answered: a bounded set, one dimension value each (the issuer's key set: JWKS). */
export type UnavailableCause = 'store_timeout' | 'store_unreachable' | 'store_error' | 'key_set_unavailable';

/** The per-request record, on the context. */
export interface Observation {
  readonly started: number;
  readonly route: string;
  readonly requestId: string;
  readonly coldStart: boolean;
  /** The stable reason code of a 4xx (token rejections: the invalid_token description). */
  reason?: string | undefined;
  /** A rejected token's detail, for the log line only. */
  detail?: string | undefined;
  /** The agent named by a rejected token (a verified one is on context.auth). */
  agentId?: string | undefined;
  cause?: UnavailableCause | undefined;
  /** What went wrong on a 5xx, for the ERROR line: a message, or the unexpected error itself. */
  error?: unknown;
  counts?: Map<CountMetric, number>;
}

interface ObservedContext extends Context {
  observation?: Observation;
}

let metricsOn = process.env.POWERTOOLS_METRICS_DISABLED !== 'true';
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE;

/** Turns the EMF part of the request line on or off (tests; the local server keeps it off unless asked). */
export function useMetrics(on: boolean): void {
  metricsOn = on;
}

let coldStart = true;

/** The request's observation; undefined outside an observed chain. */
export function observation(context: Context): Observation | undefined {
  return (context as ObservedContext).observation;
}

/** Adds to one of the domain counts of this request (handlers: commands enqueued, delivered, ...). */
export function count(context: Context, name: CountMetric, value = 1): void {
  const seen = observation(context);
  if (seen === undefined) return;
  seen.counts ??= new Map();
  seen.counts.set(name, (seen.counts.get(name) ?? 0) + value);
}

/** The status class of a status code, as a dimension value: `2xx` ... `5xx`. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

function finish(request: middy.Request): void {
  const context = request.context as ObservedContext;
  const seen = context.observation;
  if (seen === undefined) return;
  const response = request.response as { statusCode?: number; headers?: Record<string, string | number | boolean> } | undefined;
  const status = response?.statusCode ?? 200;
  if (response) response.headers = { ...response.headers, 'X-Request-Id': seen.requestId };
  const durationMs = Math.round((performance.now() - seen.started) * 100) / 100;

  const agentId = (context as Context & { auth?: { sub: string } }).auth?.sub ?? seen.agentId;
  const line: Record<string, unknown> = {
    ...requestKeys(context),
    route: seen.route,
    status,
    duration_ms: durationMs,
  };
  if (agentId !== undefined) line.agent_id = agentId;
  if (seen.reason !== undefined) line.reason = seen.reason;
  if (seen.detail !== undefined) line.detail = seen.detail;
  if (status >= 500) {
    if (seen.cause !== undefined) line.cause = seen.cause;
    if (seen.error !== undefined) line.error = seen.error;
  }
  if (metricsOn) Object.assign(line, metricsOf(seen, status, durationMs));
  if (status >= 500) logger.error('request', line);
  else logger.info('request', line);
}

/**
 * The EMF members of the request line: `_aws` with one directive per dimension set, and the
 * values. `service` comes from the logger's own key, `route` and `reason`/`cause` are the line's.
 */
function metricsOf(seen: Observation, status: number, durationMs: number): Record<string, unknown> {
  const values: Record<string, unknown> = { status_class: statusClass(status), [METRIC.requests]: 1, [METRIC.duration]: durationMs };
  const byRoute: { Name: string; Unit: string }[] = [
    { Name: METRIC.requests, Unit: 'Count' },
    { Name: METRIC.duration, Unit: 'Milliseconds' },
  ];
  if (status === 429) {
    values[METRIC.rateLimited] = 1;
    byRoute.push({ Name: METRIC.rateLimited, Unit: 'Count' });
  }
  for (const [name, value] of seen.counts ?? []) {
    values[name] = value;
    byRoute.push({ Name: name, Unit: 'Count' });
  }
  const latencies = takeStoreLatencies();
  if (latencies.length > 0) {
    values[METRIC.storeLatency] = latencies.length === 1 ? latencies[0] : latencies;
    byRoute.push({ Name: METRIC.storeLatency, Unit: 'Milliseconds' });
  }
  const directives: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] = [
    { Namespace: namespace, Dimensions: [['service', 'route', 'status_class']], Metrics: byRoute },
  ];
  if (status === 401 && seen.reason !== undefined) {
    values[METRIC.tokenRejected] = 1;
    directives.push({
      Namespace: namespace,
      Dimensions: [['service', 'reason']],
      Metrics: [{ Name: METRIC.tokenRejected, Unit: 'Count' }],
    });
  }
  if (status === 503) {
    values.cause = seen.cause ?? 'store_error';
    values[METRIC.unavailable] = 1;
    directives.push({ Namespace: namespace, Dimensions: [['service', 'cause']], Metrics: [{ Name: METRIC.unavailable, Unit: 'Count' }] });
  }
  return { _aws: { Timestamp: Date.now(), CloudWatchMetrics: directives }, ...values };
}

/**
 * Use first in the chain: its before runs first (the clock starts), its after and onError last
 * (the answer, error answers included, is final by then).
 */
export function observe(): middy.MiddlewareObj {
  return {
    before: (request) => {
      const event = request.event as { routeKey?: string; requestContext?: { requestId?: string } } | undefined;
      const context = request.context as ObservedContext;
      context.observation = {
        started: performance.now(),
        route: event?.routeKey ?? '$default',
        requestId: event?.requestContext?.requestId ?? context.awsRequestId,
        coldStart,
      };
      coldStart = false;
    },
    after: finish,
    onError: finish,
  };
}
