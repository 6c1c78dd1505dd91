/**
 * Who signs commands: one interface, two signers. The local signer holds a P-256 key in a file
 * (made on first use, under .local/ by default: git-ignored); the KMS signer (kms.ts) asks AWS KMS
 * to sign and never sees the private key. Both make the same compact JWS (jws.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CommandPayload } from './payload.ts';
import { type CommandKeySet, type CommandPublicJwk, compact, jwkThumbprint, publicJwk, signingInput } from './jws.ts';

export interface CommandSigner {
  /** The compact JWS (ES256, with `kid`) over `payload`. */
  sign(payload: CommandPayload): Promise<string>;
  /** The public keys agents verify with: the signing key first, then the others still valid (a rotation). */
  keySet(): Promise<CommandKeySet>;
}

/** A signer over a P-256 private key held in this process; kid = the RFC 7638 thumbprint of its public key. */
export class LoadedKeySigner implements CommandSigner {
  readonly kid: string;
  readonly jwk: CommandPublicJwk;
  private readonly key: KeyObject;
  private readonly others: readonly CommandPublicJwk[];

  /** `others`: public keys published beside this one (the key before it, during a rotation). */
  constructor(privateKey: KeyObject, others: readonly CommandPublicJwk[] = []) {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('the command signing key must be an EC P-256 private key');
    }
    const exported = createPublicKey(privateKey).export({ format: 'jwk' });
    this.kid = jwkThumbprint(exported as { crv: string; kty: string; x: string; y: string });
    this.jwk = publicJwk(exported, this.kid);
    this.key = privateKey;
    this.others = others;
  }

  async sign(payload: CommandPayload): Promise<string> {
    const input = signingInput(this.kid, payload);
    return compact(input, sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' }));
  }

  async keySet(): Promise<CommandKeySet> {
    return { keys: [this.jwk, ...this.others.filter((key) => key.kid !== this.kid)] };
  }
}

/** A fresh P-256 private key (tests, and the local key file's first use). */
export function generateSigningKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/**
 * The local signer: the PKCS #8 PEM key at `path`, made on first use (mode 0600, never
 * overwritten: two processes starting at once both end up with the first one's key).
 */
export class LocalFileSigner implements CommandSigner {
  readonly path: string;
  private loading: Promise<LoadedKeySigner> | undefined;
  constructor(path: string) {
    this.path = path;
  }

  private signer(): Promise<LoadedKeySigner> {
    this.loading ??= loadOrCreateKey(this.path).then((key) => new LoadedKeySigner(key));
    return this.loading;
  }

  async sign(payload: CommandPayload): Promise<string> {
    return (await this.signer()).sign(payload);
  }

  async keySet(): Promise<CommandKeySet> {
    return (await this.signer()).keySet();
  }
}

async function loadOrCreateKey(path: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  const pem = generateSigningKey().export({ format: 'pem', type: 'pkcs8' });
  try {
    await writeFile(path, pem, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return createPrivateKey(await readFile(path, 'utf8'));
}
