/**
 * The push channel's routes (docs/push.md): the WebSocket API's `$connect` and `$disconnect`,
 * each a Lambda function like the HTTP routes (lib/http/routes.ts), and the wake function fed
 * by the wake queue. The `ping` route has no function: API Gateway answers it with a mock
 * integration (infra/push.ts). The CDK stack and the local server are made from this table.
 */
import { SCOPES } from '../auth/scopes.ts';
import type { ActionScript } from '../http/routes.ts';

export interface PushFunction {
  /** Stable name, used for the Lambda function's logical id. */
  readonly name: string;
  /** Handler file under functions/, without extension. */
  readonly handler: string;
  /** The WebSocket route key, or undefined for the wake function (an SQS consumer). */
  readonly routeKey: '$connect' | '$disconnect' | undefined;
  /** The store's scripts the function runs (shipped beside its bundle, as a route's). */
  readonly scripts: readonly ActionScript[];
}

export const PUSH_ROUTES = {
  Connect: {
    name: 'PushConnect',
    handler: 'ws-connect',
    routeKey: '$connect',
    channel: 'websocket',
    scopes: [SCOPES.commands],
    admitsInStore: true,
    scripts: ['push-register'],
  },
  Disconnect: { name: 'PushDisconnect', handler: 'ws-disconnect', routeKey: '$disconnect', scripts: ['push-remove'] },
  Wake: {
    name: 'PushWake',
    handler: 'push-wake',
    routeKey: undefined,
    scripts: ['push-connections', 'push-jti', 'push-remove', 'job-get', 'job-executions'],
  },
} as const satisfies Record<string, PushFunction & Record<string, unknown>>;

/** The HTTP routes whose handler queues a wake (their functions may send to the wake queue). */
export const WAKING_ROUTES: readonly string[] = [
  'EnqueueCommand',
  'CancelCommand',
  'PutConfig',
  'CreateJob',
  'PutGroupMember',
  'PostRevocations',
];

/** The WebSocket route agents send their keepalive on: `{"type":"ping"}`, answered `{"type":"pong"}` by API Gateway itself. */
export const PING_ROUTE_KEY = 'ping';
/** How API Gateway picks a message's route: its `type` member. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.type';

/** The local server's WebSocket path (in AWS, the stage's URL). */
export const LOCAL_WEBSOCKET_PATH = '/ws';
