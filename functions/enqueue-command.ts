/**
 * POST /api/agents/{agentId}/commands (operators): queue a command for one agent. With an
 * Idempotency-Key, the same request again within RESULT_RETENTION_SECONDS answers the original
 * 201 (same command, nothing added); another request under that key is 422. The command is
 * signed (lib/signing) before its one store call and stored with its signature, which every
 * delivery hands out unchanged; a replay answers the original command, signature and all.
 */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createdView } from '../lib/commands/views.ts';
import { ApiError, unavailable } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { wake } from '../lib/push/wake.ts';
import { commandPayload } from '../lib/signing/payload.ts';
import { commandSigner } from '../lib/signing/runtime.ts';
import { agentIdParam, commandFingerprint, commandInput, idempotencyKeyHeader } from '../lib/http/validation.ts';

/** The command's signature; a signer that fails (KMS down, throttled past the SDK's retries) is a 503. */
async function sign(command: Parameters<typeof commandPayload>[0], now: number): Promise<string> {
  try {
    return await commandSigner().sign(commandPayload(command, now));
  } catch (error) {
    throw unavailable('the command could not be signed, try again shortly', error);
  }
}

export async function enqueueCommand(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const input = commandInput(event.body);
  const key = idempotencyKeyHeader(event.headers?.['idempotency-key']);
  const now = runtime.clock.now();
  const unsigned = {
    commandId: randomUUID(),
    agentId,
    command: input.command,
    args: input.args,
    createdAt: now,
    expiresAt: now + (input.ttlSeconds ?? runtime.config.commandTtlSeconds) * 1000,
    ...(input.timeoutSeconds === undefined ? {} : { timeoutMs: input.timeoutSeconds * 1000 }),
  };
  const command = { ...unsigned, signature: await sign(unsigned, now) };
  const idempotency = key === undefined ? undefined : { sub: auth.sub, key, fingerprint: commandFingerprint(agentId, input) };
  const answer = await stores.commands.enqueue(command, idempotency);
  if (answer.outcome === 'mismatch') {
    throw new ApiError('unprocessable', 'this Idempotency-Key was already used with a different request');
  }
  const { record } = answer;
  if (answer.outcome === 'created') {
    count(context, METRIC.commandsEnqueued);
    await wake(context, { kind: 'agents', agentIds: [agentId], reason: 'command' });
  }
  return json(201, createdView(record), {
    Location: `/api/agents/${encodeURIComponent(agentId)}/commands/${record.commandId}`,
  });
}

export const handler = middy(enqueueCommand, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.EnqueueCommand))
  .use(jsonBody(ROUTES.EnqueueCommand));
