/**
 * The synthesised CloudFormation template, asserted with aws-cdk-lib/assertions. One template
 * (bundling skipped) serves most assertions; a few more synths vary the context.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { FLAGS } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { EDGE_RATE_LIMITED_BODY, EDGE_RETRY_AFTER_SECONDS } from '../../infra/edge.ts';
import { FUNCTION_DEFAULTS, PROJECT_ROOT } from '../../infra/function.ts';
import { CONTEXT_DEFAULTS, SettingsError } from '../../infra/settings.ts';
import { METRIC, METRICS_NAMESPACE } from '../../lib/http/metric-names.ts';
import { fallbackRoute, routes } from '../../lib/http/routes.ts';
import { PUSH_ROUTES } from '../../lib/push/routes.ts';
import {
  acknowledgements,
  CDK_JSON_CONTEXT,
  nagFindings,
  type Resource,
  refId,
  resourcesOfType,
  type Synthesised,
  synth,
} from '../helpers/infra-synth.ts';

const UPSTASH_URL = 'https://eu1-example-12345.upstash.io';
// Values that must never reach the template, even when the synthesising shell has them.
const SENTINELS = {
  JWT_SECRET_KEY: 'sentinel-jwt-secret-0123456789abcdef0123456789',
  JWT_SECRET_KEYS: 'k1=sentinel-jwt-keys-0123456789abcdef01234567',
  UPSTASH_REDIS_REST_TOKEN: 'sentinel-upstash-token-0123456789abcdef',
};

/** What a deployment with the default context serves: the route table without the debug routes. */
const deployed = routes.filter((route) => !route.debug);
/** The push channel's functions ($connect, $disconnect, the wake function), in every deployment. */
const PUSH = Object.values(PUSH_ROUTES);
const isPushFunction = (fn: Resource) => String(fn.Properties?.Description ?? '').startsWith('biz-service: push channel');
const EDGE_REGION = { region: 'us-east-1' };
const EDGE_CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666';
const WEB_ACL_ARN = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/fleet-edge/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';

let main: Synthesised;

function withEnv<T>(values: Record<string, string>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  try {
    return run();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Logical id of the function each route key reaches. */
function functionByRouteKey(json: Synthesised['json']): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const [, route] of resourcesOfType(json, 'AWS::ApiGatewayV2::Route')) {
    // The HTTP API's routes only: the push channel's WebSocket API has its own test.
    if (json.Resources[refId(route.Properties?.ApiId) ?? '']?.Properties?.ProtocolType !== 'HTTP') continue;
    const target = route.Properties?.Target as { 'Fn::Join': [string, unknown[]] };
    const integrationId = refId(target['Fn::Join'][1][1]);
    const integration = integrationId === undefined ? undefined : json.Resources[integrationId];
    const functionId = refId(integration?.Properties?.IntegrationUri);
    byKey.set(route.Properties?.RouteKey as string, functionId ?? '');
  }
  return byKey;
}

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

function statements(policy: Resource): Statement[] {
  return (policy.Properties?.PolicyDocument?.Statement ?? []) as Statement[];
}

/** Secrets Manager resources each function's role may read, by function logical id. */
function secretReads(json: Synthesised['json']): Map<string, unknown[]> {
  const reads = new Map<string, unknown[]>();
  const policies = resourcesOfType(json, 'AWS::IAM::Policy');
  for (const [functionId, fn] of resourcesOfType(json, 'AWS::Lambda::Function')) {
    const roleId = refId(fn.Properties?.Role);
    const resources: unknown[] = [];
    for (const [, policy] of policies) {
      if (!((policy.Properties?.Roles ?? []) as unknown[]).some((role) => refId(role) === roleId)) continue;
      for (const statement of statements(policy)) {
        const actions = [statement.Action].flat();
        // One statement may name several secrets (@aws-cdk/aws-iam:minimizePolicies merges them).
        if (actions.some((action) => action.startsWith('secretsmanager:'))) resources.push(...[statement.Resource].flat());
      }
    }
    reads.set(functionId, resources);
  }
  return reads;
}

beforeAll(() => {
  main = withEnv(SENTINELS, () => synth({ upstashUrl: UPSTASH_URL }));
});

