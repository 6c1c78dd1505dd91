/**
 * The work of the wake queue (docs/push.md#the-fan-out): what a request asks for after its store
 * call succeeded, done apart from it by the wake function (SQS in AWS, an in-process queue
 * locally), so that no request waits on posts and a job over 100,000 targets is walked in
 * bounded pages, not posted to from the create.
 */
import type { WakeReason } from './messages.ts';

export type WakeTask =
  /** Wake these agents' connections (one agent for a command, a cancel, a config or a join). */
  | { readonly kind: 'agents'; readonly agentIds: readonly string[]; readonly reason: WakeReason }
  /** Wake the connected targets of a job still pending, from target offset `after` on. */
  | { readonly kind: 'job'; readonly jobId: string; readonly after: number }
  /** Close connections (the oldest, evicted by a fifth). */
  | { readonly kind: 'close'; readonly connectionIds: readonly string[] }
  /** Close the connections a revocation ends: one token's, or a subject's issued at or before `cutoff` (epoch s). */
  | { readonly kind: 'revoke'; readonly jti: string }
  | { readonly kind: 'revoke'; readonly sub: string; readonly cutoff: number };

/** A task as the queue carries it: JSON. */
export function taskText(task: WakeTask): string {
  return JSON.stringify(task);
}

/** A queued task read back; throws on what no sender here writes. */
export function parseTask(text: string): WakeTask {
  const task = JSON.parse(text) as WakeTask;
  if (typeof task !== 'object' || task === null || !['agents', 'job', 'close', 'revoke'].includes(task.kind)) {
    throw new Error('not a wake task');
  }
  return task;
}
