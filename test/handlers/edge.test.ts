/**
 * The edge of every chain, from hand-made Lambda events: shapes no HTTP client sends but a
 * misconfigured integration or a test tool can, and the bare 500.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { httpEvent, invoke, lambdaContext } from '../helpers/lambda.ts';
import { memoryTestBackend, useTestRuntime } from '../helpers/runtime.ts';
import { signToken } from '../helpers/tokens.ts';

beforeEach(() => {
  useTestRuntime();
});

describe('the error edge', () => {
  it('answers an Authorization header given as an array with 401, not 500', async () => {
    const event = httpEvent({ path: '/api/whoami' });
    (event.headers as Record<string, unknown>).authorization = [`Bearer ${await signToken()}`];

    const answer = (await whoami(event, lambdaContext())) as { statusCode: number; body: string };

    expect(answer.statusCode).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'invalid_token',
      error_description: 'malformed_token',
      request_id: expect.any(String),
    });
  });

  it('gives the bare 500 Cache-Control: no-store too, and no detail', async () => {
    const stores = memoryTestBackend();
    const getDetail = async () => Promise.reject(new TypeError('a bug with a secret-ish detail'));
    useTestRuntime({}, { stores: { ...stores, commands: { ...stores.commands, getDetail } } });
    const token = await signToken({ scope: 'admin:commands' });

    const answer = await invoke(getCommand, {
      path: '/api/agents/agent-001/commands/c1',
      pathParameters: { agentId: 'agent-001', commandId: 'c1' },
      token,
    });

    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: 'server_error', error_description: 'internal error', request_id: expect.any(String) });
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.raw).not.toContain('secret-ish');
  });
});