describe('the HTTP API', () => {
  it('has exactly the routes of the route table but the debug routes, plus $default for the fallback', () => {
    const keys = [...functionByRouteKey(main.json).keys()].sort();
    expect(keys).toEqual([...deployed.map((route) => `${route.method} ${route.path}`), '$default'].sort());
  });

  it('sends each route to its own function, and $default to the fallback', () => {
    const byKey = functionByRouteKey(main.json);
    for (const route of deployed)
      expect(byKey.get(`${route.method} ${route.path}`)).toMatch(new RegExp(`^${route.name}Function[0-9A-F]{8}$`));
    expect(byKey.get('$default')).toMatch(new RegExp(`^${fallbackRoute.name}Function[0-9A-F]{8}$`));
    expect(new Set(byKey.values()).size).toBe(deployed.length + 1);
  });

  it('serves the eight job routes, each by its own function that holds the secrets and checks admin:jobs itself', () => {
    const jobRoutes = deployed.filter((route) => route.path.startsWith('/api/jobs'));
    expect(jobRoutes.map((route) => `${route.method} ${route.path}`).sort()).toEqual([
      'GET /api/jobs',
      'GET /api/jobs/{jobId}',
      'GET /api/jobs/{jobId}/executions',
      'GET /api/jobs/{jobId}/executions/{agentId}',
      'POST /api/jobs',
      'POST /api/jobs/{jobId}/cancel',
      'POST /api/jobs/{jobId}/pause',
      'POST /api/jobs/{jobId}/resume',
    ]);
    const byKey = functionByRouteKey(main.json);
    const reads = secretReads(main.json);
    for (const route of jobRoutes) {
      expect(route.scopes, route.name).toEqual(['admin:jobs']);
      const functionId = byKey.get(`${route.method} ${route.path}`) as string;
      expect(functionId).toMatch(new RegExp(`^${route.name}Function[0-9A-F]{8}$`));
      // No authorizer at the gateway: the function verifies the token and the route's scopes.
      main.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationType: 'NONE',
      });
      expect(main.json.Resources[functionId]?.Properties?.Description).toBe(`biz-service: ${route.method} ${route.path}`);
      expect(reads.get(functionId), route.name).toHaveLength(2);
    }
  });

  it('serves the bulk group route by its own function that checks admin:groups itself', () => {
    const route = deployed.find((one) => one.path === '/api/groups/{group}/members');
    expect(route && { method: route.method, scopes: route.scopes }).toEqual({ method: 'POST', scopes: ['admin:groups'] });
    const functionId = functionByRouteKey(main.json).get('POST /api/groups/{group}/members') as string;
    expect(functionId).toMatch(/^PostGroupMembersFunction[0-9A-F]{8}$/);
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /api/groups/{group}/members',
      AuthorizationType: 'NONE',
    });
  });

  it('logs every request to a log group with a retention period, without headers', () => {
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessLogs'), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    });
    const stage = resourcesOfType(main.json, 'AWS::ApiGatewayV2::Stage').find(([, s]) => s.Properties?.StageName === '$default')?.[1];
    expect(stage?.Properties?.AccessLogSettings.Format).not.toMatch(/header|authorization/i);
  });

  it('throttles the stage with the rate and burst from context', () => {
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    const other = synth({ throttleRateLimit: '5', throttleBurstLimit: '7' });
    other.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 },
    });
  });

  it('outputs the API URL', () => {
    main.template.hasOutput('ApiUrl', {});
  });
});

describe('the functions', () => {
  it('run on Node.js 24, ARM64, with the stated memory and a timeout above the Redis timeout, under the HTTP API 30 s', () => {
    const all = resourcesOfType(main.json, 'AWS::Lambda::Function');
    expect(all).toHaveLength(deployed.length + 1 + PUSH.length);
    // The push channel's functions answer no HTTP request (the wake function consumes a queue).
    const functions = all.filter(([, fn]) => !isPushFunction(fn));
    const longer = deployed.filter((route) => route.timeoutSeconds !== undefined);
    expect(longer.map((route) => route.name)).toEqual(['CreateJob']);
    for (const [, fn] of functions) {
      const route = deployed.find((r) => fn.Properties?.Description === `biz-service: ${r.method} ${r.path}`);
      const timeout = route?.timeoutSeconds ?? FUNCTION_DEFAULTS.timeout.toSeconds();
      expect(timeout).toBeLessThan(30);
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Timeout: timeout,
        MemorySize: FUNCTION_DEFAULTS.memorySize,
        Handler: 'index.handler',
      });
      const redisTimeout = Number(fn.Properties?.Environment?.Variables?.REDIS_TIMEOUT_MS ?? 0);
      expect(fn.Properties?.Timeout * 1000).toBeGreaterThanOrEqual(3 * redisTimeout);
    }
  });

  it('each write JSON logs to a log group of their own, kept 30 days', () => {
    const functions = resourcesOfType(main.json, 'AWS::Lambda::Function');
    const groups = functions.map(([, fn]) => refId(fn.Properties?.LoggingConfig?.LogGroup));
    expect(new Set(groups).size).toBe(functions.length);
    for (const group of groups) {
      expect(group).toBeDefined();
      expect(main.json.Resources[group as string]?.Properties?.RetentionInDays).toBe(30);
    }
    // The functions' groups and the access log group, all with a retention period.
    main.template.resourceCountIs('AWS::Logs::LogGroup', functions.length + 1);
    main.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('get the configuration and the secrets by id, never a secret value', () => {
    const template = JSON.stringify(main.json);
    for (const value of Object.values(SENTINELS)) expect(template).not.toContain(value);
    for (const [, fn] of resourcesOfType(main.json, 'AWS::Lambda::Function')) {
      const variables = Object.keys(fn.Properties?.Environment?.Variables ?? {});
      expect(variables).not.toContain('JWT_SECRET_KEY');
      expect(variables).not.toContain('JWT_SECRET_KEYS');
      expect(variables).not.toContain('UPSTASH_REDIS_REST_TOKEN');
    }
    for (const [, secret] of resourcesOfType(main.json, 'AWS::SecretsManager::Secret')) {
      expect(secret.Properties?.SecretString).toBeUndefined();
      expect(secret.Properties?.GenerateSecretString).toBeDefined();
    }
    const store = routes.find((route) => route.usesStore);
    main.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `biz-service: ${store?.method} ${store?.path}`,
      Environment: {
        Variables: Match.objectLike({
          JWT_SECRET_ID: { Ref: Match.stringLikeRegexp('^JwtSecret') },
          UPSTASH_TOKEN_SECRET_ID: { Ref: Match.stringLikeRegexp('^UpstashToken') },
          UPSTASH_REDIS_REST_URL: UPSTASH_URL,
          USE_REDIS: 'true',
          JWT_ISSUER: 'https://localhost:8443',
          JWT_AUDIENCE: 'biz-service',
          RATE_LIMIT_REQUESTS: '0',
          RATE_LIMIT_WINDOW_SECONDS: '60',
        }),
      },
    });
  });

  it('may read only the secrets they need: store functions both, /ready the Upstash token only, /health and the fallback none', () => {
    const reads = secretReads(main.json);
    const jwt = resourcesOfType(main.json, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('JwtSecret'))?.[0];
    const token = resourcesOfType(main.json, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('UpstashToken'))?.[0];
    for (const route of [...deployed, { ...fallbackRoute, usesStore: false }]) {
      const functionId = [...reads.keys()].find((id) => id.startsWith(`${route.name}Function`)) as string;
      const expected = route.usesStore
        ? [{ Ref: jwt }, { Ref: token }]
        : 'probesStore' in route && route.probesStore
          ? [{ Ref: token }]
          : [];
      expect(reads.get(functionId), route.name).toEqual(expected);
    }
  });

  it('have roles that allow nothing but their own logs and their secrets', () => {
    for (const [, policy] of resourcesOfType(main.json, 'AWS::IAM::Policy')) {
      for (const statement of statements(policy)) {
        expect(statement.Effect).toBe('Allow');
        for (const action of [statement.Action].flat()) {
          expect([
            'logs:CreateLogStream',
            'logs:PutLogEvents',
            'secretsmanager:GetSecretValue',
            'secretsmanager:DescribeSecret',
            // The wake queue: functions that wake agents send to it, the wake function reads it (and sends its continuations).
            'sqs:SendMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
            'sqs:DeleteMessage',
            'sqs:ChangeMessageVisibility',
            // The wake function alone (its own test below).
            'execute-api:ManageConnections',
            // The command signing key: the functions that make commands sign, those that show the keys read them (below).
            'kms:Sign',
            'kms:GetPublicKey',
          ]).toContain(action);
        }
      }
    }
    main.template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });
});

