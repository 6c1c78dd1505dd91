/**
 * A KMS endpoint on loopback for tests: node:http answering the KMS JSON 1.1 protocol (POST /,
 * `X-Amz-Target: TrentService.<Operation>`, `application/x-amz-json-1.1`) for Sign and
 * GetPublicKey with real P-256 keys, and the error shapes the AWS SDK maps (`__type` in the body,
 * status 400): NotFoundException for an unknown key, ThrottlingException when armed (the SDK
 * retries it). No AWS account and no emulator package: the real @aws-sdk/client-kms is pointed
 * at it (endpoint, region, dummy credentials).
 *
 * Sign with MessageType DIGEST signs the 32 bytes it is given as they are (as KMS does), so the
 * ECDSA is done here by hand: R = kG comes from ECDH (the public key of the private scalar k),
 * s = k⁻¹(z + r·d) mod n; KMS answers the DER form, which the signer must convert.
 */
import { createECDH, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';

export interface KmsTestServer {
  readonly endpoint: string;
  readonly region: string;
  /** The key ids it holds (each a P-256 SIGN_VERIFY key). */
  readonly keyIds: readonly string[];
  /** The private key behind a key id (to check signatures with another library). */
  privateKey(keyId: string): KeyObject;
  /** The next `count` requests are answered ThrottlingException. */
  throttleNext(count: number): void;
  /** Requests per operation so far (throttled ones included). */
  readonly requests: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const toBig = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`);
const toBytes = (value: bigint) => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

/** A DER INTEGER: big-endian, minimal, with a 0x00 in front when the high bit is set. */
function derInteger(value: bigint): Buffer {
  let bytes = toBytes(value);
  while (bytes.length > 1 && bytes[0] === 0 && ((bytes[1] ?? 0) & 0x80) === 0) bytes = bytes.subarray(1);
  if (((bytes[0] ?? 0) & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** ECDSA P-256 over a 32-byte digest as given, DER-encoded (what KMS Sign answers). */
export function signDigest(privateKey: KeyObject, digest: Buffer): Buffer {
  const d = toBig(Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url'));
  const z = toBig(digest);
  for (;;) {
    const k = mod(toBig(randomBytes(32)), N);
    if (k === 0n) continue;
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(toBytes(k));
    const point = ecdh.getPublicKey(); // 0x04 || x || y
    const r = mod(toBig(point.subarray(1, 33)), N);
    if (r === 0n) continue;
    const s = mod(inverse(k, N) * (z + r * d), N);
    if (s === 0n) continue;
    const body = Buffer.concat([derInteger(r), derInteger(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

export async function startKmsServer(options: { keys?: number } = {}): Promise<KmsTestServer> {
  const keys = new Map<string, KeyObject>();
  for (let i = 0; i < (options.keys ?? 1); i += 1) {
    keys.set(randomUUID(), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }
  const requests = new Map<string, number>();
  let throttled = 0;
  const arn = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  const lookup = (keyId: unknown) => {
    if (typeof keyId !== 'string') return undefined;
    const id = keyId.startsWith('arn:') ? keyId.slice(keyId.lastIndexOf('/') + 1) : keyId;
    const key = keys.get(id);
    return key === undefined ? undefined : { id, key };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify(body));
      };
      const fail = (type: string, message: string) => answer(400, { __type: type, message });
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
      requests.set(operation, (requests.get(operation) ?? 0) + 1);
      if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) {
        return fail('UnrecognizedClientException', 'expected a POST of application/x-amz-json-1.1');
      }
      if (throttled > 0) {
        throttled -= 1;
        return fail('ThrottlingException', 'Rate exceeded');
      }
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail('SerializationException', 'body is not JSON');
      }
      const found = lookup(input.KeyId);
      if (operation === 'Sign' || operation === 'GetPublicKey') {
        if (found === undefined) return fail('NotFoundException', `Key '${String(input.KeyId)}' does not exist`);
      }
      if (operation === 'GetPublicKey' && found) {
        return answer(200, {
          KeyId: arn(found.id),
          KeySpec: 'ECC_NIST_P256',
          CustomerMasterKeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ECDSA_SHA_256'],
          PublicKey: createPublicKey(found.key).export({ format: 'der', type: 'spki' }).toString('base64'),
        });
      }
      if (operation === 'Sign' && found) {
        if (input.SigningAlgorithm !== 'ECDSA_SHA_256') return fail('InvalidKeyUsageException', 'the key signs with ECDSA_SHA_256');
        const message = Buffer.from(String(input.Message ?? ''), 'base64');
        if (input.MessageType !== 'DIGEST' || message.length !== 32) {
          return fail('ValidationException', 'this endpoint signs 32-byte digests (MessageType DIGEST) only');
        }
        return answer(200, {
          KeyId: arn(found.id),
          SigningAlgorithm: 'ECDSA_SHA_256',
          Signature: signDigest(found.key, message).toString('base64'),
        });
      }
      return fail('UnknownOperationException', `unknown operation ${JSON.stringify(target)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: REGION,
    keyIds: [...keys.keys()],
    privateKey: (keyId) => {
      const key = keys.get(keyId);
      if (key === undefined) throw new Error(`no key ${keyId}`);
      return key;
    },
    throttleNext: (count) => {
      throttled = count;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
