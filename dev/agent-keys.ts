/**
 * The reference agent's command keys (docs/signing.md): the public keys it checks every command's
 * signature with, pinned. They come from `--command-keys FILE` (a JWKS, e.g. a saved
 * GET /.well-known/command-keys), or else from the first config the agent reads (`command_keys`
 * of GET /api/config). After that, a config offering other keys is refused (the pinned ones stay,
 * and a command signed with the new key is refused `unknown_kid`) unless `--accept-new-keys`.
 *
 * Over plain http (a local service) the first config is pinned too, with a warning: whoever
 * answers that first request chooses the keys. Over https the first config is as good as the TLS
 * connection it came over; --command-keys leaves even that out.
 */
import { readFileSync } from 'node:fs';
import type { CommandPublicJwk } from '../lib/signing/jws.ts';

/** What became of a config's keys. */
export type KeyOffer =
  | 'pinned' // nothing pinned before: these are now
  | 'pinned_insecure' // the same, over plain http
  | 'same' // the pinned keys again
  | 'replaced' // other keys, taken with --accept-new-keys
  | 'refused' // other keys, refused: the pinned ones stay
  | 'absent'; // the config carried no usable keys

const isKey = (value: unknown): value is CommandPublicJwk => {
  const key = value as Partial<CommandPublicJwk> | null;
  return (
    typeof key === 'object' &&
    key !== null &&
    key.kty === 'EC' &&
    key.crv === 'P-256' &&
    typeof key.x === 'string' &&
    typeof key.y === 'string' &&
    typeof key.kid === 'string'
  );
};

/** The P-256 keys of a JWKS (`{"keys":[...]}`); others are left out. */
export function keysOf(jwks: unknown): CommandPublicJwk[] {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return [];
  return keys.filter(isKey).map(({ kty, crv, x, y, kid, alg, use }) => ({ kty, crv, x, y, kid, alg, use }));
}

/** The keys of a JWKS file (--command-keys); throws when it holds none. */
export function readKeysFile(path: string): CommandPublicJwk[] {
  const keys = keysOf(JSON.parse(readFileSync(path, 'utf8')));
  if (keys.length === 0) throw new Error(`${path}: no EC P-256 keys with a kid in its "keys"`);
  return keys;
}

const fingerprint = (keys: readonly CommandPublicJwk[]) =>
  keys
    .map((key) => `${key.kid}:${key.x}:${key.y}`)
    .sort()
    .join(',');

export class CommandKeyPin {
  private pinned: readonly CommandPublicJwk[] | undefined;
  private readonly acceptNewKeys: boolean;

  /** `keys`: pinned from the start (--command-keys); `acceptNewKeys`: a config may replace them. */
  constructor(options: { keys?: readonly CommandPublicJwk[]; acceptNewKeys?: boolean } = {}) {
    this.pinned = options.keys === undefined ? undefined : [...options.keys];
    this.acceptNewKeys = options.acceptNewKeys === true;
  }

  /** The keys commands are checked with; none before the first config (every command is then refused `unknown_kid`). */
  get keys(): readonly CommandPublicJwk[] {
    return this.pinned ?? [];
  }

  /** A config's `command_keys`, read over https (`secure`) or not. */
  offer(jwks: unknown, secure: boolean): KeyOffer {
    const offered = keysOf(jwks);
    if (offered.length === 0) return 'absent';
    if (this.pinned === undefined) {
      this.pinned = offered;
      return secure ? 'pinned' : 'pinned_insecure';
    }
    if (fingerprint(offered) === fingerprint(this.pinned)) return 'same';
    if (!this.acceptNewKeys) return 'refused';
    this.pinned = offered;
    return 'replaced';
  }
}