/** The KMS actions each function's role is allowed, with their resources, by function logical id. */
function kmsGrants(json: Synthesised['json']): Map<string, { action: string; resource: string }[]> {
  const grants = new Map<string, { action: string; resource: string }[]>();
  const policies = resourcesOfType(json, 'AWS::IAM::Policy');
  for (const [functionId, fn] of resourcesOfType(json, 'AWS::Lambda::Function')) {
    const roleId = refId(fn.Properties?.Role);
    const found: { action: string; resource: string }[] = [];
    for (const [, policy] of policies) {
      if (!((policy.Properties?.Roles ?? []) as unknown[]).some((role) => refId(role) === roleId)) continue;
      for (const statement of statements(policy)) {
        for (const action of [statement.Action].flat().filter((a) => a.startsWith('kms:'))) {
          for (const resource of [statement.Resource].flat()) found.push({ action, resource: JSON.stringify(resource) });
        }
      }
    }
    if (found.length > 0) grants.set(functionId, found);
  }
  return grants;
}

describe('command signing', () => {
  const SECOND = 'arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd';
  const IMPORTED = 'arn:aws:kms:eu-west-1:123456789012:key/9999aaaa-2222-bbbb-3333-cccc4444dddd';
  const byName = (grants: Map<string, unknown>) =>
    new Map([...grants].map(([id, value]) => [id.replace(/Function[0-9A-F]{8}$/, ''), value]));

  it('has an asymmetric P-256 key for signing, kept when the stack goes', () => {
    main.template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
    });
    main.template.resourceCountIs('AWS::KMS::Key', 1);
    main.template.hasOutput('CommandSigningKeyArn', {});
  });

  it('grants kms:Sign on that key alone to the functions that make commands, kms:GetPublicKey to those that show the keys, nothing to the rest', () => {
    const [keyId] = resourcesOfType(main.json, 'AWS::KMS::Key').map(([id]) => id);
    const ownKey = JSON.stringify({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(byName(kmsGrants(main.json))).toEqual(
      new Map([
        ['CommandKeys', [{ action: 'kms:GetPublicKey', resource: ownKey }]],
        ['GetCommands', [{ action: 'kms:Sign', resource: ownKey }]],
        ['GetConfig', [{ action: 'kms:GetPublicKey', resource: ownKey }]],
        ['EnqueueCommand', [{ action: 'kms:Sign', resource: ownKey }]],
      ]),
    );
    const signers = routes.filter((route) => route.commandKeys === 'sign').map((route) => route.name);
    expect(signers.sort()).toEqual(['EnqueueCommand', 'GetCommands']);
    // The key's id reaches exactly those functions.
    for (const [id, fn] of resourcesOfType(main.json, 'AWS::Lambda::Function')) {
      const variables = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      const expected = ['CommandKeys', 'GetCommands', 'GetConfig', 'EnqueueCommand'].includes(id.replace(/Function[0-9A-F]{8}$/, ''));
      expect('COMMAND_SIGNING_KMS_KEY_ID' in variables, id).toBe(expected);
    }
  });

  it('during a rotation signs with the named key and publishes the second one beside it, which nobody may sign with', () => {
    const rotating = synth({ upstashUrl: UPSTASH_URL, commandSigningKeyArn: IMPORTED, commandSigningSecondKeyArn: SECOND });
    const grants = byName(kmsGrants(rotating.json));
    expect(grants.get('EnqueueCommand')).toEqual([{ action: 'kms:Sign', resource: JSON.stringify(IMPORTED) }]);
    expect(grants.get('GetCommands')).toEqual([{ action: 'kms:Sign', resource: JSON.stringify(IMPORTED) }]);
    expect(grants.get('CommandKeys')).toEqual(
      expect.arrayContaining([
        { action: 'kms:GetPublicKey', resource: JSON.stringify(IMPORTED) },
        { action: 'kms:GetPublicKey', resource: JSON.stringify(SECOND) },
      ]),
    );
    expect(grants.get('CommandKeys')).toHaveLength(2);
    const env = resourcesOfType(rotating.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('CommandKeysFunction'))?.[1].Properties
      ?.Environment as { Variables: Record<string, unknown> };
    expect(env.Variables).toMatchObject({ COMMAND_SIGNING_KMS_KEY_ID: IMPORTED, COMMAND_SIGNING_KMS_OTHER_KEY_IDS: SECOND });
    expect(nagFindings(rotating.stack)).toEqual([]);
  });

  it('refuses a second key that is not a KMS key ARN, or is the signing key', () => {
    expect(() => synth({ commandSigningSecondKeyArn: 'alias/old' })).toThrow(/commandSigningSecondKeyArn: expected a KMS key ARN/);
    expect(() => synth({ commandSigningKeyArn: IMPORTED, commandSigningSecondKeyArn: IMPORTED })).toThrow(SettingsError);
  });
});

