/** GET /api/commands[?limit=N]: the agent's unfinished commands (pending, delivered, in_progress), oldest first, at least once. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { CONFIG_DEFAULTS } from '../lib/commands/agent-config.ts';
import { agentView } from '../lib/commands/views.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { limitParam } from '../lib/http/validation.ts';

export async function getCommands(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  // Without `limit`, the default commands_per_fetch. An agent's own commands_per_fetch is for the
  // agent to send as `limit` (it reads its config anyway): applying it here would cost every poll
  // a config read, a store round trip more.
  const limit = limitParam(event.queryStringParameters?.limit, CONFIG_DEFAULTS.commands_per_fetch);
  const now = runtime.clock.now();
  const commands = await stores.commands.fetch(auth.sub, limit, now);
  if (commands.length > 0) count(context, METRIC.commandsDelivered, commands.length);
  return json(200, { agent_id: auth.sub, commands: commands.map((record) => agentView(record, now)) });
}

export const handler = middy(getCommands, chainOptions).use(edge()).use(authenticate(ROUTES.GetCommands));
