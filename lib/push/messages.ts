/**
 * The push channel's messages (docs/push.md). Server to agent: a wake, a hint that carries no
 * command, only "poll now" and why; the agent's answer to it is an ordinary poll, so every
 * lifecycle, rollout and abort rule keeps holding. Agent to server: a ping, answered by a pong,
 * to keep the connection from API Gateway's 10 minute idle timeout.
 */

/** What woke the agent: a command for it, a cancel of one it holds, its config, a job it may now receive. */
export const WAKE_REASONS = ['command', 'cancel', 'config', 'job'] as const;
export type WakeReason = (typeof WAKE_REASONS)[number];

export interface WakeMessage {
  readonly type: 'wake';
  readonly reason: WakeReason;
  /** ISO 8601, the instant the wake was sent. */
  readonly at: string;
}

export function wakeMessage(reason: WakeReason, at: number): string {
  return JSON.stringify({ type: 'wake', reason, at: new Date(at).toISOString() } satisfies WakeMessage);
}

export const PING = JSON.stringify({ type: 'ping' });
export const PONG = JSON.stringify({ type: 'pong' });

/** Whether an agent's frame is a ping (`{"type":"ping"}`, other members ignored). */
export function isPing(frame: string): boolean {
  try {
    const parsed: unknown = JSON.parse(frame);
    return typeof parsed === 'object' && parsed !== null && (parsed as { type?: unknown }).type === 'ping';
  } catch {
    return false;
  }
}

/** API Gateway's idle timeout: a connection with no message for this long is closed. */
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