describe('the push channel', () => {
  const wsRoutes = () =>
    resourcesOfType(main.json, 'AWS::ApiGatewayV2::Route').filter(
      ([, route]) => main.json.Resources[refId(route.Properties?.ApiId) ?? '']?.Properties?.ProtocolType === 'WEBSOCKET',
    );

  it('is a WebSocket API routing on the message type: $connect and $disconnect to their functions, ping to a mock integration', () => {
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.type',
    });
    const byKey = new Map(wsRoutes().map(([, route]) => [route.Properties?.RouteKey as string, route]));
    expect([...byKey.keys()].sort()).toEqual(['$connect', '$disconnect', 'ping']);
    for (const [key, fn] of [
      ['$connect', PUSH_ROUTES.Connect],
      ['$disconnect', PUSH_ROUTES.Disconnect],
    ] as const) {
      const target = byKey.get(key)?.Properties?.Target as { 'Fn::Join': [string, unknown[]] };
      const integration = main.json.Resources[refId(target['Fn::Join'][1][1]) ?? ''];
      expect(JSON.stringify(integration?.Properties?.IntegrationUri), key).toMatch(new RegExp(`"${fn.name}Function[0-9A-F]{8}"`));
    }
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'MOCK',
      RequestTemplates: { $default: '{"statusCode": 200}' },
    });
    main.template.hasResourceProperties('AWS::ApiGatewayV2::IntegrationResponse', { ResponseTemplates: { $default: '{"type":"pong"}' } });
    main.template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', { RouteResponseKey: '$default' });
    main.template.hasOutput('WebSocketUrl', {});
  });

  it('lets the wake function alone manage connections, of this API stage only, and feeds it from an encrypted queue with a dead-letter queue', () => {
    const managers: string[] = [];
    for (const [, policy] of resourcesOfType(main.json, 'AWS::IAM::Policy')) {
      for (const statement of statements(policy)) {
        if (![statement.Action].flat().includes('execute-api:ManageConnections')) continue;
        managers.push(...((policy.Properties?.Roles ?? []) as unknown[]).map((role) => refId(role) ?? ''));
        const resources = JSON.stringify(statement.Resource);
        expect(resources).toMatch(/PushApi[0-9A-F]{8}/);
        expect(resources).toContain('/push/POST/@connections/*');
        expect(resources).toContain('/push/DELETE/@connections/*');
      }
    }
    expect(managers).toHaveLength(1);
    expect(managers[0]).toMatch(/^PushWakeRole/);
    main.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'] });
    main.template.resourceCountIs('AWS::SQS::Queue', 2);
    main.template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    main.template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }) });
  });

  it('alarms on failed posts', () => {
    main.template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: METRICS_NAMESPACE, MetricName: METRIC.wakePostsFailed });
  });
});

