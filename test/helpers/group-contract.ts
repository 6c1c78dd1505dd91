/**
 * The behaviour every GroupStore must show, written once and run against each implementation
 * (in-memory, and Upstash through the bridge to a real Redis): the store-level contract, and the
 * same flows through the real handlers.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as deleteGroupMember } from '../../functions/delete-group-member.ts';
import { handler as getAgentGroups } from '../../functions/get-agent-groups.ts';
import { handler as getGroupMembers } from '../../functions/get-group-members.ts';
import { handler as putGroupMember } from '../../functions/put-group-member.ts';
import { MAX_GROUPS_PER_AGENT, type MemberPage } from '../../lib/groups/membership.ts';
import type { Runtime } from '../../lib/runtime.ts';
import type { GroupStore } from '../../lib/store/types.ts';
import { invoke } from './lambda.ts';
import { signToken } from './tokens.ts';

/** Fresh names per test, with the characters the id rules allow (':' and '@' included). */
const fresh = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

/** Every member, page by page, with `between` run after each page (it may change the group). */
export async function walk(
  store: GroupStore,
  group: string,
  limit: number,
  between: (pageIndex: number, seen: readonly string[]) => Promise<void> = async () => {},
): Promise<{ agents: string[]; pages: number }> {
  const agents: string[] = [];
  let after = 0;
  let pages = 0;
  for (;;) {
    const page: MemberPage = await store.members(group, after, limit);
    pages += 1;
    expect(page.agentIds.length).toBeLessThanOrEqual(limit);
    agents.push(...page.agentIds);
    if (page.after === undefined) return { agents, pages };
    await between(pages, agents);
    after = page.after;
  }
}

