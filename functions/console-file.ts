/** GET /console/{file}: the console's script and stylesheet under their hashed names, no token (lib/http/console.ts). */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { chainOptions, edge } from '../lib/http/chain.ts';
import { consoleFile } from '../lib/http/console.ts';
import { ApiError } from '../lib/http/errors.ts';

export async function consoleAsset(event: APIGatewayProxyEventV2) {
  const name = event.pathParameters?.file ?? '';
  // The page has one address, /console.
  if (name === 'index.html') throw new ApiError('not_found', 'no such console file');
  return consoleFile(name);
}

export const handler = middy(consoleAsset, chainOptions).use(edge());