describe('the alarms', () => {
  it('watch the API for 5xx answers', () => {
    main.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
  });

  it('watch every function for errors and throttles', () => {
    const alarms = resourcesOfType(main.json, 'AWS::CloudWatch::Alarm').filter(([, alarm]) => alarm.Properties?.Metrics !== undefined);
    expect(alarms).toHaveLength(deployed.length + 1 + PUSH.length);
    const watched = new Set<string>();
    for (const [, alarm] of alarms) {
      const metrics = alarm.Properties?.Metrics as { MetricStat?: { Metric: { MetricName: string; Dimensions: { Value: unknown }[] } } }[];
      const names = metrics.flatMap((metric) => (metric.MetricStat ? [metric.MetricStat.Metric.MetricName] : [])).sort();
      expect(names).toEqual(['Errors', 'Throttles']);
      const fn = refId(metrics.find((metric) => metric.MetricStat)?.MetricStat?.Metric.Dimensions[0]?.Value);
      watched.add(fn as string);
    }
    expect(watched.size).toBe(deployed.length + 1 + PUSH.length);
  });

  it('notify an SNS topic when one is given', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:ops';
    const other = synth({ upstashUrl: UPSTASH_URL, alarmTopicArn: topic });
    other.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic] });
    other.template.resourceCountIs('AWS::SNS::Topic', 0);
    other.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('reach a person with alarmEmail: a topic of the stack (SSL only) with the address subscribed, cdk-nag clean', () => {
    const mailed = synth({ upstashUrl: UPSTASH_URL, alarmEmail: 'oncall@example.com' });
    mailed.template.resourceCountIs('AWS::SNS::Topic', 1);
    const [[topicId] = []] = resourcesOfType(mailed.json, 'AWS::SNS::Topic');
    mailed.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topicId },
    });
    mailed.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      }),
    });
    mailed.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: topicId }] });
    expect(nagFindings(mailed.stack)).toEqual([]);
  });

  it('subscribe alarmEmail to the given alarmTopicArn instead of making a topic', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:ops';
    const both = synth({ upstashUrl: UPSTASH_URL, alarmTopicArn: topic, alarmEmail: 'oncall@example.com' });
    both.template.resourceCountIs('AWS::SNS::Topic', 0);
    both.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', TopicArn: topic });
  });

  it('refuse an alarmEmail that is not an address, naming the key', () => {
    expect(() => synth({ alarmEmail: 'oncall' })).toThrow(/context alarmEmail: expected an e-mail address/);
  });
});

describe('the dashboard', () => {
  const body = (): string => {
    const [[, dashboard] = []] = resourcesOfType(main.json, 'AWS::CloudWatch::Dashboard');
    const joined = dashboard?.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] } | undefined;
    if (joined === undefined) throw new Error('no dashboard body');
    const parts = joined['Fn::Join'][1];
    return parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
  };

  it('is one dashboard named after the stack', () => {
    main.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    main.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'BizService' });
  });

  it('graphs every metric the handlers write, by its dimensions', () => {
    const text = body();
    for (const name of Object.values(METRIC)) {
      if (name === METRIC.duration || name === METRIC.storeLatency || name === METRIC.requests) continue;
      expect(text, name).toContain(`MetricName=\\"${name}\\"`);
    }
    expect(text).toContain(`{${METRICS_NAMESPACE},route,service,status_class} MetricName=\\"${METRIC.requests}\\"`);
    expect(text).toContain(`{${METRICS_NAMESPACE},route,service,status_class} MetricName=\\"${METRIC.duration}\\"`);
    expect(text).toContain(`{${METRICS_NAMESPACE},route,service,status_class} MetricName=\\"${METRIC.storeLatency}\\"`);
    expect(text).toContain(`{${METRICS_NAMESPACE},reason,service} MetricName=\\"${METRIC.tokenRejected}\\"`);
    expect(text).toContain(`{${METRICS_NAMESPACE},cause,service} MetricName=\\"${METRIC.unavailable}\\"`);
  });

  it('shows the state of every alarm', () => {
    const alarms = resourcesOfType(main.json, 'AWS::CloudWatch::Alarm').map(([id]) => id);
    const text = body();
    // The 5xx alarm, the failed posts alarm, one per function.
    expect(alarms.length).toBe(deployed.length + 3 + PUSH.length);
    for (const id of alarms) expect(text, id).toContain(`{"Fn::GetAtt":["${id}","Arn"]}`);
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it('reports nothing that is not acknowledged', () => {
    expect(nagFindings(main.stack)).toEqual([]);
  });

  it('has a written reason for every acknowledgement', () => {
    const acks = acknowledgements(main.stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(typeof ack.reason, `${ack.path} ${ack.id}`).toBe('string');
      expect((ack.reason as string).length, `${ack.path} ${ack.id}`).toBeGreaterThan(40);
    }
  });
});

