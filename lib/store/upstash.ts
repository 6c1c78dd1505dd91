/** Upstash Redis implementations of the store interfaces (filled in by the Redis work). */
import type { Config } from '../config.ts';
import type { CommandStore, RevocationStore } from './types.ts';

export function createUpstashStores(_config: Config): { commands: CommandStore; revocations: RevocationStore } {
  throw new Error('USE_REDIS=true is not supported yet');
}