export function groupStoreContract(name: string, factory: () => Promise<GroupStore>): void {
  describe(`${name}: group store contract`, () => {
    let groups: GroupStore;
    beforeEach(async () => {
      groups = await factory();
    });

    it('puts an agent in a group once: the second join changes nothing', async () => {
      const [group, agent] = [fresh('web:eu'), fresh('agent@1')];

      expect(await groups.join(group, agent)).toBe('added');
      expect(await groups.join(group, agent)).toBe('unchanged');

      expect(await groups.members(group, 0, 10)).toEqual({ agentIds: [agent], after: undefined });
      expect(await groups.groupsOf(agent)).toEqual([group]);
    });

    it('lists members in join order; a repeated join keeps the place, a leave and join again goes to the end', async () => {
      const group = fresh('g');
      const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
      for (const agent of [a, b, c]) await groups.join(group, agent);
      await groups.join(group, a);
      expect((await groups.members(group, 0, 10)).agentIds).toEqual([a, b, c]);

      await groups.leave(group, a);
      await groups.join(group, a);

      expect((await groups.members(group, 0, 10)).agentIds).toEqual([b, c, a]);
    });

    it('takes an agent out of a group once: the second leave, and a leave of a non-member, change nothing', async () => {
      const [group, other, agent] = [fresh('g'), fresh('g'), fresh('a')];
      await groups.join(group, agent);
      await groups.join(other, agent);

      expect(await groups.leave(group, agent)).toBe('removed');
      expect(await groups.leave(group, agent)).toBe('unchanged');
      expect(await groups.leave(fresh('never'), agent)).toBe('unchanged');

      expect(await groups.members(group, 0, 10)).toEqual({ agentIds: [], after: undefined });
      expect(await groups.groupsOf(agent)).toEqual([other]);
    });

    it('answers an empty page for a group never used, and no groups for an agent in none', async () => {
      expect(await groups.members(fresh('none'), 0, 50)).toEqual({ agentIds: [], after: undefined });
      expect(await groups.groupsOf(fresh('nobody'))).toEqual([]);
    });

    it("sorts an agent's groups by name, whatever order it joined them in", async () => {
      const agent = fresh('a');
      const base = fresh('g');
      for (const suffix of ['zeta', 'Alpha', 'beta', '1', 'a:b', 'a%b']) await groups.join(`${base}-${suffix}`, agent);

      expect(await groups.groupsOf(agent)).toEqual(['1', 'Alpha', 'a%b', 'a:b', 'beta', 'zeta'].map((suffix) => `${base}-${suffix}`));
    });

    it('keeps ids that differ only in escaping apart', async () => {
      const base = fresh('g');
      const agent = fresh('a');
      await groups.join(`${base}:x`, `${agent}:y`);
      await groups.join(`${base}%3Ax`, `${agent}%3Ay`);

      expect((await groups.members(`${base}:x`, 0, 10)).agentIds).toEqual([`${agent}:y`]);
      expect((await groups.members(`${base}%3Ax`, 0, 10)).agentIds).toEqual([`${agent}%3Ay`]);
      expect(await groups.groupsOf(`${agent}:y`)).toEqual([`${base}:x`]);
    });

    it(`lets an agent be in ${MAX_GROUPS_PER_AGENT} groups and no more: the next join changes nothing, until it leaves one`, async () => {
      const agent = fresh('busy');
      const names = Array.from({ length: MAX_GROUPS_PER_AGENT }, (_, i) => `${fresh('g')}-${String(i).padStart(2, '0')}`);
      for (const group of names) expect(await groups.join(group, agent)).toBe('added');
      const extra = fresh('extra');

      expect(await groups.join(extra, agent)).toBe('too_many_groups');
      expect(await groups.join(names[0] as string, agent)).toBe('unchanged');
      expect(await groups.members(extra, 0, 10)).toEqual({ agentIds: [], after: undefined });
      expect(await groups.groupsOf(agent)).toHaveLength(MAX_GROUPS_PER_AGENT);
      expect(await groups.groupsOf(agent)).not.toContain(extra);

      await groups.leave(names[5] as string, agent);
      expect(await groups.join(extra, agent)).toBe('added');
      expect(await groups.groupsOf(agent)).toContain(extra);
    });

    it('pages by the limit, with no empty last page when the members fill the pages exactly', async () => {
      const group = fresh('g');
      const agents = Array.from({ length: 6 }, (_, i) => `agent-${i}`);
      for (const agent of agents) await groups.join(group, agent);

      const first = await groups.members(group, 0, 3);
      expect(first.agentIds).toEqual(agents.slice(0, 3));
      expect(first.after).toBeDefined();
      const second = await groups.members(group, first.after as number, 3);
      expect(second).toEqual({ agentIds: agents.slice(3), after: undefined });
    });

    it('never gives a position twice: a member that joins after the last one left is still on the next page', async () => {
      const group = fresh('g');
      await groups.join(group, 'a');
      await groups.join(group, 'b');
      const first = await groups.members(group, 0, 1);
      expect(first.agentIds).toEqual(['a']);
      await groups.leave(group, 'b');
      await groups.join(group, 'c');

      const next = await groups.members(group, first.after as number, 10);

      expect(next.agentIds).toEqual(['c']);
    });

    it('walks a few hundred members while others join and leave: each one there all along exactly once, in join order', async () => {
      const group = fresh('big');
      const original = Array.from({ length: 300 }, (_, i) => `m-${String(i).padStart(3, '0')}`);
      for (const agent of original) await groups.join(group, agent);
      const joined: string[] = [];
      const left: string[] = [];

      const { agents, pages } = await walk(groups, group, 7, async (page, seen) => {
        // Between pages: two newcomers, one repeated join of an early member, one leave further on.
        for (const agent of [`new-${page}-a`, `new-${page}-b`]) {
          await groups.join(group, agent);
          joined.push(agent);
        }
        await groups.join(group, original[0] as string);
        const leaving = original[original.length - page] as string;
        if (!seen.includes(leaving) && (await groups.leave(group, leaving)) === 'removed') left.push(leaving);
      });

      const stayed = original.filter((agent) => !left.includes(agent));
      expect(new Set(agents).size).toBe(agents.length);
      expect(agents.filter((agent) => original.includes(agent))).toEqual(stayed);
      expect(agents.filter((agent) => !original.includes(agent))).toEqual(joined);
      expect(left.length).toBeGreaterThan(10);
      expect(left.every((agent) => !agents.includes(agent))).toBe(true);
      expect(pages).toBeGreaterThan(300 / 7);
    });
  });
}

