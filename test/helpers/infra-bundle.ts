/** Runs a bundled function (index.mjs in a cdk.out asset folder) in a child Node process, as Lambda would. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Imports the bundle from its own folder (no node_modules around it) and calls the handler once.
const CHILD = `
import { pathToFileURL } from 'node:url';
const { handler } = await import(pathToFileURL(process.cwd() + '/index.mjs').href);
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST', awsRequestId: 'bundle-test',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: '256', logGroupName: '/aws/lambda/test', logStreamName: 'test', callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 10000,
};
const result = await handler(JSON.parse(process.env.TEST_EVENT), context);
process.stdout.write(JSON.stringify({ node: process.version, result }));
`;

export interface BundleAnswer {
  readonly node: string;
  readonly result: { statusCode: number; headers?: Record<string, string>; body?: string };
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
      ...env,
    },
    timeout: 15_000,
  });
  return JSON.parse(stdout) as BundleAnswer;
}
