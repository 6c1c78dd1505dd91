/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy` run this (see cdk.json). Settings come from
 * context; the region from `-c region=...`, else AWS_REGION, else the stack is
 * environment-agnostic and deploys to the CLI's region. cdk-nag's AWS Solutions checks run on
 * every synth; an unacknowledged error fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MAX_REDIS_TIMEOUT_MS } from './function.ts';
import { fallbackRoute, routes } from '../lib/http/routes.ts';
import { CONTEXT_DEFAULTS, readSettings } from './settings.ts';
import { BizServiceStack } from './stack.ts';

export function buildApp(app: App = new App()): { app: App; stack: BizServiceStack } {
  const region = (app.node.tryGetContext('region') as string | undefined) || process.env.AWS_REGION || undefined;
  const account = process.env.CDK_DEFAULT_ACCOUNT || undefined;
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) || CONTEXT_DEFAULTS.stackName;
  const stack = new BizServiceStack(app, stackName, {
    settings: readSettings(app.node, {
      maxRedisTimeoutMs: MAX_REDIS_TIMEOUT_MS,
      functionNames: [...routes.map((route) => route.name), fallbackRoute.name],
      region,
    }),
    description: 'biz-service: resource server for the agent fleet',
    ...(region === undefined ? {} : { env: { region, ...(account === undefined ? {} : { account }) } }),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.main) buildApp().app.synth();