/** The group routes through their real handlers, on the runtime `use` installs. */
export function groupHandlerContract(name: string, use: (env?: Record<string, string>) => Runtime | Promise<Runtime>): void {
  describe(`${name}: group routes`, () => {
    let rt: Runtime;
    let ops: string;
    beforeEach(async () => {
      rt = await use();
      ops = await signToken({ sub: 'ops-1', scope: 'admin:groups' });
    });

    const put = (group: string, agentId: string, token = ops) =>
      invoke(putGroupMember, { method: 'PUT', path: `/api/groups/${group}/agents/${agentId}`, pathParameters: { group, agentId }, token });
    const remove = (group: string, agentId: string) =>
      invoke(deleteGroupMember, {
        method: 'DELETE',
        path: `/api/groups/${group}/agents/${agentId}`,
        pathParameters: { group, agentId },
        token: ops,
      });
    const page = (group: string, query: Record<string, string> = {}) =>
      invoke(getGroupMembers, { path: `/api/groups/${group}/agents`, pathParameters: { group }, query, token: ops });
    const groupsOf = (agentId: string) =>
      invoke(getAgentGroups, { path: `/api/agents/${agentId}/groups`, pathParameters: { agentId }, token: ops });

    it('PUT and DELETE are idempotent 204s, and both listings follow', async () => {
      const [group, agent] = [fresh('web-eu'), fresh('agent')];

      expect((await put(group, agent)).status).toBe(204);
      expect((await put(group, agent)).status).toBe(204);
      expect((await page(group)).body).toEqual({ group, agents: [agent], next_cursor: null });
      expect((await groupsOf(agent)).body).toEqual({ agent_id: agent, groups: [group] });

      const gone = await remove(group, agent);
      expect(gone.status).toBe(204);
      expect(gone.headers['cache-control']).toBe('no-store');
      expect((await remove(group, agent)).status).toBe(204);
      expect((await page(group)).body.agents).toEqual([]);
      expect((await groupsOf(agent)).body.groups).toEqual([]);
    });

    it('pages through 250 members with the default limit of 50, members joining between pages', async () => {
      const group = fresh('fleet');
      const original = Array.from({ length: 250 }, (_, i) => `agent-${String(i).padStart(3, '0')}`);
      for (const agent of original) await rt.stores.unchecked.groups.join(group, agent);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const answer = await page(group, cursor === undefined ? {} : { cursor });
        expect(answer.status).toBe(200);
        expect(answer.body.agents.length).toBeLessThanOrEqual(50);
        seen.push(...answer.body.agents);
        cursor = answer.body.next_cursor ?? undefined;
        pages += 1;
        if (pages === 2) expect((await put(group, 'late-joiner')).status).toBe(204);
      } while (cursor !== undefined);

      expect(seen).toEqual([...original, 'late-joiner']);
      expect(pages).toBe(6);
    });

    it('answers 409 to the 65th group and writes nothing', async () => {
      const agent = fresh('busy');
      for (let i = 0; i < MAX_GROUPS_PER_AGENT; i += 1) await rt.stores.unchecked.groups.join(`${fresh('g')}-${i}`, agent);
      const extra = fresh('extra');

      const answer = await put(extra, agent);

      expect(answer.status).toBe(409);
      expect(answer.body).toEqual({
        request_id: expect.any(String),
        error: 'conflict',
        error_description: `this agent is in ${MAX_GROUPS_PER_AGENT} groups already, the most it may be in; take it out of one first`,
      });
      expect((await groupsOf(agent)).body.groups).toHaveLength(MAX_GROUPS_PER_AGENT);
      expect((await page(extra)).body.agents).toEqual([]);
    });

    it('answers 400 to a bad group name or agent id and writes nothing', async () => {
      const agent = fresh('agent');
      for (const [group, agentId] of [
        ['has space', agent],
        ['x'.repeat(129), agent],
        ['', agent],
        ['a/b', agent],
        ['é', agent],
        ['ok', 'bad id'],
        ['ok', 'y'.repeat(129)],
      ] as const) {
        const answer = await put(group, agentId);
        expect(answer.status, `${group} ${agentId}`).toBe(400);
        expect(answer.body.error).toBe('invalid_request');
      }
      expect((await put('ok', 'bad id')).body.error_description).toMatch(/^agentId must be/);
      expect((await put('has space', agent)).body.error_description).toMatch(/^group must be/);
      expect(await rt.stores.unchecked.groups.groupsOf(agent)).toEqual([]);
      expect((await rt.stores.unchecked.groups.members('ok', 0, 10)).agentIds).toEqual([]);
    });

    it('answers 400 to a bad limit or cursor', async () => {
      const group = fresh('g');
      const queries: Record<string, string>[] = [
        { limit: '0' },
        { limit: '101' },
        { limit: 'ten' },
        { cursor: '' },
        { cursor: 'Zm9v' },
        { cursor: '!!' },
      ];
      for (const query of queries) {
        const answer = await page(group, query);
        expect(answer.status, JSON.stringify(query)).toBe(400);
      }
      expect((await page(group, { cursor: 'Zm9v' })).body.error_description).toBe('cursor must be a next_cursor this service gave');
      expect((await page(group, { limit: '100' })).status).toBe(200);
    });

    it('refuses a token without admin:groups (403) and writes nothing', async () => {
      const [group, agent] = [fresh('g'), fresh('agent')];
      const agentToken = await signToken({ sub: agent, scope: 'agent:commands agent:results admin:commands' });

      const answer = await put(group, agent, agentToken);

      expect(answer.status).toBe(403);
      expect(await rt.stores.unchecked.groups.groupsOf(agent)).toEqual([]);
    });
  });
}
