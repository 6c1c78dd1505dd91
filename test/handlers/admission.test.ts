/**
 * Every route that takes a token admits it (revocation decision, rate limit) in the same step as
 * its action, on both stores: a revoked token gets 401 token_revoked on every route and the
 * store is left as it was (a poll does not stamp deliveredAt, a result is not recorded, a config
 * is not written, nothing is enqueued or revoked, no group changes, no job is created or canceled), and on Redis the refusal
 * costs one Upstash command, the action's script that the gate stopped (or the gate alone).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { handler as cancelCommand } from '../../functions/cancel-command.ts';
import { handler as cancelJob } from '../../functions/cancel-job.ts';
import { handler as createJob } from '../../functions/create-job.ts';
import { handler as getJob } from '../../functions/get-job.ts';
import { handler as listJobExecutions } from '../../functions/list-job-executions.ts';
import { handler as listJobs } from '../../functions/list-jobs.ts';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as deleteGroupMember } from '../../functions/delete-group-member.ts';
import { handler as getAgentGroups } from '../../functions/get-agent-groups.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as getGroupMembers } from '../../functions/get-group-members.ts';
import { handler as listCommands } from '../../functions/list-commands.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as postRevocations } from '../../functions/post-revocations.ts';
import { handler as putGroupMember } from '../../functions/put-group-member.ts';
import { handler as putConfig } from '../../functions/put-config.ts';
import { handler as tokenInfo } from '../../functions/token-info.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { type EventInput, type Handler, invoke } from '../helpers/lambda.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const ALL_SCOPES = 'agent:commands agent:results admin:commands admin:config admin:revoke admin:groups admin:jobs';

const targets = storeTargets('admission');

describe('the route table', () => {
  it('leaves to the auth middleware only the routes whose handler touches no store', () => {
    const byMiddleware = Object.values(ROUTES).filter(
      (route) => route.scopes !== undefined && !('admitsInStore' in route && route.admitsInStore === true),
    );

    expect(byMiddleware.map((route) => route.name).sort()).toEqual(['TokenInfo', 'WhoAmI']);
  });
});

describe.each(targets)('a revoked token on every route ($name store)', (store) => {
  it('gets 401 token_revoked (one Upstash command on Redis), and the store is left as it was', async () => {
    const rt = store.use();
    const agent = `agent-${randomUUID()}`;
    const victim = `agent-${randomUUID()}`;
    const now = rt.clock.now();
    const commandId = randomUUID();
    await rt.stores.unchecked.commands.enqueue({
      commandId,
      agentId: agent,
      command: 'rotate',
      args: {},
      createdAt: now,
      expiresAt: now + 600_000,
    });
    await rt.stores.unchecked.commands.putConfig(agent, { poll_interval_seconds: 15 });
    const jti = randomUUID();
    const token = await signToken({ sub: agent, jti, scope: ALL_SCOPES });
    await rt.stores.unchecked.revocations.revokeToken(jti, Math.floor(now / 1000) + 600);
    const before = {
      command: await rt.stores.unchecked.commands.get(agent, commandId),
      config: await rt.stores.unchecked.commands.getConfig(agent),
    };

    const agentPath = (suffix: string) => ({ path: `/api/agents/${agent}${suffix}`, pathParameters: { agentId: agent } });
    const group = `group-${randomUUID()}`;
    const member = `agent-${randomUUID()}`;
    await rt.stores.unchecked.groups.join(group, member);
    const groupPath = (suffix: string, agentId?: string) => ({
      path: `/api/groups/${group}${suffix}`,
      pathParameters: { group, ...(agentId === undefined ? {} : { agentId }) },
    });
    const jobId = randomUUID();
    await rt.stores.unchecked.jobs.create({
      jobId,
      command: 'rotate',
      args: {},
      targets: { agents: [victim], groups: [] },
      createdAt: now,
      expiresAt: now + 600_000,
      continuous: false,
    });
    const jobPath = (suffix: string) => ({ path: `/api/jobs/${jobId}${suffix}`, pathParameters: { jobId } });
    const calls: [string, Handler, EventInput][] = [
      ['GetCommands', getCommands, { path: '/api/commands' }],
      [
        'PostResults',
        postResults,
        { method: 'POST', path: '/api/results', body: { command_id: commandId, status: 'completed', result: {} } },
      ],
      ['GetConfig', getConfig, { path: '/api/config' }],
      ['TokenInfo', tokenInfo, { path: '/api/token-info' }],
      ['WhoAmI', whoami, { path: '/api/whoami' }],
      [
        'EnqueueCommand',
        enqueueCommand,
        { method: 'POST', routeKey: 'POST /api/agents/{agentId}/commands', ...agentPath('/commands'), body: { command: 'x', args: {} } },
      ],
      [
        'GetCommand',
        getCommand,
        {
          routeKey: 'GET /api/agents/{agentId}/commands/{commandId}',
          path: `/api/agents/${agent}/commands/${commandId}`,
          pathParameters: { agentId: agent, commandId },
        },
      ],
      ['ListCommands', listCommands, { routeKey: 'GET /api/agents/{agentId}/commands', ...agentPath('/commands') }],
      [
        'CancelCommand',
        cancelCommand,
        {
          method: 'POST',
          routeKey: 'POST /api/agents/{agentId}/commands/{commandId}/cancel',
          path: `/api/agents/${agent}/commands/${commandId}/cancel`,
          pathParameters: { agentId: agent, commandId },
        },
      ],
      ['PutConfig', putConfig, { method: 'PUT', routeKey: 'PUT /api/agents/{agentId}/config', ...agentPath('/config'), body: { a: 1 } }],
      ['PostRevocations', postRevocations, { method: 'POST', path: '/api/revocations', body: { sub: victim } }],
      [
        'PutGroupMember',
        putGroupMember,
        { method: 'PUT', routeKey: 'PUT /api/groups/{group}/agents/{agentId}', ...groupPath(`/agents/${agent}`, agent) },
      ],
      [
        'DeleteGroupMember',
        deleteGroupMember,
        { method: 'DELETE', routeKey: 'DELETE /api/groups/{group}/agents/{agentId}', ...groupPath(`/agents/${member}`, member) },
      ],
      ['GetGroupMembers', getGroupMembers, { routeKey: 'GET /api/groups/{group}/agents', ...groupPath('/agents') }],
      ['GetAgentGroups', getAgentGroups, { routeKey: 'GET /api/agents/{agentId}/groups', ...agentPath('/groups') }],
      ['CreateJob', createJob, { method: 'POST', path: '/api/jobs', body: { command: 'x', targets: { agents: [agent] } } }],
      ['ListJobs', listJobs, { path: '/api/jobs' }],
      ['GetJob', getJob, { routeKey: 'GET /api/jobs/{jobId}', ...jobPath('') }],
      ['ListJobExecutions', listJobExecutions, { routeKey: 'GET /api/jobs/{jobId}/executions', ...jobPath('/executions') }],
      ['CancelJob', cancelJob, { method: 'POST', routeKey: 'POST /api/jobs/{jobId}/cancel', ...jobPath('/cancel'), body: { force: true } }],
    ];
    const authenticated = Object.values(ROUTES).filter((route) => route.scopes !== undefined);
    expect(calls.map(([name]) => name).sort()).toEqual(authenticated.map((route) => route.name).sort());

    // Twice: on Redis the first pass loads each script on the bridge (EVALSHA, NOSCRIPT, EVAL);
    // the second counts what a refusal costs there, one command on every route.
    for (const pass of [1, 2]) {
      for (const [name, handler, input] of calls) {
        const before = store.name === 'redis' ? store.bridge.requests : 0;
        const answer = await invoke(handler, { ...input, token });
        const requests = store.name === 'redis' ? store.bridge.requests - before : 1;
        expect({ name, status: answer.status, reason: answer.body.error_description, ...(pass === 2 ? { requests } : {}) }).toEqual({
          name,
          status: 401,
          reason: 'token_revoked',
          ...(pass === 2 ? { requests: 1 } : {}),
        });
      }
    }

    expect(await rt.stores.unchecked.commands.get(agent, commandId)).toEqual(before.command);
    expect(before.command?.deliveredAt).toBeUndefined();
    expect(await rt.stores.unchecked.commands.getConfig(agent)).toEqual(before.config);
    expect(await rt.stores.unchecked.commands.fetch(agent, 10, rt.clock.now())).toHaveLength(1); // nothing enqueued
    expect(await rt.stores.unchecked.groups.groupsOf(agent)).toEqual([]);
    expect(await rt.stores.unchecked.groups.groupsOf(member)).toEqual([group]);
    const jobs = await rt.stores.unchecked.jobs.list({ statuses: undefined, limit: 10, before: 0 }, rt.clock.now());
    expect(jobs.jobs.map((job) => [job.spec.jobId, job.status])).toEqual([[jobId, 'in_progress']]); // none created, none canceled
    expect(await rt.stores.unchecked.revocations.isRevoked({ jti: undefined, sub: victim, iat: Math.floor(now / 1000) - 10, exp: 0 })).toBe(
      false,
    );
  });
});
