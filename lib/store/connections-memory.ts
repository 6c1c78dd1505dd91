/**
 * The connection registry in this process's memory (lib/store/connections.ts), laid out as its
 * Redis keys are: per agent its connections (ws-agent), per connection its agent (ws-conn), per
 * jti its agent (ws-jti). Each method runs to completion without awaiting, so each is one step,
 * and the memory backend runs register behind the gate in the same step (lib/store/memory.ts).
 */
import { type Connection, type ConnectionStore, MAX_CONNECTIONS_PER_AGENT, oldestConnection, type RegisterOutcome } from './connections.ts';
import { Sweeper } from './memory.ts';

export class MemoryConnectionStore implements ConnectionStore {
  /** Agent → connection id → its entry (ws-agent:<agent>). */
  private readonly agents = new Map<string, Map<string, Connection>>();
  /** Connection id → its entry (ws-conn:<connection>). */
  private readonly connections = new Map<string, Connection>();
  /** jti → agent (ws-jti:<jti>), until the latest of its connections' expiries. */
  private readonly jtis = new Map<string, { agentId: string; until: number }>();
  /** Lapsed entries go a few per registration, as their Redis keys expire. */
  private readonly connectionSweeper = new Sweeper(this.connections, (entry: Connection, _id, now) => entry.expiresAt <= now);
  private readonly jtiSweeper = new Sweeper(this.jtis, (entry: { until: number }, _jti, now) => entry.until <= now);
  private readonly agentSweeper = new Sweeper(this.agents, (entries: Map<string, Connection>, _agent, now) => {
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
    return entries.size === 0;
  });

  async register(connection: Connection): Promise<RegisterOutcome> {
    const now = connection.connectedAt;
    this.connectionSweeper.sweep(now);
    this.jtiSweeper.sweep(now);
    this.agentSweeper.sweep(now);
    const entries = this.agents.get(connection.agentId) ?? new Map<string, Connection>();
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
    if (entries.has(connection.connectionId)) return { outcome: 'unchanged', evicted: undefined };
    let evicted: string | undefined;
    if (entries.size >= MAX_CONNECTIONS_PER_AGENT) {
      evicted = oldestConnection([...entries.values()])?.connectionId;
      // Its ws-conn entry stays until its $disconnect removes it, as in Redis.
      if (evicted !== undefined) entries.delete(evicted);
    }
    entries.set(connection.connectionId, { ...connection });
    this.agents.set(connection.agentId, entries);
    this.connections.set(connection.connectionId, { ...connection });
    if (connection.jti !== undefined) {
      const until = Math.max(this.jtis.get(connection.jti)?.until ?? 0, connection.expiresAt);
      this.jtis.set(connection.jti, { agentId: connection.agentId, until });
    }
    return { outcome: 'registered', evicted };
  }

  async remove(connectionId: string): Promise<string | undefined> {
    const entry = this.connections.get(connectionId);
    if (entry === undefined) return undefined;
    this.connections.delete(connectionId);
    const entries = this.agents.get(entry.agentId);
    entries?.delete(connectionId);
    if (entries?.size === 0) this.agents.delete(entry.agentId);
    return entry.agentId;
  }

  async ofAgents(agentIds: readonly string[], now: number): Promise<Connection[]> {
    return agentIds.flatMap((agentId) => this.live(agentId, now));
  }

  async byJti(jti: string, now: number): Promise<Connection[]> {
    const entry = this.jtis.get(jti);
    if (entry === undefined || entry.until <= now) return [];
    return this.live(entry.agentId, now).filter((connection) => connection.jti === jti);
  }

  /** The agent's live connections at `now`, oldest first (as the Lua sorts them). */
  private live(agentId: string, now: number): Connection[] {
    const entries = this.agents.get(agentId);
    if (entries === undefined) return [];
    return [...entries.values()]
      .filter((entry) => entry.expiresAt > now)
      .sort((a, b) => a.connectedAt - b.connectedAt || (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0))
      .map((entry) => ({ ...entry }));
  }
}
