/**
 * The configuration for local tools (the local server, the revoke CLI): as the service reads it,
 * except that USE_REDIS=true without Upstash variables starts the local Upstash bridge in front
 * of REDIS_HOST:REDIS_PORT and points the configuration at it.
 */
import { type Config, loadConfig } from '../lib/config.ts';

export interface LocalConfig {
  readonly config: Config;
  /** True when a local bridge was started (and must be closed). */
  readonly bridged: boolean;
  close(): Promise<void>;
}

export async function loadLocalConfig(env: Record<string, string | undefined>): Promise<LocalConfig> {
  const config = loadConfig(env);
  if (!config.useRedis || config.upstashUrl !== undefined) return { config, bridged: false, close: async () => {} };
  // Loaded only here: node-redis and the bridge stay out of everything else.
  const { startUpstashBridge } = await import('./upstash-bridge.ts');
  const bridge = await startUpstashBridge({ redisHost: config.redisHost, redisPort: config.redisPort });
  return {
    config: loadConfig({ ...env, UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token }),
    bridged: true,
    close: () => bridge.close(),
  };
}
