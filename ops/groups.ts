/** `bizops groups add|remove|list`: membership in bulk, from arguments, a file or stdin. */
import { ApiError, type Api, seg } from './client.ts';
import { type Ctx, LISTING_OPTIONS, listing, printValue, readSource, str, UsageError, type Verb } from './cli.ts';

/** The most ids one bulk request carries (the API's limit). */
export const CHUNK = 1000;
const ID = /^[A-Za-z0-9._:@-]{1,128}$/;

export interface BulkResult {
  added: number | null;
  removed: number | null;
  unchanged: number | null;
  refused: { agent_id: string; reason: string }[];
  /** Set when the single-member routes were used. */
  one_by_one?: true;
}

/** Ids from the arguments, --file and `-` (stdin): whitespace or commas apart, duplicates dropped, each checked. */
export async function gatherIds(ctx: Ctx, given: readonly string[]): Promise<string[]> {
  const texts: string[] = [];
  for (const arg of given) texts.push(arg === '-' ? await ctx.stdin() : arg);
  const file = str(ctx.values, 'file');
  if (file !== undefined) texts.push(await readSource(ctx, file));
  const ids = [...new Set(texts.flatMap((text) => text.split(/[\s,]+/)).filter((id) => id !== ''))];
  const bad = ids.filter((id) => !ID.test(id));
  if (bad.length > 0) {
    throw new UsageError(
      `not agent ids (1..128 of A-Z a-z 0-9 . _ : @ -): ${bad
        .slice(0, 5)
        .map((id) => JSON.stringify(id))
        .join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`,
    );
  }
  if (ids.length === 0) throw new UsageError('no agent ids: give them as arguments, with --file FILE, or - for stdin');
  return ids;
}

export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** One id at a time through PUT/DELETE /api/groups/{group}/agents/{agent}, a few at once. */
async function oneByOne(api: Api, group: string, ids: readonly string[], op: 'add' | 'remove', result: BulkResult): Promise<void> {
  result.one_by_one = true;
  result.unchanged = null;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      try {
        await api.request(op === 'add' ? 'PUT' : 'DELETE', `/api/groups/${seg(group)}/agents/${seg(id)}`);
        done += 1;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) result.refused.push({ agent_id: id, reason: 'group_limit' });
        else throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
  if (op === 'add') result.added = (result.added ?? 0) + done;
  else result.removed = (result.removed ?? 0) + done;
}

export async function bulk(api: Api, group: string, ids: readonly string[], op: 'add' | 'remove', single: boolean): Promise<BulkResult> {
  const result: BulkResult = { added: 0, removed: 0, unchanged: 0, refused: [] };
  if (single) {
    await oneByOne(api, group, ids, op, result);
    return result;
  }
  const parts = chunks(ids);
  for (const [index, part] of parts.entries()) {
    let answer: Record<string, any>;
    try {
      answer = (await api.request('POST', `/api/groups/${seg(group)}/members`, { body: { [op]: part } })).body;
    } catch (error) {
      // A service without the bulk route: the rest goes one id at a time.
      if (error instanceof ApiError && error.routeMissing && index === 0) {
        await oneByOne(api, group, ids, op, result);
        return result;
      }
      throw error;
    }
    result.added = (result.added ?? 0) + (answer.added ?? 0);
    result.removed = (result.removed ?? 0) + (answer.removed ?? 0);
    result.unchanged = (result.unchanged ?? 0) + (answer.unchanged ?? 0);
    result.refused.push(...((answer.refused ?? []) as BulkResult['refused']));
  }
  return result;
}

function membershipVerb(op: 'add' | 'remove'): Verb {
  const preposition = op === 'add' ? 'to' : 'from';
  return {
    noun: 'groups',
    verb: op,
    args: 'GROUP [ID...|-]',
    positionals: [1, Number.MAX_SAFE_INTEGER],
    summary: `${op} agents ${preposition} a group, in bulk`,
    help: [
      `Ids come as arguments, from --file FILE, or from stdin with -, separated by white space or commas.`,
      `They are sent in requests of at most ${CHUNK} ids (POST /api/groups/{group}/members, {"${op}": [...]}),`,
      'and the answers are added up: {"added", "removed", "unchanged", "refused": [{"agent_id", "reason"}]}.',
      op === 'add' ? 'An agent already in 64 groups is refused (reason group_limit); the others are added.' : '',
      'On a service without the bulk route (404 no such route), or with --one-by-one, bizops falls back',
      `to one id at a time (${op === 'add' ? 'PUT' : 'DELETE'} /api/groups/{group}/agents/{agent}, 8 requests at once); those answer`,
      `204 whether or not the agent was a member, so "${op === 'add' ? 'added' : 'removed'}" then counts every id applied and "unchanged" is null.`,
      'Exit 1 when any agent was refused.',
      `Example: cat agents.txt | bizops groups ${op} web-eu -`,
    ]
      .filter(Boolean)
      .join('\n'),
    options: {
      file: { type: 'string', arg: 'FILE', text: 'read ids from FILE (- for stdin)' },
      'one-by-one': { type: 'boolean', text: 'use the single-member routes, one id per request' },
    },
    async run(ctx) {
      const group = ctx.args[0] as string;
      const ids = await gatherIds(ctx, ctx.args.slice(1));
      const result = await bulk(ctx.api, group, ids, op, ctx.values['one-by-one'] === true);
      printValue(ctx, result, () => [
        `${group}: ${op === 'add' ? `${result.added} added` : `${result.removed} removed`}${result.unchanged === null ? '' : `, ${result.unchanged} unchanged`}, ${result.refused.length} refused${result.one_by_one ? ' (one by one)' : ''}`,
        ...result.refused.slice(0, 20).map((r) => `  refused ${r.agent_id}: ${r.reason}`),
        ...(result.refused.length > 20 ? [`  and ${result.refused.length - 20} more (--json lists them all)`] : []),
      ]);
      return result.refused.length > 0 ? 1 : 0;
    },
  };
}

export const GROUP_VERBS: Verb[] = [
  membershipVerb('add'),
  membershipVerb('remove'),
  {
    noun: 'groups',
    verb: 'list',
    args: '[GROUP]',
    positionals: [0, 1],
    summary: "a group's members in join order, or with --agent an agent's groups",
    options: { agent: { type: 'string', multiple: true, arg: 'ID', text: "this agent's groups instead" }, ...LISTING_OPTIONS },
    async run(ctx) {
      const agents = ctx.values.agent as string[] | undefined;
      const group = ctx.args[0];
      if ((group === undefined) === (agents === undefined)) throw new UsageError('give a GROUP, or --agent ID');
      if (agents !== undefined) {
        if (agents.length !== 1) throw new UsageError('give one --agent');
        const answer = await ctx.api.get(`/api/agents/${seg(agents[0] as string)}/groups`);
        if (ctx.json) ctx.out(`${answer.text.trim()}\n`);
        else ctx.out(`${(answer.body.groups as string[]).join('\n') || '(no groups)'}\n`);
        return 0;
      }
      const page = await ctx.api.collect(`/api/groups/${seg(group as string)}/agents`, 'agents', listing(ctx.values));
      printValue(ctx, page, () => [
        ...((page.agents as string[]).length === 0 ? ['(no members)'] : (page.agents as string[])),
        ...(page.next_cursor ? [`more: --cursor ${page.next_cursor}`] : []),
      ]);
      return 0;
    },
  },
];
