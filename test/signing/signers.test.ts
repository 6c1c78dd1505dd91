/**
 * The two command signers: the local key file and AWS KMS, the latter through the real
 * @aws-sdk/client-kms against a KMS-protocol endpoint on loopback (test/helpers/kms-server.ts).
 * Every signature is checked by another library (jose).
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derToRaw, SignatureFormatError } from '../../lib/signing/jws.ts';
import { ConfigError } from '../../lib/config.ts';
import { KmsSigner, kmsKid } from '../../lib/signing/kms.ts';
import { createCommandSigner, loadSigningSettings } from '../../lib/signing/runtime.ts';
import type { CommandPayload } from '../../lib/signing/payload.ts';
import { LoadedKeySigner, LocalFileSigner } from '../../lib/signing/signer.ts';
import { type KmsTestServer, startKmsServer } from '../helpers/kms-server.ts';

const payload: CommandPayload = {
  agent_id: 'agent-001',
  command_id: 'c-1',
  command: 'restart',
  args_sha256: 'ab'.repeat(32),
  issued_at: '2026-12-07T00:00:00.000Z',
  expires_at: '2026-12-08T00:00:00.000Z',
};

async function verifiedWithJose(jws: string, keys: readonly { kid: string }[]) {
  const header = decodeProtectedHeader(jws);
  const jwk = keys.find((key) => key.kid === header.kid);
  if (jwk === undefined) throw new Error(`no key ${String(header.kid)}`);
  const { payload: bytes, protectedHeader } = await compactVerify(jws, await importJWK({ ...jwk }, 'ES256'));
  return { header: protectedHeader, payload: JSON.parse(new TextDecoder().decode(bytes)) as unknown };
}

describe('the local signer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'biz-signing-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes its key file on first use (0600), keeps it, and signs ES256 with kid = the RFC 7638 thumbprint', async () => {
    const path = join(dir, 'nested', 'key.pem');
    const signer = new LocalFileSigner(path);
    const jws = await signer.sign(payload);
    const { keys } = await signer.keySet();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(keys).toHaveLength(1);
    const [jwk] = keys;
    expect(jwk?.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk?.x, y: jwk?.y }));
    expect(jwk).not.toHaveProperty('d');
    const verified = await verifiedWithJose(jws, keys);
    expect(verified.header).toEqual({ alg: 'ES256', typ: 'biz-command+jws', kid: jwk?.kid });
    expect(verified.payload).toEqual(payload);

    const again = new LocalFileSigner(path);
    expect((await again.keySet()).keys).toEqual(keys);
    expect(createPrivateKey(await readFile(path, 'utf8')).asymmetricKeyType).toBe('ec');
  });

  it('ends with one key when two processes make the file at once', async () => {
    const path = join(dir, 'race.pem');
    const [a, b] = [new LocalFileSigner(path), new LocalFileSigner(path)];
    const [ka, kb] = await Promise.all([a.keySet(), b.keySet()]);
    expect(ka).toEqual(kb);
  });

  it('refuses a key that is not P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    expect(() => new LoadedKeySigner(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey)).toThrow(/P-256/);
  });
});

describe('the KMS signer, through the AWS SDK against a KMS endpoint on loopback', () => {
  let kms: KmsTestServer;
  let client: KMSClient;
  beforeAll(async () => {
    kms = await startKmsServer({ keys: 2 });
    client = new KMSClient({
      endpoint: kms.endpoint,
      region: kms.region,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 3,
    });
  });
  afterAll(async () => {
    client.destroy();
    await kms.close();
  });

  it('signs a digest with KMS and turns its DER answer into a JWS that jose verifies with the published key', async () => {
    const [keyId, other] = kms.keyIds as [string, string];
    const signer = new KmsSigner({ client, keyId: `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`, otherKeyIds: [other] });
    const { keys } = await signer.keySet();
    expect(keys.map((key) => key.kid)).toEqual([keyId, other]);
    // Many signatures: about one in two has an r or s whose DER form carries a leading 0x00 or is shorter.
    for (let i = 0; i < 20; i += 1) {
      const jws = await signer.sign({ ...payload, command_id: `c-${i}` });
      const verified = await verifiedWithJose(jws, keys);
      expect(verified.header).toEqual({ alg: 'ES256', typ: 'biz-command+jws', kid: keyId });
      expect(verified.payload).toEqual({ ...payload, command_id: `c-${i}` });
    }
  });

  it('fetches each public key once per process', async () => {
    const signer = new KmsSigner({ client, keyId: kms.keyIds[0] as string });
    const before = kms.requests.get('GetPublicKey') ?? 0;
    await signer.keySet();
    await signer.keySet();
    expect((kms.requests.get('GetPublicKey') ?? 0) - before).toBe(1);
  });

  it('retries a throttled Sign as the SDK does, and signs', async () => {
    const signer = new KmsSigner({ client, keyId: kms.keyIds[0] as string });
    const before = kms.requests.get('Sign') ?? 0;
    kms.throttleNext(2);
    const jws = await signer.sign(payload);
    expect((kms.requests.get('Sign') ?? 0) - before).toBe(3);
    await expect(verifiedWithJose(jws, (await signer.keySet()).keys)).resolves.toBeDefined();
  });

  it('surfaces an unknown key as the SDK maps it: NotFoundException, not retried', async () => {
    const signer = new KmsSigner({ client, keyId: '00000000-0000-0000-0000-000000000000' });
    const before = kms.requests.get('Sign') ?? 0;
    await expect(signer.sign(payload)).rejects.toBeInstanceOf(NotFoundException);
    await expect(signer.keySet()).rejects.toBeInstanceOf(NotFoundException);
    expect((kms.requests.get('Sign') ?? 0) - before).toBe(1);
  });

  it('is what the runtime makes from COMMAND_SIGNING_KMS_KEY_ID, its client from the environment (AWS_ENDPOINT_URL_KMS)', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      AWS_REGION: kms.region,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    try {
      const signer = createCommandSigner(
        loadSigningSettings({ AWS_LAMBDA_FUNCTION_NAME: 'fn', COMMAND_SIGNING_KMS_KEY_ID: kms.keyIds[1] as string }),
      );
      const jws = await signer.sign(payload);
      expect((await verifiedWithJose(jws, (await signer.keySet()).keys)).header.kid).toBe(kms.keyIds[1]);
    } finally {
      for (const name of ['AWS_ENDPOINT_URL_KMS', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it('refuses to start in production without a KMS key (or an explicit key file), and a malformed key id', () => {
    expect(() => loadSigningSettings({ AWS_LAMBDA_FUNCTION_NAME: 'fn' })).toThrow(/COMMAND_SIGNING_KMS_KEY_ID/);
    expect(loadSigningSettings({ AWS_LAMBDA_FUNCTION_NAME: 'fn', COMMAND_SIGNING_KEY_FILE: '/tmp/k.pem' })).toEqual({
      kind: 'file',
      path: '/tmp/k.pem',
    });
    expect(loadSigningSettings({})).toEqual({ kind: 'file', path: '.local/command-signing-key.pem' });
    expect(() => loadSigningSettings({ COMMAND_SIGNING_KMS_KEY_ID: 'alias with spaces' })).toThrow(ConfigError);
    expect(() => loadSigningSettings({ COMMAND_SIGNING_KMS_OTHER_KEY_IDS: 'abc' })).toThrow(/needs COMMAND_SIGNING_KMS_KEY_ID/);
  });

  it('names a key by its id, from an ARN too', () => {
    expect(kmsKid('arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab')).toBe('1234abcd-12ab');
    expect(kmsKid('1234abcd-12ab')).toBe('1234abcd-12ab');
  });
});

describe('DER to JWS signature form', () => {
  it('drops the sign byte, pads short integers, and refuses what is not an ECDSA-Sig-Value', () => {
    const r = Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.alloc(31, 1)]); // 33 bytes: sign byte
    const s = Buffer.from([0x05]); // 1 byte: padded to 32
    const der = Buffer.concat([Buffer.from([0x30, 2 + r.length + 2 + s.length, 0x02, r.length]), r, Buffer.from([0x02, s.length]), s]);
    const raw = derToRaw(der);
    expect(raw).toHaveLength(64);
    expect(raw.subarray(0, 32)).toEqual(r.subarray(1));
    expect(raw.subarray(32)).toEqual(Buffer.concat([Buffer.alloc(31), s]));
    expect(() => derToRaw(Buffer.from([0x31, 0x00]))).toThrow(SignatureFormatError);
    expect(() => derToRaw(Buffer.concat([der, Buffer.from([0])]))).toThrow(SignatureFormatError);
    expect(() => derToRaw(der.subarray(0, der.length - 1))).toThrow(SignatureFormatError);
  });
});
