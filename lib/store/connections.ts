/**
 * The WebSocket connection registry (docs/push.md): which connections an agent holds open to the
 * push channel, so that a wake can reach them and a revocation close them. The connections
 * themselves live in API Gateway (or the local server); the registry only knows their ids.
 *
 * - register: behind the gate of the `$connect` request's token (revocation, rate limit) in the
 *   same step, one store command; at most MAX_CONNECTIONS_PER_AGENT live connections per agent,
 *   a further one evicts the oldest and names it, so the caller can close it. Exactly once under
 *   retries (a write: its reply is kept under the call's id).
 * - remove, ofAgents, byJti: no token (`$disconnect` carries none, the wake function acts for the
 *   service), one store command each.
 *
 * Every entry lapses at its `expiresAt` (connectedAt + MAX_CONNECTION_MS, API Gateway's maximum
 * connection duration): a lapsed entry is never answered and goes from Redis with its keys.
 */

/** API Gateway's maximum WebSocket connection duration: 2 hours. */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

/** Live connections an agent may hold; registering one more closes the oldest. */
export const MAX_CONNECTIONS_PER_AGENT = 4;

/** Agents one ofAgents call looks at, at most (a page of a job's targets). */
export const MAX_AGENTS_PER_LOOKUP = 250;

export interface Connection {
  readonly connectionId: string;
  readonly agentId: string;
  /** The token's jti and iat, when it has them: a revocation closes the connections they match. */
  readonly jti?: string;
  readonly iat?: number;
  /** Epoch ms. */
  readonly connectedAt: number;
  /** Epoch ms: connectedAt + MAX_CONNECTION_MS. The entry lapses then. */
  readonly expiresAt: number;
}

/** registered: now live (`evicted`: the oldest connection it displaced, no longer registered); unchanged: it was already. */
export interface RegisterOutcome {
  readonly outcome: 'registered' | 'unchanged';
  readonly evicted: string | undefined;
}

export interface ConnectionStore {
  /** Registers a connection at its `connectedAt`; a fifth live one of the agent evicts the oldest. */
  register(connection: Connection): Promise<RegisterOutcome>;
  /** Forgets a connection; answers the agent it was registered for, undefined when it was not (or no longer). */
  remove(connectionId: string): Promise<string | undefined>;
  /** The live connections at `now` of up to MAX_AGENTS_PER_LOOKUP agents, by agent in the order given, oldest first. */
  ofAgents(agentIds: readonly string[], now: number): Promise<Connection[]>;
  /** The live connections at `now` opened with the token of this jti. */
  byJti(jti: string, now: number): Promise<Connection[]>;
}

/** The oldest of `live` (by connectedAt, then id): the one a further registration evicts. */
export function oldestConnection<T extends { readonly connectionId: string; readonly connectedAt: number }>(
  live: readonly T[],
): T | undefined {
  let oldest: T | undefined;
  for (const entry of live) {
    if (
      oldest === undefined ||
      entry.connectedAt < oldest.connectedAt ||
      (entry.connectedAt === oldest.connectedAt && entry.connectionId < oldest.connectionId)
    )
      oldest = entry;
  }
  return oldest;
}
