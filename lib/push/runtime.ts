/**
 * The push channel of this process, made once: where wake tasks go and how connections are
 * posted to. In AWS both come from the environment the stack sets (PUSH_WAKE_QUEUE_URL, the wake
 * queue; PUSH_CONNECTIONS_ENDPOINT, the WebSocket stage's management endpoint); without them the
 * push channel is off and a wake does nothing. The local server puts in its own (dev/push.ts).
 */
import { ConfigError } from '../config.ts';
import { ApiGatewayConnections, type ConnectionGateway } from './gateway.ts';
import { SqsWakeQueue, type WakeQueue } from './queue.ts';

export interface PushRuntime {
  readonly queue: WakeQueue;
  /** Only the functions that post or close hold one (the wake function); undefined elsewhere. */
  readonly gateway: ConnectionGateway | undefined;
}

export interface PushSettings {
  readonly wakeQueueUrl: string | undefined;
  readonly connectionsEndpoint: string | undefined;
}

/** The push settings from the environment, checked: each an https URL when set. */
export function loadPushSettings(env: Record<string, string | undefined>): PushSettings {
  const url = (name: string) => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(name, 'not a URL');
    }
    if (parsed.protocol !== 'https:') throw new ConfigError(name, 'must be an https URL');
    return value;
  };
  return { wakeQueueUrl: url('PUSH_WAKE_QUEUE_URL'), connectionsEndpoint: url('PUSH_CONNECTIONS_ENDPOINT') };
}

/** The push runtime the settings describe; undefined when push is off (no wake queue). */
export function createPushRuntime(settings: PushSettings): PushRuntime | undefined {
  if (settings.wakeQueueUrl === undefined) return undefined;
  return {
    queue: new SqsWakeQueue(settings.wakeQueueUrl),
    gateway: settings.connectionsEndpoint === undefined ? undefined : new ApiGatewayConnections(settings.connectionsEndpoint),
  };
}

let current: { push: PushRuntime | undefined } | undefined;

/** The process's push runtime, from the environment on first use; undefined: push is off. */
export function pushRuntime(): PushRuntime | undefined {
  current ??= { push: createPushRuntime(loadPushSettings(process.env)) };
  return current.push;
}

/** Puts in a push runtime of the caller's making (the local server, tests); undefined turns push off. */
export function setPushRuntime(next: PushRuntime | undefined): void {
  current = { push: next };
}
