/**
 * Group membership rules, written once: pure functions, no storage, no HTTP. The in-memory store
 * calls them; the Lua twins in lib/store/lua/rules/ carry the name of the function they mirror;
 * test/stores/parity.test.ts keeps the three in step.
 *
 * A group is a set of agent ids in join order. Each join takes the group's next position (1, 2,
 * 3, ...; never reused, even after a member leaves), so a page that starts after a position is
 * stable however the group changes meanwhile: a member that was there all along is listed once,
 * one that joins during the walk comes at the end, one that leaves is simply not listed.
 * An agent is in at most MAX_GROUPS_PER_AGENT groups; a group has no limit of its own.
 */

/** The most groups one agent may be in. */
export const MAX_GROUPS_PER_AGENT = 64;
/** Members per page when the caller names no limit, and the most it may ask for. */
export const DEFAULT_MEMBERS_PAGE = 50;
export const MAX_MEMBERS_PAGE = 100;

/** What a join did: the agent joined; it was a member already (nothing changed); or it is in too many groups (nothing changed). */
export type JoinOutcome = 'added' | 'unchanged' | 'too_many_groups';
/** What a leave did: the agent left; or it was no member (nothing changed). */
export type LeaveOutcome = 'removed' | 'unchanged';

/** The most agent ids one bulk change of a group's members names (its adds and removes together). */
export const MAX_BULK_MEMBERS = 1000;

/** A bulk change of one group's members: distinct ids, none in both lists, at most MAX_BULK_MEMBERS together. */
export interface MemberChanges {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/**
 * What a bulk change did, each agent as a single join or leave would: `added` joined, `removed`
 * left, `unchanged` a member already (add) or no member (remove), `refused` in
 * MAX_GROUPS_PER_AGENT groups already (nothing changed for it), in the order given.
 */
export interface BulkOutcome {
  readonly added: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly refused: readonly string[];
}

/** A join of an agent that is (or is not) a member already and is in `groupCount` groups now. */
export function joinOutcome(isMember: boolean, groupCount: number): JoinOutcome {
  if (isMember) return 'unchanged';
  return groupCount >= MAX_GROUPS_PER_AGENT ? 'too_many_groups' : 'added';
}

/** A leave of an agent that is (or is not) a member. */
export function leaveOutcome(isMember: boolean): LeaveOutcome {
  return isMember ? 'removed' : 'unchanged';
}

/** The position a join takes: one past the last one the group ever gave (0 when none yet). */
export function nextPosition(lastGiven: number): number {
  return lastGiven + 1;
}

/** One page of a group's members, in join order; `after` is where the next page starts (none: the end). */
export interface MemberPage {
  readonly agentIds: readonly string[];
  readonly after: number | undefined;
}

/**
 * The page from what a store read: up to `limit` members after the cursor's position, read as
 * `limit + 1` entries so that a following page is known to exist without a second read.
 */
export function memberPage(entries: readonly { readonly agentId: string; readonly position: number }[], limit: number): MemberPage {
  const shown = entries.slice(0, limit);
  const last = shown.at(-1);
  return { agentIds: shown.map((entry) => entry.agentId), after: entries.length > limit && last ? last.position : undefined };
}

/** An agent's groups as shown: sorted by code unit, whatever order a store keeps them in. */
export function sortedGroups(groups: Iterable<string>): string[] {
  return [...groups].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// --- Cursors -------------------------------------------------------------------------------------

/** Raised for a cursor this service did not make; the HTTP layer answers 400. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

const CURSOR_VERSION = 'g1';
const CURSOR_TEXT = /^g1\.(0|[1-9]\d{0,15})$/;
const BASE64URL = /^[A-Za-z0-9_-]{1,64}$/;

/** The opaque cursor for "the members after `position`": base64url of `g1.<position>`. */
export function encodeCursor(position: number): string {
  if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`not a member position: ${position}`);
  return Buffer.from(`${CURSOR_VERSION}.${position}`, 'utf8').toString('base64url');
}

/** The position a cursor stands for; InvalidCursorError for anything encodeCursor did not make. */
export function decodeCursor(cursor: string): number {
  if (!BASE64URL.test(cursor)) throw new InvalidCursorError('cursor is not one this service gave');
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const found = CURSOR_TEXT.exec(text);
  const position = Number(found?.[1]);
  // Only the one spelling encodeCursor writes: no padding, no stray bits, nothing beyond 2^53.
  if (!found || !Number.isSafeInteger(position) || encodeCursor(position) !== cursor) {
    throw new InvalidCursorError('cursor is not one this service gave');
  }
  return position;
}
