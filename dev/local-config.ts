/**
 * The configuration of the local tools (the local server, the revoke CLI): the service's own
 * (lib/config.ts), plus the settings only a local run has: the port, where Redis is for the local
 * bridge, and the TLS files. USE_REDIS=true without Upstash variables starts the local Upstash
 * bridge in front of REDIS_HOST:REDIS_PORT and points the service's configuration at it.
 */
import { type Config, ConfigError, type Env, integer, loadConfig, text } from '../lib/config.ts';

export interface TlsConfig {
  /** Paths of PEM files. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Client certificates must chain to this CA; undefined: no client certificate asked for. */
  readonly caFile: string | undefined;
}

export interface LocalSettings {
  /** BIZ_SERVICE_PORT (default 5000). */
  readonly port: number;
  /** REDIS_HOST / REDIS_PORT: the Redis the local bridge fronts with USE_REDIS=true. */
  readonly redisHost: string;
  readonly redisPort: number;
  /** TLS_CERT_FILE, TLS_KEY_FILE, MTLS_CA_FILE: serve HTTPS, and with a CA require client certificates (mTLS). */
  readonly tls: TlsConfig | undefined;
}

function tls(env: Env): TlsConfig | undefined {
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  const caFile = env.MTLS_CA_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(certFile ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', 'set both TLS_CERT_FILE and TLS_KEY_FILE, or neither');
  }
  if (certFile === undefined || keyFile === undefined) {
    if (caFile !== undefined) throw new ConfigError('MTLS_CA_FILE', 'client certificates need TLS: set TLS_CERT_FILE and TLS_KEY_FILE too');
    return undefined;
  }
  return { certFile, keyFile, caFile };
}

/** The local-only settings, checked once with the variable's name in any error. */
export function loadLocalSettings(env: Env = process.env): LocalSettings {
  return {
    port: integer(env, 'BIZ_SERVICE_PORT', 5000, 0, 65535),
    redisHost: text(env, 'REDIS_HOST', 'localhost'),
    redisPort: integer(env, 'REDIS_PORT', 6379, 1, 65535),
    tls: tls(env),
  };
}

export interface LocalConfig {
  readonly config: Config;
  readonly local: LocalSettings;
  /** True when a local bridge was started (and must be closed). */
  readonly bridged: boolean;
  close(): Promise<void>;
}

export async function loadLocalConfig(env: Env): Promise<LocalConfig> {
  const config = loadConfig(env);
  const local = loadLocalSettings(env);
  if (!config.useRedis || config.upstashUrl !== undefined) return { config, local, bridged: false, close: async () => {} };
  // Loaded only here: node-redis and the bridge stay out of everything else.
  const { startUpstashBridge } = await import('./upstash-bridge.ts');
  const bridge = await startUpstashBridge({ redisHost: local.redisHost, redisPort: local.redisPort });
  return {
    config: loadConfig({ ...env, UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token }),
    local,
    bridged: true,
    close: () => bridge.close(),
  };
}
