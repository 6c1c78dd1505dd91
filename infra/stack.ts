/**
 * biz-service on AWS: an HTTP API whose routes are generated from lib/http/routes.ts (the table the
 * local server uses too), one function per handler, the JWT secret and the Upstash token in
 * Secrets Manager, logs with a retention period, access logs, stage throttling and alarms; on
 * request, reserved concurrency per function and a CloudFront + WAF edge (infra/edge.ts).
 */
import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { DomainName, HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, SecurityPolicy } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type IKey, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { CloudFrontTarget } from 'aws-cdk-lib/aws-route53-targets';
import type { Construct } from 'constructs';
import { fallbackRoute, type Route, routes } from '../lib/http/routes.ts';
import { SECRET_ID_VARIABLES } from '../lib/secrets.ts';
import { ServiceDashboard } from './dashboard.ts';
import { Edge } from './edge.ts';
import { ServiceFunction, type ServiceFunctionProps, scriptsToShip } from './function.ts';
import { PushChannel, WakeQueue } from './push.ts';
import { WAKING_ROUTES } from '../lib/push/routes.ts';
import type { Settings } from './settings.ts';

export interface BizServiceStackProps extends StackProps {
  readonly settings: Settings;
}

/** A secret named by context: a full ARN, a partial ARN, or a name. */
interface NamedSecret {
  readonly secret: ISecret;
  /** What the function passes to GetSecretValue as SecretId. */
  readonly secretId: string;
}

function importSecret(scope: Construct, id: string, nameOrArn: string): NamedSecret {
  if (nameOrArn.startsWith('arn:')) {
    // Secrets Manager appends "-" and six characters to the name in a complete ARN.
    const secret = /-[A-Za-z0-9]{6}$/.test(nameOrArn)
      ? Secret.fromSecretCompleteArn(scope, id, nameOrArn)
      : Secret.fromSecretPartialArn(scope, id, nameOrArn);
    return { secret, secretId: nameOrArn };
  }
  return { secret: Secret.fromSecretNameV2(scope, id, nameOrArn), secretId: nameOrArn };
}

/** Lambda keeps this much of an account's concurrency unreserved; a deployment that takes more fails. */
const UNRESERVED_MINIMUM = 100;
/** The concurrency limit of an account that never asked for more. */
const DEFAULT_ACCOUNT_CONCURRENCY = 1000;

/** The routes this deployment serves: the route table, less the debug routes when asked. */
export function deployedRoutes(settings: Pick<Settings, 'debugRoutes'>): readonly Route[] {
  return routes.filter((route) => settings.debugRoutes || !route.debug);
}

const NO_ROTATION_REASON =
  'Rotation is an operator procedure (docs/tokens.md, "Rotating the JWT secret"): the JWT secret is shared with the token issuer and rotated with a current+previous key pair; the Upstash token is rotated in the Upstash console. A rotation Lambda could do neither.';

export class BizServiceStack extends Stack {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  /** By route name, plus fallbackRoute.name. */
  readonly functions: ReadonlyMap<string, ServiceFunction>;
  /** Undefined with a JWKS and no HMAC secret: no secret at all. */
  readonly jwtSecret: NamedSecret | undefined;
  readonly upstashTokenSecret: NamedSecret | undefined;
  /** CloudFront + WAF in front of the API, with edgeWaf=true. */
  readonly edge: Edge | undefined;
  readonly dashboard: ServiceDashboard;
  /** Where the alarms go: alarmTopicArn, or the topic made for alarmEmail; undefined: nowhere. */
  readonly alarmTopic: ITopic | undefined;
  /** The push channel: WebSocket API, wake queue and wake function (docs/push.md). */
  readonly push: PushChannel;
  /** The stack's own command signing key (ECC_NIST_P256, SIGN_VERIFY; docs/signing.md). */
  readonly commandSigningKey: Key;
  /** The key that signs: the stack's own, or commandSigningKeyArn's. */
  readonly signingKey: IKey;

