/**
 * The synthesised CloudFormation template, asserted with aws-cdk-lib/assertions. One template
 * (bundling skipped) serves most assertions; a few more synths vary the context.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_DEFAULTS } from '../infra/function.ts';
import { SettingsError } from '../infra/settings.ts';
import { fallbackRoute, routes } from '../lib/http/routes.ts';
import { acknowledgements, nagFindings, type Resource, refId, resourcesOfType, type Synthesised, synth } from './helpers/infra-synth.ts';

const UPSTASH_URL = 'https://eu1-example-12345.upstash.io';
// Values that must never reach the template, even when the synthesising shell has them.
const SENTINELS = {
  JWT_SECRET_KEY: 'sentinel-jwt-secret-0123456789abcdef0123456789',
  JWT_SECRET_KEYS: 'k1=sentinel-jwt-keys-0123456789abcdef01234567',
  UPSTASH_REDIS_REST_TOKEN: 'sentinel-upstash-token-0123456789abcdef',
};

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
        if (actions.some((action) => action.startsWith('secretsmanager:'))) resources.push(statement.Resource);
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
  it('has exactly the routes of the route table, plus $default for the fallback', () => {
    const keys = [...functionByRouteKey(main.json).keys()].sort();
    expect(keys).toEqual([...routes.map((route) => `${route.method} ${route.path}`), '$default'].sort());
  });

  it('sends each route to its own function, and $default to the fallback', () => {
    const byKey = functionByRouteKey(main.json);
    for (const route of routes)
      expect(byKey.get(`${route.method} ${route.path}`)).toMatch(new RegExp(`^${route.name}Function[0-9A-F]{8}$`));
    expect(byKey.get('$default')).toMatch(new RegExp(`^${fallbackRoute.name}Function[0-9A-F]{8}$`));
    expect(new Set(byKey.values()).size).toBe(routes.length + 1);
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
    const stage = resourcesOfType(main.json, 'AWS::ApiGatewayV2::Stage')[0]?.[1];
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
  it('run on Node.js 24, ARM64, with the stated memory and a timeout above the Redis timeout', () => {
    const functions = resourcesOfType(main.json, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(routes.length + 1);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Timeout: FUNCTION_DEFAULTS.timeout.toSeconds(),
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

  it('may read only the secrets they need: store functions both, /health and the fallback none', () => {
    const reads = secretReads(main.json);
    const jwt = resourcesOfType(main.json, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('JwtSecret'))?.[0];
    const token = resourcesOfType(main.json, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('UpstashToken'))?.[0];
    for (const route of [...routes, { ...fallbackRoute, usesStore: false }]) {
      const functionId = [...reads.keys()].find((id) => id.startsWith(`${route.name}Function`)) as string;
      const expected = route.usesStore ? [{ Ref: jwt }, { Ref: token }] : [];
      expect(reads.get(functionId), route.name).toEqual(expected);
    }
  });

  it('have roles that allow nothing but their own logs and their secrets', () => {
    for (const [, policy] of resourcesOfType(main.json, 'AWS::IAM::Policy')) {
      for (const statement of statements(policy)) {
        expect(statement.Effect).toBe('Allow');
        for (const action of [statement.Action].flat()) {
          expect(['logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']).toContain(
            action,
          );
        }
      }
    }
    main.template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
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
    expect(alarms).toHaveLength(routes.length + 1);
    const watched = new Set<string>();
    for (const [, alarm] of alarms) {
      const metrics = alarm.Properties?.Metrics as { MetricStat?: { Metric: { MetricName: string; Dimensions: { Value: unknown }[] } } }[];
      const names = metrics.flatMap((metric) => (metric.MetricStat ? [metric.MetricStat.Metric.MetricName] : [])).sort();
      expect(names).toEqual(['Errors', 'Throttles']);
      const fn = refId(metrics.find((metric) => metric.MetricStat)?.MetricStat?.Metric.Dimensions[0]?.Value);
      watched.add(fn as string);
    }
    expect(watched.size).toBe(routes.length + 1);
  });

  it('notify an SNS topic when one is given', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:ops';
    const other = synth({ upstashUrl: UPSTASH_URL, alarmTopicArn: topic });
    other.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic] });
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
  it('leaves the debug routes and their functions out when debugRoutes is false', () => {
    const lean = synth({ upstashUrl: UPSTASH_URL, debugRoutes: 'false' });
    const expected = routes.filter((route) => !route.debug);
    expect(expected.length).toBeLessThan(routes.length);
    expect([...functionByRouteKey(lean.json).keys()].sort()).toEqual(
      [...expected.map((route) => `${route.method} ${route.path}`), '$default'].sort(),
    );
    lean.template.resourceCountIs('AWS::Lambda::Function', expected.length + 1);
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
    const expected = [...routes.map((route) => [route.name, route.usesStore ? '7' : undefined]), [fallbackRoute.name, undefined]];
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
