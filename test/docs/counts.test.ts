/**
 * The numbers the docs give about the stack are the stack's: how many Lambda functions and API
 * routes it makes, how many alarms and alarm metrics, and what those cost at rest. Each is counted
 * in the synthesised template (default context, and with debugRoutes=true), so a route added to
 * lib/http/routes.ts, or an alarm to infra/, fails here until the docs say so.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PUSH_ROUTES } from '../../lib/push/routes.ts';
import { refId, resourcesOfType, type Synthesised, synth } from '../helpers/infra-synth.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** CloudWatch's list price of a standard-resolution alarm metric, per month, and what the free tier covers. */
const ALARM_METRIC_MONTH_USD = 0.1;
const FREE_ALARM_METRICS = 10;

interface Counts {
  functions: number;
  routes: number;
  alarms: number;
  alarmMetrics: number;
}

function counts(stack: Synthesised): Counts {
  const alarms = resourcesOfType(stack.json, 'AWS::CloudWatch::Alarm');
  // A metric-math alarm is billed per metric it reads; a plain alarm reads one.
  const metricsOf = (properties: Record<string, any> | undefined) =>
    Array.isArray(properties?.Metrics) ? properties.Metrics.filter((query: { MetricStat?: unknown }) => query.MetricStat).length : 1;
  return {
    functions: resourcesOfType(stack.json, 'AWS::Lambda::Function').length,
    // The HTTP API's routes; the push channel's WebSocket routes are counted apart (docs/push.md).
    routes: resourcesOfType(stack.json, 'AWS::ApiGatewayV2::Route').filter(
      ([, route]) =>
        route.Properties?.RouteKey !== '$default' &&
        stack.json.Resources[refId(route.Properties?.ApiId) ?? '']?.Properties?.ProtocolType === 'HTTP',
    ).length,
    alarms: alarms.length,
    alarmMetrics: alarms.reduce((sum, [, alarm]) => sum + metricsOf(alarm.Properties), 0),
  };
}

/** README.md and docs/*.md, white space folded, so that a phrase may break across lines. */
function docsText(): string {
  const files = [
    'README.md',
    ...readdirSync(path.join(ROOT, 'docs'))
      .filter((file) => file.endsWith('.md'))
      .map((file) => `docs/${file}`),
  ];
  return files
    .map((file) => readFileSync(path.join(ROOT, file), 'utf8'))
    .join('\n')
    .replace(/\s+/g, ' ');
}

const usd = (value: number) => `$${value.toFixed(2)}`;

describe('the counts the docs give', () => {
  let main: Counts;
  let debug: Counts;
  let text: string;
  beforeAll(() => {
    main = counts(synth({ upstashUrl: 'https://eu1-example-12345.upstash.io' }));
    debug = counts(synth({ upstashUrl: 'https://eu1-example-12345.upstash.io', debugRoutes: 'true' }));
    text = docsText();
  });

  it('counts the stack it checks against', () => {
    // One per route, the fallback, and the push channel's three ($connect, $disconnect, the wake function).
    expect(main.functions).toBe(main.routes + 1 + Object.keys(PUSH_ROUTES).length);
    expect(debug.routes).toBe(main.routes + 2);
    // One per function, the API's 5xx, the push channel's failed posts.
    expect(main.alarms).toBe(main.functions + 2);
  });

  it('says how many Lambda functions, and never another number of them', () => {
    expect(text).toContain(`${main.functions} Lambda functions (${debug.functions} with \`debugRoutes=true\`)`);
    // A number written as a word ("Nine Lambda functions") is a number too.
    const said = [
      ...text.matchAll(
        /\b(\d+|[Tt]wo|[Tt]hree|[Ff]our|[Ff]ive|[Ss]ix|[Ss]even|[Ee]ight|[Nn]ine|[Tt]en|[Ee]leven|[Tt]welve|\w+teen|\w+ty(?:-\w+)?) Lambda functions\b/g,
      ),
    ].map((match) => match[1]);
    expect(said.filter((word) => word !== String(main.functions))).toEqual([]);
  });

  it('says how many routes', () => {
    expect(text).toContain(`${main.routes} routes (${debug.routes} with \`debugRoutes=true\`)`);
  });

  it('says how many alarms and alarm metrics, and what they cost a month', () => {
    expect(text).toContain(`${main.alarms} CloudWatch alarms (${debug.alarms} with \`debugRoutes=true\`)`);
    expect(text).toContain(
      `the ${main.alarms} alarms are ${main.alarmMetrics} alarm metrics (${debug.alarmMetrics} with \`debugRoutes=true\`)`,
    );
    const cost = (metrics: number) => [usd(metrics * ALARM_METRIC_MONTH_USD), usd((metrics - FREE_ALARM_METRICS) * ALARM_METRIC_MONTH_USD)];
    const [mainFull, mainFree] = cost(main.alarmMetrics);
    const [debugFull, debugFree] = cost(debug.alarmMetrics);
    expect(text).toContain(
      `about ${mainFull} a month (${mainFree} after the free tier's ${FREE_ALARM_METRICS} alarm metrics per account; ${debugFull} and ${debugFree} with \`debugRoutes=true\`)`,
    );
  });
});