describe('context', () => {
  it('leaves the debug routes and their functions out by default, and deploys them with debugRoutes=true', () => {
    expect(deployed.length).toBeLessThan(routes.length);
    main.template.resourceCountIs('AWS::Lambda::Function', deployed.length + 1 + PUSH.length);
    const debug = synth({ upstashUrl: UPSTASH_URL, debugRoutes: 'true' });
    expect([...functionByRouteKey(debug.json).keys()].sort()).toEqual(
      [...routes.map((route) => `${route.method} ${route.path}`), '$default'].sort(),
    );
    debug.template.resourceCountIs('AWS::Lambda::Function', routes.length + 1 + PUSH.length);
    expect(nagFindings(debug.stack)).toEqual([]);
  });

  it('imports existing secrets by name, grants only those, and stays cdk-nag clean', () => {
    const imported = synth({ upstashUrl: UPSTASH_URL, jwtSecret: 'biz-service/jwt', upstashTokenSecret: 'biz-service/upstash-token' });
    imported.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    imported.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ JWT_SECRET_ID: 'biz-service/jwt', UPSTASH_TOKEN_SECRET_ID: 'biz-service/upstash-token' }),
      },
    });
    const granted = JSON.stringify([...secretReads(imported.json).values()]);
    expect(granted).toContain(':secret:biz-service/jwt-??????');
    expect(granted).toContain(':secret:biz-service/upstash-token-??????');
    expect(nagFindings(imported.stack)).toEqual([]);
  });

  it('without an Upstash URL, creates no token secret and warns that the store is per container', () => {
    const demo = synth();
    demo.template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    demo.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ USE_REDIS: 'false', UPSTASH_TOKEN_SECRET_ID: Match.absent() }) },
    });
    const warnings = demo.stack.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning');
    expect(JSON.stringify(warnings)).toContain('upstashUrl');
  });

  it('recycles the store functions when secretsRevision changes, and only them', () => {
    const bumped = synth({ upstashUrl: UPSTASH_URL, secretsRevision: 7 });
    const revisions = resourcesOfType(bumped.json, 'AWS::Lambda::Function').map(([id, fn]) => [
      id.replace(/Function[0-9A-F]{8}$/, ''),
      fn.Properties?.Environment?.Variables?.SECRETS_REVISION,
    ]);
    const expected = [
      ...deployed.map((route) => [route.name, route.usesStore || route.probesStore ? '7' : undefined]),
      [fallbackRoute.name, undefined],
      ...PUSH.map((fn) => [fn.name, '7']),
    ];
    expect(revisions.sort()).toEqual(expected.sort());
  });

  it('for sam local only, declares the secret variables empty so that --env-vars can set them', () => {
    const local = synth({ samLocal: 'true' });
    for (const [, fn] of resourcesOfType(local.json, 'AWS::Lambda::Function')) {
      const variables = fn.Properties?.Environment?.Variables ?? {};
      if (variables.JWT_SECRET_ID === undefined) continue;
      expect(variables).toMatchObject({ JWT_SECRET_KEY: '', UPSTASH_REDIS_REST_TOKEN: '' });
    }
    expect(JSON.stringify(local.stack.node.metadata)).toContain('sam local only');
  });

  it('serves a custom domain with mutual TLS, turns off the default endpoint and can require bound tokens', () => {
    const secured = synth({
      upstashUrl: UPSTASH_URL,
      domainName: 'api.example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666',
      truststoreUri: 's3://example-truststore/agents-ca.pem',
      requireBoundTokens: 'true',
    });
    secured.template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'api.example.com',
      DomainNameConfigurations: [Match.objectLike({ SecurityPolicy: 'TLS_1_2' })],
      MutualTlsAuthentication: { TruststoreUri: 's3://example-truststore/agents-ca.pem' },
    });
    secured.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    secured.template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    secured.template.hasOutput('ApiUrl', { Value: 'https://api.example.com/' });
    secured.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ REQUIRE_BOUND_TOKENS: 'true' }) },
    });
    expect(nagFindings(secured.stack)).toEqual([]);
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
  });

  it('passes the DPoP settings to the functions, PUBLIC_BASE_URL the custom domain unless set, and names a bad one', () => {
    const onDomain = synth({
      upstashUrl: UPSTASH_URL,
      domainName: 'Agents.Example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666',
      dpopRequired: 'true',
      dpopAlgorithms: 'ES256,EdDSA',
      dpopIatWindowSeconds: '30',
    });
    onDomain.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          DPOP_REQUIRED: 'true',
          DPOP_ALGORITHMS: 'ES256,EdDSA',
          DPOP_IAT_WINDOW_SECONDS: '30',
          PUBLIC_BASE_URL: 'https://agents.example.com',
        }),
      },
    });
    const onStage = synth({ upstashUrl: UPSTASH_URL, publicBaseUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/' });
    onStage.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PUBLIC_BASE_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod' }) },
    });
    const functions = main.template.findResources('AWS::Lambda::Function');
    const variables = Object.values(functions).map(
      (fn) => (fn as { Properties: { Environment?: { Variables?: object } } }).Properties.Environment?.Variables ?? {},
    );
    expect(variables.some((vars) => 'PUBLIC_BASE_URL' in vars)).toBe(false);
    expect(variables.some((vars) => (vars as Record<string, string>).DPOP_REQUIRED === 'false')).toBe(true);
    expect(() => synth({ publicBaseUrl: 'http://api.example.com' })).toThrow(/publicBaseUrl/);
    expect(() => synth({ publicBaseUrl: 'api.example.com' })).toThrow(/publicBaseUrl/);
    expect(() => synth({ dpopAlgorithms: 'HS256' })).toThrow(/dpopAlgorithms/);
    expect(() => synth({ dpopIatWindowSeconds: '0' })).toThrow(/dpopIatWindowSeconds/);
  });

  it('refuses bound tokens without mutual TLS, and mutual TLS without a domain', () => {
    expect(() => synth({ requireBoundTokens: 'true' })).toThrow(/requireBoundTokens/);
    expect(() => synth({ truststoreUri: 's3://b/ca.pem' })).toThrow(/truststoreUri/);
    expect(() => synth({ domainName: 'api.example.com' })).toThrow(/certificateArn/);
  });

  it('refuses a malformed value and names the key', () => {
    expect(() => synth({ throttleRateLimit: 'fast' })).toThrow(SettingsError);
    expect(() => synth({ throttleRateLimit: 'fast' })).toThrow(/throttleRateLimit/);
    expect(() => synth({ upstashUrl: 'redis://localhost:6379' })).toThrow(/upstashUrl/);
    expect(() => synth({ logRetentionDays: 10 })).toThrow(/logRetentionDays/);
  });

  it('synthesises in seconds without bundling, once aws-cdk-lib is loaded', () => {
    expect(synth({ upstashUrl: UPSTASH_URL }).ms).toBeLessThan(15_000);
  });
});

