/**
 * The KMS signer: an asymmetric AWS KMS key (ECC_NIST_P256, SIGN_VERIFY) signs the SHA-256 digest
 * of each signing input (Sign, MessageType DIGEST, ECDSA_SHA_256); KMS answers DER, which becomes
 * the JWS's r || s. The public keys come from GetPublicKey (SubjectPublicKeyInfo DER), fetched once
 * per key and process. The `kid` of a KMS key is its key id (the UUID of its ARN), so a rotation
 * to a new key is a new kid. The service never holds the private key.
 *
 * The AWS SDK is the one the Lambda runtime ships (`@aws-sdk/*` stays out of the bundle), loaded
 * on first use, as lib/secrets.ts loads its own: a function that never signs never loads it.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { CommandPayload } from './payload.ts';
import type { CommandSigner } from './signer.ts';
import { type CommandKeySet, type CommandPublicJwk, compact, derToRaw, publicJwk, signingInput } from './jws.ts';

export interface KmsSignerOptions {
  /** By default one made on first use, from the environment (region, credentials, AWS_ENDPOINT_URL_KMS). */
  readonly client?: KMSClient;
  /** The key that signs: a key id or key ARN. */
  readonly keyId: string;
  /** Keys published beside it (the key before or after it, during a rotation). */
  readonly otherKeyIds?: readonly string[];
}

/** The kid of a KMS key: its key id, taken from an ARN (`arn:...:key/<id>`) when given one. */
export function kmsKid(keyId: string): string {
  const at = keyId.lastIndexOf(':key/');
  return at >= 0 ? keyId.slice(at + ':key/'.length) : keyId;
}

export class KmsSigner implements CommandSigner {
  private client: Promise<KMSClient> | undefined;
  private readonly keyId: string;
  private readonly keyIds: readonly string[];
  private readonly publicKeys = new Map<string, Promise<CommandPublicJwk>>();

  constructor(options: KmsSignerOptions) {
    this.client = options.client === undefined ? undefined : Promise.resolve(options.client);
    this.keyId = options.keyId;
    this.keyIds = [...new Set([options.keyId, ...(options.otherKeyIds ?? [])])];
  }

  get kid(): string {
    return kmsKid(this.keyId);
  }

  private kms(): Promise<KMSClient> {
    this.client ??= import('@aws-sdk/client-kms').then(({ KMSClient: Client }) => new Client({}));
    return this.client;
  }

  async sign(payload: CommandPayload): Promise<string> {
    const input = signingInput(this.kid, payload);
    const digest = createHash('sha256').update(input, 'utf8').digest();
    const [client, { SignCommand }] = await Promise.all([this.kms(), import('@aws-sdk/client-kms')]);
    const answer = await client.send(
      new SignCommand({ KeyId: this.keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
    );
    if (answer.Signature === undefined) throw new Error('KMS Sign answered without a signature');
    return compact(input, derToRaw(answer.Signature));
  }

  async keySet(): Promise<CommandKeySet> {
    return { keys: await Promise.all(this.keyIds.map((keyId) => this.publicKey(keyId))) };
  }

  private publicKey(keyId: string): Promise<CommandPublicJwk> {
    let known = this.publicKeys.get(keyId);
    if (known === undefined) {
      known = Promise.all([this.kms(), import('@aws-sdk/client-kms')])
        .then(([client, { GetPublicKeyCommand }]) => client.send(new GetPublicKeyCommand({ KeyId: keyId })))
        .then((answer) => {
          if (answer.PublicKey === undefined) throw new Error(`KMS GetPublicKey answered no key for ${keyId}`);
          if (answer.KeySpec !== 'ECC_NIST_P256') throw new Error(`KMS key ${keyId} is ${answer.KeySpec}, not ECC_NIST_P256`);
          const jwk = createPublicKey({ key: Buffer.from(answer.PublicKey), format: 'der', type: 'spki' }).export({ format: 'jwk' });
          return publicJwk(jwk, kmsKid(answer.KeyId ?? keyId));
        });
      // A failed fetch is tried again next time.
      known.catch(() => this.publicKeys.delete(keyId));
      this.publicKeys.set(keyId, known);
    }
    return known;
  }
}
