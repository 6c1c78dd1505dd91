/**
 * The push channel on AWS (docs/push.md): a WebSocket API whose `$connect` and `$disconnect` are
 * functions of lib/push/routes.ts, a `ping` route answered by API Gateway itself, the wake queue
 * (SQS, with a dead-letter queue) and the wake function that consumes it, posting with
 * `execute-api:ManageConnections` on this API's stage's connections only.
 *
 * The ping route: a MOCK integration whose request template answers 200 and whose integration
 * response template is `{"type":"pong"}`, returned to the client through a route response. No
 * Lambda runs for a keepalive: it costs one message (API Gateway counts messages in 32 KB units).
 */
import { Aws, type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  CfnIntegration,
  CfnIntegrationResponse,
  CfnRoute,
  CfnRouteResponse,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../lib/http/metric-names.ts';
import { PING_ROUTE_KEY, PUSH_ROUTES, ROUTE_SELECTION_EXPRESSION } from '../lib/push/routes.ts';
import { PONG } from '../lib/push/messages.ts';
import type { ServiceFunction } from './function.ts';
import { scriptsToShip } from './function.ts';

/** How the stack makes a function that uses the store (its environment, secrets, role, alarm). */
export type MakeStoreFunction = (
  name: string,
  handler: string,
  description: string,
  scripts: ReturnType<typeof scriptsToShip>,
  timeoutSeconds?: number,
) => ServiceFunction;

/** The wake function's timeout: a task walks at most 40 pages (80 store commands and 10,000 posts, 50 at a time). */
const WAKE_TIMEOUT_SECONDS = 60;

/** The wake queue: made first, since every function that wakes agents is given its URL. */
export class WakeQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.deadLetters = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // At least six times the consumer's timeout, as Lambda's event source mapping advises.
      visibilityTimeout: Duration.seconds(6 * WAKE_TIMEOUT_SECONDS),
      // A wake older than a safety poll is worth nothing.
      retentionPeriod: Duration.minutes(15),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 3 },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}

export interface PushChannelProps {
  readonly wakeQueue: WakeQueue;
  readonly makeFunction: MakeStoreFunction;
  /** The stage's throttling (the HTTP API's settings). */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
}

export class PushChannel extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly connect: ServiceFunction;
  readonly disconnect: ServiceFunction;
  readonly wake: ServiceFunction;
  /** Posts that failed otherwise than gone, in any 5 minutes. */
  readonly failedPosts: Alarm;

  constructor(scope: Construct, id: string, props: PushChannelProps) {
    super(scope, id);
    const { Connect, Disconnect, Wake } = PUSH_ROUTES;
    this.connect = props.makeFunction(Connect.name, Connect.handler, 'biz-service: push channel $connect', scriptsToShip(Connect));
    this.disconnect = props.makeFunction(
      Disconnect.name,
      Disconnect.handler,
      'biz-service: push channel $disconnect',
      scriptsToShip({ ...Disconnect, scopes: undefined }),
    );
    this.wake = props.makeFunction(
      Wake.name,
      Wake.handler,
      'biz-service: push channel wake function (the wake queue consumer)',
      scriptsToShip({ ...Wake, scopes: undefined }),
      WAKE_TIMEOUT_SECONDS,
    );

    const stackName = Stack.of(this).stackName;
    this.api = new WebSocketApi(this, 'Api', {
      apiName: `${stackName}-push`,
      description: 'biz-service: the push channel (wake-ups for connected agents)',
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
      connectRouteOptions: { integration: new WebSocketLambdaIntegration('ConnectIntegration', this.connect.function) },
      disconnectRouteOptions: { integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.disconnect.function) },
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        '$connect authorizes in its function with the same token rules as every HTTP route (signature, revocation, scopes agent:commands, the binding rule of docs/push.md), which a Lambda authorizer would only repeat at the cost of a second invocation; $disconnect and ping carry nothing a token could protect.',
    });

    // ping → {"type":"pong"}, by API Gateway alone.
    const ping = new CfnIntegration(this, 'PingIntegration', {
      apiId: this.api.apiId,
      integrationType: 'MOCK',
      requestTemplates: { $default: '{"statusCode": 200}' },
      templateSelectionExpression: '\\$default',
      description: 'answers a ping with a pong, no function',
    });
    new CfnIntegrationResponse(this, 'PingIntegrationResponse', {
      apiId: this.api.apiId,
      integrationId: ping.ref,
      integrationResponseKey: '$default',
      responseTemplates: { $default: PONG },
      templateSelectionExpression: '\\$default',
    });
    const pingRoute = new CfnRoute(this, 'PingRoute', {
      apiId: this.api.apiId,
      routeKey: PING_ROUTE_KEY,
      target: `integrations/${ping.ref}`,
      routeResponseSelectionExpression: '$default',
      authorizationType: 'NONE',
    });
    Validations.of(pingRoute).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'A keepalive on a connection that $connect authorized: it answers a pong and reaches nothing else.',
    });
    new CfnRouteResponse(this, 'PingRouteResponse', {
      apiId: this.api.apiId,
      routeId: pingRoute.ref,
      routeResponseKey: '$default',
    });

    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: 'push',
      autoDeploy: true,
      throttle: props.throttle,
    });
    // The ping route must exist before the stage's first deployment.
    this.stage.node.addDependency(pingRoute);
    Validations.of(this.stage).acknowledge({
      id: 'AwsSolutions-APIG1',
      reason:
        "WebSocket stage access logs need the account-wide API Gateway CloudWatch Logs role, an account setting outside this stack that a deployment must not change; every $connect and $disconnect writes its own log line (its function's), and every wake task one line with its counts.",
    });

    // The wake function: the queue's consumer, and the only one that may post to or close connections.
    const queue = props.wakeQueue.queue;
    this.wake.function.addEnvironment(
      'PUSH_CONNECTIONS_ENDPOINT',
      `https://${this.api.apiId}.execute-api.${Stack.of(this).region}.amazonaws.com/${this.stage.stageName}`,
    );
    this.wake.function.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }));
    // PostToConnection and DeleteConnection on this stage's connections, no other API or stage.
    const connections = (method: string) =>
      `arn:${Aws.PARTITION}:execute-api:${Aws.REGION}:${Aws.ACCOUNT_ID}:${this.api.apiId}/${this.stage.stageName}/${method}/@connections/*`;
    this.wake.role.addToPolicy(
      new PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [connections('POST'), connections('DELETE')] }),
    );
    const apiLogicalId = Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnElement);
    for (const method of ['POST', 'DELETE']) {
      Validations.of(this.wake.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${this.stage.stageName}/${method}/@connections/*]`,
        reason:
          'A connection id is made by API Gateway when an agent connects: the wake function may post to and close any connection of this one API stage, and nothing else.',
      });
    }
    queue.grantSendMessages(this.wake.role);
    queue.grantSendMessages(this.connect.role);

    this.failedPosts = new Alarm(this, 'FailedPosts', {
      alarmDescription: 'biz-service: wake posts failed (not gone): agents wait for their safety poll',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: METRIC.wakePostsFailed,
        dimensionsMap: { service: 'biz-service' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
