/**
 * The one place that says how every function of the service is built and run: Node.js 24 on
 * ARM64, bundled by the locally installed esbuild (no Docker) into a minified ESM file with a
 * source map, `@aws-sdk/*` left to the runtime, a log group of its own with a retention
 * period, a role of its own that may write only to that log group, and alarms on errors and
 * throttles.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The repository root: functions/, lib/, package-lock.json. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Defaults stated once. 256 MB gives the HMAC check and the HTTPS calls to Upstash enough CPU. */
export const FUNCTION_DEFAULTS = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  memorySize: 256,
  /**
   * A request makes at most a few sequential store calls, each bounded by REDIS_TIMEOUT_MS
   * (1 s by default, at most MAX_REDIS_TIMEOUT_MS), and a cold start one Secrets Manager
   * read; 10 s leaves room for all of it and stays under API Gateway's 30 s.
   */
  timeout: Duration.seconds(10),
} as const;

export const MAX_REDIS_TIMEOUT_MS = 2500;

const SEMVER_SHIM = path.join(PROJECT_ROOT, 'infra', 'shims', 'semver.cjs');

/** Makes an ESM bundle able to `require` Node built-ins from bundled CommonJS (jsonwebtoken). */
const ESM_REQUIRE_SHIM = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/**
 * How esbuild bundles every function (NodejsFunction's `bundling`), exported so that the
 * benchmarks build exactly the same bundles. `esbuildArgs` aliases `semver` to the stand-in.
 */
export const BUNDLING = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  externalModules: ['@aws-sdk/*'],
  banner: ESM_REQUIRE_SHIM,
  forceDockerBundling: false,
  // jsonwebtoken loads all of semver for three version checks that always hold on Node 24.
  esbuildArgs: { '--alias:semver': SEMVER_SHIM },
} satisfies BundlingOptions;

export interface ServiceFunctionProps {
  /** Handler file under functions/, without extension. */
  readonly handler: string;
  readonly description: string;
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  /** Reserved concurrency (a cap and a guaranteed share of the account); undefined: none. */
  readonly reservedConcurrency?: number | undefined;
}

export class ServiceFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Its own role instead of AWSLambdaBasicExecutionRole: it may write to its own log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.handler} function`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'functions', `${props.handler}.ts`),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: FUNCTION_DEFAULTS.runtime,
      architecture: FUNCTION_DEFAULTS.architecture,
      memorySize: FUNCTION_DEFAULTS.memorySize,
      timeout: FUNCTION_DEFAULTS.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'biz-service',
        ...props.environment,
      },
      bundling: BUNDLING,
      ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrency }),
    });

    // Errors (crashes, timeouts, failed cold starts) or throttles in any 5-minute period.
    this.alarm = new Alarm(this, 'ErrorsOrThrottles', {
      alarmDescription: `${props.handler}: Lambda errors or throttles`,
      metric: new MathExpression({
        expression: 'errors + throttles',
        usingMetrics: {
          errors: this.function.metricErrors({ period: Duration.minutes(5) }),
          throttles: this.function.metricThrottles({ period: Duration.minutes(5) }),
        },
        label: 'Errors + Throttles',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
