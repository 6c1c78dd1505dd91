/**
 * GET /api/commands[?limit=N]: the agent's unfinished commands (pending, delivered, in_progress),
 * oldest first, at least once, each with the service's signature (docs/signing.md).
 *
 * A plain command was signed when it was enqueued. A job execution is made by the poll itself
 * (inside its one store call), so a poll that hands out an execution with no signature yet signs
 * it here and stores it with one more store call (signExecutions: set only where none is stored
 * and the attempt is unchanged, answering what is stored, so concurrent polls converge on one
 * signature; one whose attempt changed meanwhile is left out of this answer). Only such a poll
 * makes that second call. If signing or storing fails the answer is
 * 503 and nothing is lost: the execution stays delivered and unsigned, and the next poll signs it.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { CONFIG_DEFAULTS } from '../lib/commands/agent-config.ts';
import type { CommandRecord } from '../lib/commands/model.ts';
import { agentView } from '../lib/commands/views.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, METRIC } from '../lib/http/edge.ts';
import { unavailable } from '../lib/http/errors.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { limitParam } from '../lib/http/validation.ts';
import { commandPayload } from '../lib/signing/payload.ts';
import { commandSigner } from '../lib/signing/runtime.ts';
import type { AdmittedStores } from '../lib/store/types.ts';

/** The records as handed out, every job execution signed (the stored signature wins). */
async function signedExecutions(stores: AdmittedStores, agentId: string, records: CommandRecord[], now: number): Promise<CommandRecord[]> {
  const unsigned = records.filter((record) => record.jobId !== undefined && record.signature === undefined);
  if (unsigned.length === 0) return records;
  let stored: ReadonlyMap<string, string | undefined>;
  try {
    const signer = commandSigner();
    const entries = await Promise.all(
      unsigned.map(async (record) => {
        const payload = commandPayload(record, now);
        return { commandId: record.commandId, attempt: payload.attempt, signature: await signer.sign(payload) };
      }),
    );
    stored = await stores.commands.signExecutions(agentId, entries);
  } catch (error) {
    throw unavailable('the commands could not be signed, try again shortly', error);
  }
  // An execution that is gone, or whose attempt changed meanwhile (left unsigned), is not handed
  // out: the agent would refuse it unsigned, and the next poll hands out what is there now.
  return records.flatMap((record) => {
    if (!unsigned.includes(record)) return [record];
    const signature = stored.get(record.commandId);
    return signature === undefined ? [] : [{ ...record, signature }];
  });
}

export async function getCommands(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  // Without `limit`, the default commands_per_fetch. An agent's own commands_per_fetch is for the
  // agent to send as `limit` (it reads its config anyway): applying it here would cost every poll
  // a config read, a store round trip more.
  const limit = limitParam(event.queryStringParameters?.limit, CONFIG_DEFAULTS.commands_per_fetch);
  const now = runtime.clock.now();
  const fetched = await stores.commands.fetch(auth.sub, limit, now);
  const commands = await signedExecutions(stores, auth.sub, fetched, now);
  if (commands.length > 0) count(context, METRIC.commandsDelivered, commands.length);
  return json(200, { agent_id: auth.sub, commands: commands.map((record) => agentView(record, now)) });
}

export const handler = middy(getCommands, chainOptions).use(edge()).use(authenticate(ROUTES.GetCommands));
