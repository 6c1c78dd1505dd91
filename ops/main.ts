/** The verb table and the process around `run` (ops/cli.ts): what ops/bizops.ts starts. */
import { text } from 'node:stream/consumers';
import { AGENT_VERBS } from './agents.ts';
import { run, type Verb } from './cli.ts';
import { GROUP_VERBS } from './groups.ts';
import { JOB_VERBS } from './jobs.ts';

export const VERBS: readonly Verb[] = [...JOB_VERBS, ...GROUP_VERBS, ...AGENT_VERBS];

/** Runs bizops in this process, on its arguments and standard streams; answers the exit code. */
export async function main(): Promise<number> {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  let input: Promise<string> | undefined;
  return run(VERBS, {
    argv: process.argv.slice(2),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: () => {
      input ??= text(process.stdin);
      return input;
    },
    signal: stop.signal,
  });
}