  constructor(scope: Construct, id: string, props: BizServiceStackProps) {
    super(scope, id, props);
    const { settings } = props;

    // Secrets: imported by name or ARN, or created here (values generated, never in the template).
    if (settings.jwtSecret !== undefined) {
      this.jwtSecret = importSecret(this, 'JwtSecret', settings.jwtSecret);
    } else if (settings.jwksUrl !== undefined) {
      // Public keys only: nothing to keep secret.
      this.jwtSecret = undefined;
    } else {
      const secret = new Secret(this, 'JwtSecret', {
        description: 'biz-service: HS256 key shared with the token issuer, {"secret"} (see docs/tokens.md for rotation)',
        generateSecretString: {
          secretStringTemplate: '{}',
          generateStringKey: 'secret',
          passwordLength: 64,
          excludePunctuation: true,
        },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: NO_ROTATION_REASON });
      this.jwtSecret = { secret, secretId: secret.secretArn };
    }

    if (settings.upstashUrl === undefined) {
      this.upstashTokenSecret = undefined;
      Annotations.of(this).addWarningV2(
        'biz-service:no-upstash',
        'No upstashUrl in context: every function keeps its own in-memory store, so commands do not reach agents. Set -c upstashUrl=https://... for a real deployment.',
      );
    } else if (settings.upstashTokenSecret !== undefined) {
      this.upstashTokenSecret = importSecret(this, 'UpstashToken', settings.upstashTokenSecret);
    } else {
      const secret = new Secret(this, 'UpstashToken', {
        description: 'biz-service: Upstash REST token (replace the generated placeholder with the real token)',
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: NO_ROTATION_REASON });
      this.upstashTokenSecret = { secret, secretId: secret.secretArn };
    }

    // Without publicBaseUrl, the custom domain; else each request's own domain (the stage URL, $default stage).
    const publicBaseUrl =
      settings.publicBaseUrl ?? (settings.domainName === undefined ? undefined : `https://${settings.domainName.toLowerCase()}`);
    // What a store-using function reads at start; the secrets only by id.
    const storeEnvironment: Record<string, string> = {
      JWT_ISSUER: settings.issuer,
      JWT_AUDIENCE: settings.audiences.join(','),
      REVOCATION_MODE: settings.revocationMode,
      COMMAND_TTL_SECONDS: String(settings.commandTtlSeconds),
      RESULT_RETENTION_SECONDS: String(settings.resultRetentionSeconds),
      REDIS_TIMEOUT_MS: String(settings.redisTimeoutMs),
      REDIS_KEY_PREFIX: settings.redisKeyPrefix,
      USE_REDIS: settings.upstashUrl === undefined ? 'false' : 'true',
      REQUIRE_BOUND_TOKENS: String(settings.requireBoundTokens),
      DPOP_REQUIRED: String(settings.dpopRequired),
      DPOP_IAT_WINDOW_SECONDS: String(settings.dpopIatWindowSeconds),
      ...(settings.dpopAlgorithms === undefined ? {} : { DPOP_ALGORITHMS: settings.dpopAlgorithms }),
      // The URL agents call, that DPoP proofs name (htu): set, or the custom domain's.
      ...(publicBaseUrl === undefined ? {} : { PUBLIC_BASE_URL: publicBaseUrl }),
      RATE_LIMIT_REQUESTS: String(settings.rateLimitRequests),
      RATE_LIMIT_WINDOW_SECONDS: String(settings.rateLimitWindowSeconds),
      ...(this.jwtSecret === undefined ? {} : { [SECRET_ID_VARIABLES.jwt]: this.jwtSecret.secretId }),
      // Configuration, not a secret; the functions fetch it over outbound HTTPS.
      ...(settings.jwksUrl === undefined ? {} : { JWT_JWKS_URL: settings.jwksUrl }),
      ...(settings.jwtAlgorithms === undefined ? {} : { JWT_ALGORITHMS: settings.jwtAlgorithms }),
      // Read by nobody: bumping it (-c secretsRevision=...) recycles the instances after a rotation.
      SECRETS_REVISION: settings.secretsRevision,
      ...(settings.upstashUrl === undefined || this.upstashTokenSecret === undefined
        ? {}
        : { UPSTASH_REDIS_REST_URL: settings.upstashUrl, [SECRET_ID_VARIABLES.upstashToken]: this.upstashTokenSecret.secretId }),
    };

    // GET /ready: where the store is and the Upstash token's id; no JWT key.
    const probeEnvironment: Record<string, string> = {
      REDIS_TIMEOUT_MS: storeEnvironment.REDIS_TIMEOUT_MS as string,
      USE_REDIS: storeEnvironment.USE_REDIS as string,
      ...(settings.upstashUrl === undefined || this.upstashTokenSecret === undefined
        ? {}
        : { UPSTASH_REDIS_REST_URL: settings.upstashUrl, [SECRET_ID_VARIABLES.upstashToken]: this.upstashTokenSecret.secretId }),
      SECRETS_REVISION: settings.secretsRevision,
    };

    if (settings.samLocal) {
      // Empty on purpose: SAM's --env-vars can only override variables the template declares.
      storeEnvironment.JWT_SECRET_KEY = '';
      storeEnvironment.UPSTASH_REDIS_REST_TOKEN = '';
      probeEnvironment.UPSTASH_REDIS_REST_TOKEN = '';
      Annotations.of(this).addWarningV2('biz-service:sam-local', 'samLocal=true: a template for sam local only; do not deploy it.');
    }

    // Commands are signed by KMS: the private key never leaves it. The stack's own key is kept when
    // the stack goes (commands signed with it may still be waiting); a rotation signs with another
    // (commandSigningKeyArn) and publishes the previous one beside it (commandSigningSecondKeyArn).
    this.commandSigningKey = new Key(this, 'CommandSigningKey', {
      description: 'biz-service: signs the commands handed to agents (ES256; docs/signing.md)',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.signingKey =
      settings.commandSigningKeyArn === undefined
        ? this.commandSigningKey
        : Key.fromKeyArn(this, 'CommandSigningKeyInUse', settings.commandSigningKeyArn);
    const secondKey =
      settings.commandSigningSecondKeyArn === undefined
        ? undefined
        : Key.fromKeyArn(this, 'CommandSigningSecondKey', settings.commandSigningSecondKeyArn);
    const signingEnvironment: Record<string, string> = {
      COMMAND_SIGNING_KMS_KEY_ID: this.signingKey.keyArn,
      ...(secondKey === undefined ? {} : { COMMAND_SIGNING_KMS_OTHER_KEY_IDS: secondKey.keyArn }),
    };

    // The wake queue first: every function that wakes agents gets its URL.
    const wakeQueue = new WakeQueue(this, 'Wake');
    storeEnvironment.PUSH_WAKE_QUEUE_URL = wakeQueue.queue.queueUrl;

    const functions = new Map<string, ServiceFunction>();
    const makeFunction = (
      name: string,
      handler: string,
      description: string,
      usesStore: boolean,
      probesStore: boolean,
      scripts: ServiceFunctionProps['scripts'],
      timeoutSeconds?: number,
      console?: boolean,
      commandKeys?: Route['commandKeys'],
    ): ServiceFunction => {
      const made = new ServiceFunction(this, name, {
        handler,
        scripts,
        console,
        description,
        environment: usesStore ? storeEnvironment : probesStore ? probeEnvironment : {},
        logRetention: settings.logRetention,
        reservedConcurrency: settings.reservedConcurrency.get(name),
        timeoutSeconds,
      });
      if (usesStore) {
        this.jwtSecret?.secret.grantRead(made.role);
        this.upstashTokenSecret?.secret.grantRead(made.role);
      } else if (probesStore) {
        this.upstashTokenSecret?.secret.grantRead(made.role);
      }
      if (commandKeys !== undefined) {
        for (const [variable, value] of Object.entries(signingEnvironment)) made.function.addEnvironment(variable, value);
        // Only the functions that make commands may sign, with the signing key alone; those that
        // show the keys read the public halves.
        if (commandKeys === 'sign') this.signingKey.grant(made.role, 'kms:Sign');
        else for (const key of [this.signingKey, ...(secondKey === undefined ? [] : [secondKey])]) key.grant(made.role, 'kms:GetPublicKey');
      }
      functions.set(name, made);
      return made;
    };

    const fallback = makeFunction(
      fallbackRoute.name,
      fallbackRoute.handler,
      'biz-service: JSON 404/405 for unmatched requests',
      false,
      false,
      fallbackRoute.scripts,
    );

    this.api = new HttpApi(this, 'Api', {
      apiName: `${this.stackName}-api`,
      description: 'biz-service: commands, results and configuration for the agent fleet',
      createDefaultStage: false,
      // With mutual TLS on the custom domain, the default endpoint would be a way around it.
      disableExecuteApiEndpoint: settings.truststoreUri !== undefined,
      defaultIntegration: new HttpLambdaIntegration('FallbackIntegration', fallback.function),
    });

    for (const route of deployedRoutes(settings)) {
      const made = makeFunction(
        route.name,
        route.handler,
        `biz-service: ${route.method} ${route.path}`,
        route.usesStore,
        route.probesStore === true,
        scriptsToShip(route),
        route.timeoutSeconds,
        route.console,
        route.commandKeys,
      );
      this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.name}Integration`, made.function),
      });
    }
    for (const name of WAKING_ROUTES) {
      const waking = functions.get(name);
      if (waking !== undefined) wakeQueue.queue.grantSendMessages(waking.role);
    }
    this.push = new PushChannel(this, 'Push', {
      wakeQueue,
      throttle: { rateLimit: settings.throttleRateLimit, burstLimit: settings.throttleBurstLimit },
      makeFunction: (name, handler, description, scripts, timeoutSeconds) =>
        makeFunction(name, handler, description, true, false, scripts, timeoutSeconds),
    });
    this.functions = functions;

    const reserved = [...functions.keys()].reduce((sum, name) => sum + (settings.reservedConcurrency.get(name) ?? 0), 0);
    if (reserved > DEFAULT_ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM) {
      Annotations.of(this).addWarningV2(
        'biz-service:reserved-concurrency',
        `The functions reserve ${reserved} concurrent executions in all: Lambda keeps ${UNRESERVED_MINIMUM} of the account's limit unreserved, so the account needs a limit of at least ${reserved + UNRESERVED_MINIMUM} (the default is ${DEFAULT_ACCOUNT_CONCURRENCY}).`,
      );
    }

    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "Authorization is done in each function: bearer JWTs signed with HS256 and a shared secret (which the HTTP API JWT authorizer, JWKS only, cannot verify) or with the issuer's keys from its JWKS, always with the same rules (RFC 8705 binding, real-time revocation, scopes per route) that the authorizer does not check. /health, /ready and the JSON 404/405 fallback are public by design.",
    });

    // With the edge, the custom domain (if any) is CloudFront's; API Gateway keeps only its default endpoint.
    this.edge =
      settings.edge === undefined
        ? undefined
        : new Edge(this, 'Edge', {
            api: this.api,
            webAclArn: settings.edge.webAclArn,
            rateLimitPer5Min: settings.edge.rateLimitPer5Min,
            logRetentionDays: settings.logRetention,
            domain:
              settings.domainName === undefined || settings.certificateArn === undefined
                ? undefined
                : { name: settings.domainName, certificateArn: settings.certificateArn },
          });

    let domain: DomainName | undefined;
    if (settings.domainName !== undefined && settings.certificateArn !== undefined && this.edge === undefined) {
      const { truststoreUri } = settings;
      domain = new DomainName(this, 'Domain', {
        domainName: settings.domainName,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', settings.certificateArn),
        securityPolicy: SecurityPolicy.TLS_1_2,
        ...(truststoreUri === undefined
          ? {}
          : { mtls: { bucket: Bucket.fromBucketName(this, 'Truststore', truststoreUri.bucket), key: truststoreUri.key } }),
      });
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: settings.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: settings.throttleRateLimit, burstLimit: settings.throttleBurstLimit },
      ...(domain === undefined ? {} : { domainMapping: { domainName: domain } }),
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No headers: the Authorization header never reaches the logs.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            error: '$context.error.message',
          }),
        ),
      },
    });

    const serverErrors = new Alarm(this, 'Api5xx', {
      alarmDescription: 'biz-service: the API answered 5xx',
      metric: this.stage.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const alarms = [serverErrors, this.push.failedPosts, ...[...functions.values()].map((made) => made.alarm)];
    this.alarmTopic = alarmTopic(this, settings);
    if (this.alarmTopic !== undefined) {
      const action = new SnsAction(this.alarmTopic);
      for (const alarm of alarms) alarm.addAlarmAction(action);
    }
    this.dashboard = new ServiceDashboard(this, 'Operations', {
      dashboardName: this.stackName,
      stage: this.stage,
      alarms,
    });
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.push.stage.url,
      description: 'The push channel: agents connect here with Authorization: Bearer (docs/push.md)',
    });
    new CfnOutput(this, 'DashboardName', { value: this.stackName, description: 'The CloudWatch dashboard of this stack' });

    const edgeUrl = this.edge && `https://${settings.domainName ?? this.edge.distribution.distributionDomainName}/`;
    new CfnOutput(this, 'ApiUrl', {
      value: edgeUrl ?? (domain === undefined ? this.stage.url : `https://${settings.domainName}/`),
      description: 'Base URL of the API',
    });
    if (this.edge !== undefined) {
      new CfnOutput(this, 'OriginUrl', {
        value: this.stage.url,
        description: 'The API behind the edge: reachable directly, without the WAF rules (docs/deploy.md, "Unauthenticated traffic")',
      });
      if (settings.domainName !== undefined) {
        new CfnOutput(this, 'DomainTarget', {
          value: this.edge.distribution.distributionDomainName,
          description: `Point ${settings.domainName} here: a CNAME, or a Route 53 alias with DomainHostedZoneId`,
        });
        new CfnOutput(this, 'DomainHostedZoneId', {
          value: CloudFrontTarget.getHostedZoneId(this),
          description: 'Hosted zone of DomainTarget (CloudFront), for a Route 53 alias',
        });
      }
    }
    if (domain !== undefined) {
      new CfnOutput(this, 'DomainTarget', {
        value: domain.regionalDomainName,
        description: `Point ${settings.domainName} here: a CNAME, or a Route 53 alias with DomainHostedZoneId`,
      });
      new CfnOutput(this, 'DomainHostedZoneId', {
        value: domain.regionalHostedZoneId,
        description: 'Hosted zone of DomainTarget, for a Route 53 alias',
      });
    }
    new CfnOutput(this, 'CommandSigningKeyArn', {
      value: this.commandSigningKey.keyArn,
      description: "The stack's own command signing key (a rotation names it commandSigningSecondKeyArn while another signs)",
    });
    if (this.jwtSecret !== undefined) {
      new CfnOutput(this, 'JwtSecretArn', { value: this.jwtSecret.secret.secretArn, description: 'Secret holding the JWT key' });
    }
    if (this.upstashTokenSecret !== undefined) {
      new CfnOutput(this, 'UpstashTokenSecretArn', {
        value: this.upstashTokenSecret.secret.secretArn,
        description: 'Secret holding the Upstash REST token',
      });
    }
  }
}

/**
 * The alarms' topic: alarmTopicArn when given; otherwise, with alarmEmail, a topic of the
 * stack's own (SSL-only publishing). alarmEmail is subscribed to whichever it is; the address
 * must confirm the subscription from the mail AWS sends.
 */
function alarmTopic(scope: Stack, settings: Pick<Settings, 'alarmTopicArn' | 'alarmEmail'>): ITopic | undefined {
  let topic: ITopic | undefined;
  if (settings.alarmTopicArn !== undefined) {
    topic = Topic.fromTopicArn(scope, 'AlarmTopic', settings.alarmTopicArn);
  } else if (settings.alarmEmail !== undefined) {
    const made = new Topic(scope, 'AlarmTopic', { displayName: `${scope.stackName} alarms`, enforceSSL: true });
    Validations.of(made).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and a customer managed KMS key would cost more at rest than everything else here; the messages are alarm states, no data',
    });
    topic = made;
  }
  if (topic !== undefined && settings.alarmEmail !== undefined) topic.addSubscription(new EmailSubscription(settings.alarmEmail));
  return topic;
}
