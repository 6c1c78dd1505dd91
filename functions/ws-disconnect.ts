/**
 * The push channel's `$disconnect`: API Gateway calls it once a connection has closed, whoever
 * closed it; it carries the connection id alone (no token), and one store command forgets it.
 * Its answer goes nowhere (the connection is gone): a failure is logged, and the entry lapses by
 * itself at the connection's 2 h maximum.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { chainOptions, edge } from '../lib/http/chain.ts';
import { pushRegistry } from '../lib/push/service.ts';

export async function wsDisconnect(event: APIGatewayProxyEventV2, _context: Context) {
  const connectionId = (event.requestContext as { connectionId?: unknown }).connectionId;
  if (typeof connectionId === 'string' && connectionId !== '') await (await pushRegistry()).remove(connectionId);
  return { statusCode: 200 };
}

export const handler = middy(wsDisconnect, chainOptions).use(edge());
