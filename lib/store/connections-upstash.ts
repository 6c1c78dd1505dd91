/**
 * The connection registry on Upstash Redis (lib/store/connections.ts): one script per call
 * (lua/push-*.lua), register behind the gate of the $connect request's token. Keys:
 * <p>ws-agent:<agent>, <p>ws-conn:<connection>, <p>ws-jti:<jti> (lib/store/keys.ts).
 */
import type { Redis } from '@upstash/redis';
import {
  type Connection,
  type ConnectionStore,
  MAX_AGENTS_PER_LOOKUP,
  MAX_CONNECTIONS_PER_AGENT,
  type RegisterOutcome,
} from './connections.ts';
import type { RedisKeys } from './keys.ts';
import { PUSH_CONNECTIONS, PUSH_JTI, PUSH_REGISTER, PUSH_REMOVE } from './scripts.ts';
import { type Actions, type Admission, StoreUnavailableError } from './types.ts';
import { call, gatedRunner, gateSettings, type UpstashStoreOptions } from './upstash.ts';

/** What the hash keeps of a connection besides its id and agent (`at`, `until` are read by the Lua). */
interface StoredEntry {
  at: number;
  until: number;
  jti?: string;
  iat?: number;
}

export class UpstashConnectionStore implements Actions<ConnectionStore> {
  private readonly keys: RedisKeys;
  private readonly registerScript;
  private readonly removeScript;
  private readonly connectionsScript;
  private readonly jtiScript;

  constructor(redis: Redis, options: UpstashStoreOptions) {
    const gate = gateSettings(options);
    this.keys = gate.keys;
    this.registerScript = gatedRunner(redis, gate, PUSH_REGISTER);
    this.removeScript = gatedRunner(redis, gate, PUSH_REMOVE);
    this.connectionsScript = gatedRunner(redis, gate, PUSH_CONNECTIONS);
    this.jtiScript = gatedRunner(redis, gate, PUSH_JTI);
  }

  async register(admission: Admission | undefined, connection: Connection): Promise<RegisterOutcome> {
    const entry: StoredEntry = {
      at: connection.connectedAt,
      until: connection.expiresAt,
      ...(connection.jti === undefined ? {} : { jti: connection.jti }),
      ...(connection.iat === undefined ? {} : { iat: connection.iat }),
    };
    const answer = await call('registerConnection', () =>
      this.registerScript(
        admission,
        {
          agentKey: this.keys.pushAgent(connection.agentId),
          connKey: this.keys.pushConnection(connection.connectionId),
          jtiKey: this.keys.pushJti(connection.jti ?? ''),
        },
        {
          connectionId: connection.connectionId,
          agentId: connection.agentId,
          hasJti: connection.jti === undefined ? '0' : '1',
          entry: JSON.stringify(entry),
          connectedAt: connection.connectedAt,
          expiresAt: connection.expiresAt,
          maxConnections: MAX_CONNECTIONS_PER_AGENT,
        },
      ),
    );
    const [outcome, evicted] = Array.isArray(answer) ? answer : [];
    if (outcome !== 'registered' && outcome !== 'unchanged') {
      throw new StoreUnavailableError(`Redis registerConnection returned an unknown answer (${typeof answer})`);
    }
    return { outcome, evicted: typeof evicted === 'string' && evicted !== '' ? evicted : undefined };
  }

  async remove(admission: Admission | undefined, connectionId: string): Promise<string | undefined> {
    const answer = await call('removeConnection', () =>
      this.removeScript(admission, { connKey: this.keys.pushConnection(connectionId) }, { keyPrefix: this.keys.prefix, connectionId }),
    );
    return typeof answer === 'string' && answer !== '' ? answer : undefined;
  }

  async ofAgents(admission: Admission | undefined, agentIds: readonly string[], now: number): Promise<Connection[]> {
    if (agentIds.length === 0) return [];
    if (agentIds.length > MAX_AGENTS_PER_LOOKUP) throw new RangeError(`at most ${MAX_AGENTS_PER_LOOKUP} agents per lookup`);
    const answer = await call('connectionsOf', () =>
      this.connectionsScript(admission, {}, { keyPrefix: this.keys.prefix, agents: JSON.stringify(agentIds), now }),
    );
    return toConnections('connectionsOf', answer);
  }

  async byJti(admission: Admission | undefined, jti: string, now: number): Promise<Connection[]> {
    const answer = await call('connectionsByJti', () =>
      this.jtiScript(admission, { jtiKey: this.keys.pushJti(jti) }, { keyPrefix: this.keys.prefix, jti, now }),
    );
    return toConnections('connectionsByJti', answer);
  }
}

/** {agentId, connectionId, entry JSON} triples as Connections. */
function toConnections(what: string, answer: unknown): Connection[] {
  if (!Array.isArray(answer)) throw new StoreUnavailableError(`Redis ${what} returned an unknown answer (${typeof answer})`);
  const out: Connection[] = [];
  for (let i = 0; i + 2 < answer.length; i += 3) {
    const entry = JSON.parse(String(answer[i + 2])) as StoredEntry;
    out.push({
      connectionId: String(answer[i + 1]),
      agentId: String(answer[i]),
      connectedAt: Number(entry.at),
      expiresAt: Number(entry.until),
      ...(entry.jti === undefined ? {} : { jti: entry.jti }),
      ...(entry.iat === undefined ? {} : { iat: Number(entry.iat) }),
    });
  }
  // Oldest first within each agent, as the memory registry answers.
  return sortByAgentThenAge(out);
}

function sortByAgentThenAge(connections: Connection[]): Connection[] {
  const order = new Map<string, number>();
  for (const connection of connections) if (!order.has(connection.agentId)) order.set(connection.agentId, order.size);
  return connections.sort(
    (a, b) =>
      (order.get(a.agentId) ?? 0) - (order.get(b.agentId) ?? 0) ||
      a.connectedAt - b.connectedAt ||
      (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0),
  );
}
