/** Runs a bundled function (index.mjs in a cdk.out asset folder) in a child Node process, as Lambda would. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { contextForChild, contextInChild } from '../../dev/lambda-context.ts';

const run = promisify(execFile);

// Imports the bundle from its own folder (no node_modules around it) and calls the handler once,
// with the shared Lambda context rebuilt from TEST_CONTEXT (the child imports nothing of ours).
const CHILD = `
import { pathToFileURL } from 'node:url';
const { handler } = await import(pathToFileURL(process.cwd() + '/index.mjs').href);
${contextInChild('TEST_CONTEXT')}
const result = await handler(JSON.parse(process.env.TEST_EVENT), context);
process.stdout.write('\\n' + JSON.stringify({ node: process.version, result }));
`;

export interface BundleAnswer {
  readonly node: string;
  readonly result: { statusCode: number; headers?: Record<string, string>; body?: string };
  /** What the function wrote to stdout before answering: its log lines and EMF metrics, one JSON object each. */
  readonly lines: readonly Record<string, unknown>[];
}

export async function invokeBundle(assetDir: string, event: unknown, env: Record<string, string>): Promise<BundleAnswer> {
  const { stdout } = await run(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', CHILD], {
    cwd: assetDir,
    // Only what Lambda would set, plus the test's configuration: nothing from this shell.
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: 'bundle-test',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      TEST_EVENT: JSON.stringify(event),
      TEST_CONTEXT: contextForChild('bundle-test', { requestId: 'bundle-test', logStreamName: 'test' }),
      ...env,
    },
    timeout: 15_000,
  });
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  const last = lines.pop() ?? '';
  return { ...(JSON.parse(last) as Omit<BundleAnswer, 'lines'>), lines: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Runs `work` on every item, at most `limit` at a time (each bundle run is a child process), in the items' order. */
export async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