describe('cdk.json', () => {
  /** CDK's own keys in cdk.json's context: the CLI's telemetry switch and the feature flags. */
  const cdkOwn = (key: string) => key === 'cli-telemetry' || key in FLAGS;
  const recommended = JSON.parse(
    readFileSync(path.join(PROJECT_ROOT, 'node_modules', 'aws-cdk-lib', 'recommended-feature-flags.json'), 'utf8'),
  ) as Record<string, unknown>;
  /** Flags set against the recommendation, each for a reason (docs/deploy.md). */
  const deviations: Record<string, unknown> = {
    // Would send every construct's property values (strings masked) to AWS in AWS::CDK::Metadata.
    '@aws-cdk/core:enableAdditionalMetadataCollection': false,
  };

  it('sets every stack setting to its CONTEXT_DEFAULTS value, and nothing else', () => {
    const settings = Object.fromEntries(Object.entries(CDK_JSON_CONTEXT).filter(([key]) => !cdkOwn(key)));
    expect(settings).toEqual(CONTEXT_DEFAULTS);
  });

  it('sets every feature flag a new CDK app gets, at its recommended value or a stated deviation', () => {
    const flags = Object.fromEntries(Object.entries(CDK_JSON_CONTEXT).filter(([key]) => key in FLAGS));
    expect(flags).toEqual({ ...recommended, ...deviations });
    for (const key of Object.keys(deviations)) expect(recommended).toHaveProperty([key]);
  });
});

describe('reserved concurrency', () => {
  function reservations(json: Synthesised['json']): Record<string, unknown> {
    return Object.fromEntries(
      resourcesOfType(json, 'AWS::Lambda::Function').map(([id, fn]) => [
        id.replace(/Function[0-9A-F]{8}$/, ''),
        fn.Properties?.ReservedConcurrentExecutions,
      ]),
    );
  }

  it('reserves nothing by default', () => {
    expect(Object.values(reservations(main.json)).every((value) => value === undefined)).toBe(true);
  });

  it('reserves reservedConcurrency for every function, with per-function values and 0 for none', () => {
    const capped = synth({
      upstashUrl: UPSTASH_URL,
      reservedConcurrency: 20,
      reservedConcurrencyByFunction: 'Health=2, GetCommands=50,Fallback=0',
    });
    const expected = Object.fromEntries([...deployed.map((route) => [route.name, 20]), [fallbackRoute.name, undefined]]);
    expect(reservations(capped.json)).toEqual({ ...expected, Health: 2, GetCommands: 50 });
    expect(nagFindings(capped.stack)).toEqual([]);
    expect(JSON.stringify(capped.stack.node.metadata)).not.toContain('reserved-concurrency');
  });

  it('warns when the reservations need more than an account with the default limit has', () => {
    const greedy = synth({ reservedConcurrency: 100, reservedConcurrencyByFunction: 'Health=200' });
    const total = 100 * deployed.length + 200;
    expect(JSON.stringify(greedy.stack.node.metadata)).toContain(`reserve ${total} concurrent executions in all`);
    expect(JSON.stringify(greedy.stack.node.metadata)).toContain(`at least ${total + 100}`);
  });

  it('refuses malformed reservations and unknown function names, naming the key', () => {
    expect(() => synth({ reservedConcurrency: 'many' })).toThrow(/context reservedConcurrency:/);
    expect(() => synth({ reservedConcurrency: -1 })).toThrow(/context reservedConcurrency:/);
    expect(() => synth({ reservedConcurrencyByFunction: 'Health' })).toThrow(/reservedConcurrencyByFunction.*Name=number/);
    expect(() => synth({ reservedConcurrencyByFunction: 'Health=-2' })).toThrow(/reservedConcurrencyByFunction/);
    expect(() => synth({ reservedConcurrencyByFunction: 'Nope=3' })).toThrow(
      /reservedConcurrencyByFunction: no function Nope; the functions are .*Health/,
    );
  });
});

