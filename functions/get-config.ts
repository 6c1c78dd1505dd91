/**
 * GET /api/config: the defaults merged with this agent's overrides, and `command_keys`, the public
 * keys its commands are signed with (the JWKS of GET /.well-known/command-keys; docs/signing.md).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mergedConfig } from '../lib/commands/agent-config.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { unavailable } from '../lib/http/errors.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { commandSigner } from '../lib/signing/runtime.ts';

export async function getConfig(_event: APIGatewayProxyEventV2, { auth, stores }: AuthContext) {
  const [overrides, keys] = await Promise.all([
    stores.commands.getConfig(auth.sub),
    commandSigner()
      .keySet()
      .catch((error: unknown) => {
        throw unavailable('the command keys cannot be read, try again shortly', error);
      }),
  ]);
  return json(200, { agent_id: auth.sub, config: mergedConfig(overrides), command_keys: keys });
}

export const handler = middy(getConfig, chainOptions).use(edge()).use(authenticate(ROUTES.GetConfig));
