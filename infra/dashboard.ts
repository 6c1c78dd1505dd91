/**
 * The operator's CloudWatch dashboard: the service's own EMF metrics (lib/http/observe.ts, one
 * line per request), API Gateway's view of the stage, and every alarm's state. Metrics with a
 * dimension whose values are known only at run time (route, status class, reason, cause) are
 * graphed with SEARCH expressions, so a new route or reason code appears without a deploy.
 */
import { Duration } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  type Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../lib/http/metric-names.ts';

const PERIOD = Duration.minutes(5);

/** Every metric of `name` in the service's namespace with exactly these dimensions (and `service`). */
function search(name: string, dimensions: readonly string[], statistic: string, label: string): IMetric {
  const schema = [METRICS_NAMESPACE, ...[...dimensions, 'service'].sort()].join(',');
  return new MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${name}"', '${statistic}', ${PERIOD.toSeconds()})`,
    usingMetrics: {},
    label,
    period: PERIOD,
  });
}

export interface ServiceDashboardProps {
  readonly dashboardName: string;
  readonly stage: HttpStage;
  readonly alarms: readonly Alarm[];
}

export class ServiceDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ServiceDashboardProps) {
    super(scope, id);
    const byRoute = ['route', 'status_class'];
    const wide = { width: 12, height: 6 } as const;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '## biz-service\nOne `request` line per request, which is also its EMF metrics (namespace `BizService`); docs/operations.md has the Logs Insights queries.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Requests by route and status class',
        left: [search(METRIC.requests, byRoute, 'Sum', 'requests')],
        ...wide,
      }),
      new GraphWidget({
        title: 'Duration p99 by route and status class (ms)',
        left: [search(METRIC.duration, byRoute, 'p99', 'p99')],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Token rejections by reason',
        left: [search(METRIC.tokenRejected, ['reason'], 'Sum', 'rejected')],
        ...wide,
      }),
      new GraphWidget({
        title: '429 (per-agent limit) and 503 by cause',
        left: [search(METRIC.rateLimited, byRoute, 'Sum', '429'), search(METRIC.unavailable, ['cause'], 'Sum', '503')],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Commands: enqueued, delivered, completed, failed, timed out; jobs created and canceled; revocations',
        left: [
          METRIC.commandsEnqueued,
          METRIC.commandsDelivered,
          METRIC.commandsCompleted,
          METRIC.commandsFailed,
          METRIC.commandsTimedOut,
          METRIC.jobsCreated,
          METRIC.jobsCanceled,
          METRIC.revocations,
        ].map((name) => search(name, byRoute, 'Sum', name)),
        ...wide,
      }),
      new GraphWidget({
        title: 'Store round trip (ms): p50 and p99',
        left: [search(METRIC.storeLatency, byRoute, 'p50', 'p50'), search(METRIC.storeLatency, byRoute, 'p99', 'p99')],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'API Gateway: requests, 4xx, 5xx',
        left: [
          props.stage.metricCount({ period: PERIOD, statistic: 'Sum' }),
          props.stage.metricClientError({ period: PERIOD, statistic: 'Sum' }),
          props.stage.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        ],
        ...wide,
      }),
      new GraphWidget({
        title: 'API Gateway: latency p99 (ms)',
        left: [props.stage.metricLatency({ period: PERIOD, statistic: 'p99' })],
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Push: connects, wakes queued and not queued (by route)',
        left: [METRIC.pushConnects, METRIC.wakesQueued, METRIC.wakeFailed].map((name) => search(name, byRoute, 'Sum', name)),
        ...wide,
      }),
      new GraphWidget({
        title: 'Push: the wake function posted, failed, found gone',
        left: [METRIC.wakePosts, METRIC.wakePostsFailed, METRIC.wakeGone].map((name) => search(name, [], 'Sum', name)),
        ...wide,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...props.alarms],
        width: 24,
        height: Math.max(3, Math.ceil(props.alarms.length / 4) + 1),
      }),
    );
  }
}