describe('the edge (edgeWaf)', () => {
  let edge: Synthesised;
  beforeAll(() => {
    edge = synth({ ...EDGE_REGION, upstashUrl: UPSTASH_URL, edgeWaf: 'true' });
  });

  it('creates a CLOUDFRONT web ACL that blocks an IP beyond wafRateLimitPer5Min with a JSON 429 and Retry-After', () => {
    edge.template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    edge.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Name: 'RateLimitPerIp',
          Statement: {
            RateBasedStatement: { AggregateKeyType: 'IP', Limit: CONTEXT_DEFAULTS.wafRateLimitPer5Min, EvaluationWindowSec: 300 },
          },
          Action: {
            Block: {
              CustomResponse: {
                ResponseCode: 429,
                CustomResponseBodyKey: 'rate-limited',
                ResponseHeaders: Match.arrayWith([{ Name: 'Retry-After', Value: String(EDGE_RETRY_AFTER_SECONDS) }]),
              },
            },
          },
          VisibilityConfig: Match.objectLike({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true }),
        }),
      ],
    });
    const [, acl] = resourcesOfType(edge.json, 'AWS::WAFv2::WebACL')[0] as [string, Resource];
    const body = acl.Properties?.CustomResponseBodies?.['rate-limited'];
    expect(body.ContentType).toBe('APPLICATION_JSON');
    expect(JSON.parse(body.Content)).toEqual(EDGE_RATE_LIMITED_BODY);

    const stricter = synth({ ...EDGE_REGION, edgeWaf: 'true', wafRateLimitPer5Min: '300' });
    stricter.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 300 }) } })],
    });
  });

  it('puts a CloudFront distribution with that ACL in front of the API, caching nothing and passing every method over HTTPS', () => {
    const [aclId] = resourcesOfType(edge.json, 'AWS::WAFv2::WebACL')[0] as [string, Resource];
    const [apiId] = resourcesOfType(edge.json, 'AWS::ApiGatewayV2::Api')[0] as [string, Resource];
    const [, distribution] = resourcesOfType(edge.json, 'AWS::CloudFront::Distribution')[0] as [string, Resource];
    const config = distribution.Properties?.DistributionConfig;
    expect(config.WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(config.Origins).toHaveLength(1);
    expect(JSON.stringify(config.Origins[0].DomainName)).toContain(`"Fn::GetAtt":["${apiId}","ApiEndpoint"]`);
    expect(config.Origins[0].CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] });
    expect(config.DefaultCacheBehavior).toMatchObject({
      // The managed CachingDisabled and AllViewerExceptHostHeader policies.
      CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
      OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
      ViewerProtocolPolicy: 'https-only',
    });
    expect([...config.DefaultCacheBehavior.AllowedMethods].sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
    expect(refId(config.Logging.Bucket)).toMatch(/^EdgeLogs/);
    edge.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30, Status: 'Enabled' })] },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
    });
  });

  it('gives the edge URL as ApiUrl and the direct one as OriginUrl', () => {
    const [distributionId] = resourcesOfType(edge.json, 'AWS::CloudFront::Distribution')[0] as [string, Resource];
    edge.template.hasOutput('ApiUrl', { Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/']] } });
    edge.template.hasOutput('OriginUrl', {});
    main.template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    main.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
  });

  it('is cdk-nag clean, each acknowledgement with a written reason', () => {
    expect(nagFindings(edge.stack)).toEqual([]);
    const acks = acknowledgements(edge.stack).filter((ack) => ack.path.includes('/Edge/'));
    expect(acks.map((ack) => ack.id.replace(/^Annotation::/, '')).sort()).toEqual([
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR4',
      'AwsSolutions-S1',
    ]);
    for (const ack of acks) expect(String(ack.reason).length, ack.id).toBeGreaterThan(40);
  });

  it('serves domainName from CloudFront with TLS 1.2, and creates no API Gateway domain', () => {
    const named = synth({ ...EDGE_REGION, edgeWaf: 'true', domainName: 'api.example.com', certificateArn: EDGE_CERTIFICATE });
    named.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['api.example.com'],
        ViewerCertificate: { AcmCertificateArn: EDGE_CERTIFICATE, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
      }),
    });
    named.template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    named.template.hasOutput('ApiUrl', { Value: 'https://api.example.com/' });
    named.template.hasOutput('DomainTarget', {});
    expect(nagFindings(named.stack)).toEqual([]);
    expect(acknowledgements(named.stack).map((ack) => ack.id.replace(/^Annotation::/, ''))).not.toContain('AwsSolutions-CFR4');
  });

  it('uses an existing web ACL from webAclArn, in any region, and creates none', () => {
    const shared = synth({ region: 'eu-west-1', upstashUrl: UPSTASH_URL, edgeWaf: 'true', webAclArn: WEB_ACL_ARN });
    shared.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    shared.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ WebACLId: WEB_ACL_ARN }),
    });
    expect(nagFindings(shared.stack)).toEqual([]);
  });

  it('refuses what cannot work: a new ACL outside us-east-1, mutual TLS behind CloudFront, a certificate elsewhere, an ACL without the edge', () => {
    expect(() => synth({ region: 'eu-west-1', edgeWaf: 'true' })).toThrow(/context edgeWaf: .*us-east-1.*webAclArn/);
    expect(() => synth({ edgeWaf: 'true' })).toThrow(/context edgeWaf:/);
    expect(() =>
      synth({
        ...EDGE_REGION,
        edgeWaf: 'true',
        domainName: 'api.example.com',
        certificateArn: EDGE_CERTIFICATE,
        truststoreUri: 's3://example-truststore/agents-ca.pem',
      }),
    ).toThrow(/context edgeWaf: .*truststoreUri/);
    expect(() =>
      synth({
        ...EDGE_REGION,
        edgeWaf: 'true',
        domainName: 'api.example.com',
        certificateArn: EDGE_CERTIFICATE.replace('us-east-1', 'eu-west-1'),
      }),
    ).toThrow(/context certificateArn: .*us-east-1/);
    expect(() => synth({ webAclArn: WEB_ACL_ARN })).toThrow(/context webAclArn: .*edgeWaf=true/);
    expect(() => synth({ ...EDGE_REGION, edgeWaf: 'true', webAclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/a/b' })).toThrow(
      /context webAclArn: .*CLOUDFRONT/,
    );
    expect(() => synth({ ...EDGE_REGION, edgeWaf: 'true', wafRateLimitPer5Min: 5 })).toThrow(/context wafRateLimitPer5Min:/);
  });
});
