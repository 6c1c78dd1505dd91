/**
 * What every request leaves behind, written once at the end of its chain: the `X-Request-Id`
 * header (API Gateway's request id, the one in its access log), ONE log line (INFO, or ERROR for
 * a 5xx, with its cause) with the route, status, agent, reason code and duration, and ONE
 * CloudWatch EMF line of metrics (Powertools Metrics), plus a second one only for a token
 * rejection or a 503 (their bounded `reason` / `cause` dimension).
 *
 * Per-request state lives on the Lambda context object (never in module state), so the local
 * server's concurrent requests never mix their keys. Handlers add domain counts with `count()`.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
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

let metrics: Metrics | undefined = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'biz-service',
});

/** Replaces where metrics go (tests capture them; the local server turns them off with undefined). */
export function useMetrics(next: Metrics | undefined): void {
  metrics = next;
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
    logger.error('request', line);
  } else {
    logger.info('request', line);
  }

  if (metrics !== undefined) emit(metrics, seen, status, durationMs);
}

function emit(sink: Metrics, seen: Observation, status: number, durationMs: number): void {
  sink.addDimensions({ route: seen.route, status_class: statusClass(status) });
  sink.addMetric(METRIC.requests, MetricUnit.Count, 1);
  sink.addMetric(METRIC.duration, MetricUnit.Milliseconds, durationMs);
  if (status === 429) sink.addMetric(METRIC.rateLimited, MetricUnit.Count, 1);
  for (const [name, value] of seen.counts ?? []) sink.addMetric(name, MetricUnit.Count, value);
  for (const ms of takeStoreLatencies()) sink.addMetric(METRIC.storeLatency, MetricUnit.Milliseconds, ms);
  sink.publishStoredMetrics();
  if (status === 401 && seen.reason !== undefined) {
    const single = sink.singleMetric();
    single.addDimension('reason', seen.reason);
    single.addMetric(METRIC.tokenRejected, MetricUnit.Count, 1);
  }
  if (status === 503) {
    const single = sink.singleMetric();
    single.addDimension('cause', seen.cause ?? 'store_error');
    single.addMetric(METRIC.unavailable, MetricUnit.Count, 1);
  }
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
