/**
 * The push channel's `$connect` (WebSocket API; docs/push.md): the upgrade request's
 * `Authorization: Bearer` token goes through the same chain as every route (signature, claims,
 * scopes `agent:commands`, the binding rule of a channel without mutual TLS), then one store
 * command registers the connection for the token's agent behind the gate (revocation, rate
 * limit). A refusal is the chain's answer (401, 403, 429), a store that cannot answer 503: the
 * connection is never accepted unregistered. A fifth connection of the agent evicts its oldest,
 * which the wake function closes.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, count, edge, METRIC } from '../lib/http/edge.ts';
import { wake } from '../lib/push/wake.ts';
import { PUSH_ROUTES } from '../lib/push/routes.ts';
import { MAX_CONNECTION_MS } from '../lib/store/connections.ts';

export async function wsConnect(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const connectionId = (event.requestContext as { connectionId?: unknown }).connectionId;
  if (typeof connectionId !== 'string' || connectionId === '') throw new Error('a $connect event without a connection id');
  const now = runtime.clock.now();
  const { evicted } = await stores.connections.register({
    connectionId,
    agentId: auth.sub,
    ...(auth.jti === undefined ? {} : { jti: auth.jti }),
    ...(auth.iat === undefined ? {} : { iat: auth.iat }),
    connectedAt: now,
    expiresAt: now + MAX_CONNECTION_MS,
  });
  count(context, METRIC.pushConnects);
  if (evicted !== undefined) await wake(context, { kind: 'close', connectionIds: [evicted] });
  return { statusCode: 200 };
}

export const handler = middy(wsConnect, chainOptions).use(edge()).use(authenticate(PUSH_ROUTES.Connect));
