/** Synthesises the real CDK app for tests, and reads the template the way the assertions need. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../infra/app.ts';
import { PROJECT_ROOT } from '../../infra/function.ts';
import type { BizServiceStack } from '../../infra/stack.ts';

export interface Synthesised {
  readonly stack: BizServiceStack;
  readonly template: Template;
  readonly json: { Resources: Record<string, Resource>; Outputs?: Record<string, unknown> };
  readonly ms: number;
}

export interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

/** cdk.json's `context` block: what the CDK CLI hands the app before any `-c` value. */
export const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

/**
 * One synth of infra/app.ts with cdk.json's context (feature flags included) and these values
 * over it, as `cdk synth -c key=value` would. Esbuild bundling is skipped unless
 * `bundle` is true (context `aws:cdk:bundling-stacks: []`), so a synth takes about a second.
 */
export function synth(context: Record<string, unknown> = {}, options: { bundle?: boolean; outdir?: string } = {}): Synthesised {
  const started = Date.now();
  const app = new App({
    context: { ...CDK_JSON_CONTEXT, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...context },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const { stack } = buildApp(app);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synthesised['json'], ms: Date.now() - started };
}

export function resourcesOfType(json: Synthesised['json'], type: string): [string, Resource][] {
  return Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
}

/** The logical id a `Ref` or `Fn::GetAtt` points at. */
export function refId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.Ref === 'string') return record.Ref;
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

/** cdk-nag AWS Solutions findings that are not acknowledged. */
export function nagFindings(stack: Stack): { rule: string; severity: string; paths: string[] }[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.map((violation) => ({
    rule: violation.ruleName,
    severity: violation.severity ?? 'error',
    paths: violation.violatingResources.map((resource) => resource.constructPath ?? resource.resourceLogicalId ?? '?'),
  }));
}

/** Every acknowledgement recorded with Validations.of(...).acknowledge, with its reason. */
export function acknowledgements(scope: IConstruct): { path: string; id: string; reason: unknown }[] {
  const found: { path: string; id: string; reason: unknown }[] = [];
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>))
        found.push({ path: construct.node.path, id, reason });
    }
  }
  return found;
}
