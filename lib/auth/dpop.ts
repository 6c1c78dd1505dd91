/**
 * DPoP (RFC 9449): a token whose claims carry `cnf.jkt` is good only with a proof, made for this
 * very request, signed by the private key whose public JWK has that thumbprint. Plain logic, no
 * HTTP, no I/O: the auth middleware (lib/http/auth.ts) hands in the request's method, its public
 * URL, the DPoP header and the token, and gets the proof's jti back; the replay check of that jti
 * runs in the request's admission (lib/store/lua/gate.lua, lib/store/memory.ts), where the store
 * remembers it until the proof could no longer be accepted anyway (proofKeepUntil).
 *
 * The checks of RFC 9449 4.3, each failing with its own DpopProofError reason: one proof; a JWT
 * with `typ` `dpop+jwt`; an allowed asymmetric `alg`; a public `jwk` (a private member is
 * refused); the signature over that key; `htm`, `htu` (both sides normalised as RFC 3986 6.2.2
 * and 6.2.3 say, query and fragment left out), `iat` within the window, `ath` the token's hash,
 * and the key's RFC 7638 thumbprint equal to `cnf.jkt`.
 *
 * The signature: jsonwebtoken (the verifier's library) with the key node:crypto makes from the
 * JWK, for the RS, PS and ES families; jsonwebtoken 9 does not know EdDSA, so an Ed25519 or Ed448
 * proof is checked by node:crypto's verify on the JWS signing input (the whole of EdDSA in JWS,
 * RFC 8037 3.1). jose would do both but is a development dependency only.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject, timingSafeEqual, verify as verifySignature } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { hasDuplicateKeys } from '../json-text.ts';
import { DpopProofError } from './errors.ts';

/** Every `alg` a proof may use (asymmetric only); DPOP_ALGORITHMS picks among them. */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];
export const DEFAULT_DPOP_ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'RS256', 'PS256', 'EdDSA'];

export interface DpopSettings {
  /** DPOP_ALGORITHMS: the `alg` values a proof may use (the `algs` of the 401 challenge). */
  readonly algorithms: readonly DpopAlgorithm[];
  /** DPOP_REQUIRED: refuse every token without `cnf.jkt`. */
  readonly required: boolean;
  /** DPOP_IAT_WINDOW_SECONDS: how far a proof's `iat` may be from the service's clock, either way. */
  readonly iatWindowSeconds: number;
  /** PUBLIC_BASE_URL: the URL the agents call (custom domain or stage URL); undefined: the request's Host. */
  readonly publicBaseUrl: string | undefined;
}

/** What the check needs of one request. */
export interface ProofRequest {
  /** The DPoP header as it arrived: API Gateway joins repeated headers with a comma. */
  readonly header: unknown;
  /** The HTTP method, as sent. */
  readonly method: string;
  /** The URL the client called, as this service knows it (requestUrl). */
  readonly url: string;
  /** The access token the proof must be bound to (`ath`). */
  readonly accessToken: string;
  /** The token's `cnf.jkt`. */
  readonly jkt: string;
  /** The service's clock, epoch ms. */
  readonly now: number;
}

/** A proof that passed every check but the replay one, which the admission makes. */
export interface VerifiedProof {
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
  readonly jkt: string;
}

/** The longest `jti` taken: RFC 9449 asks for 96 bits of randomness, a UUID is 36 characters. */
const MAX_JTI_LENGTH = 256;
/** A proof is small: a header with a public key (an RSA-4096 JWK is under 1 kB) and five claims. */
const MAX_PROOF_LENGTH = 8192;
const MIN_RSA_BITS = 2048;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The RFC 7638 thumbprint of a public JWK (SHA-256, base64url): its required members, sorted, as JSON. */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string {
  const kty = jwk.kty;
  const members = typeof kty === 'string' && Object.hasOwn(THUMBPRINT_MEMBERS, kty) ? THUMBPRINT_MEMBERS[kty] : undefined;
  if (members === undefined) throw new DpopProofError('invalid_jwk', `no thumbprint for kty ${JSON.stringify(kty)}`);
  const required: Record<string, string> = {};
  for (const name of members) {
    const value = jwk[name];
    if (typeof value !== 'string') throw new DpopProofError('invalid_jwk', `the jwk has no ${name}`);
    required[name] = value;
  }
  // Sorted member names (the lists above are), no whitespace: JSON.stringify writes exactly that.
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

/** `ath`: base64url(SHA-256(the access token's ASCII)). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

const UNRESERVED = /[A-Za-z0-9._~-]/;

/**
 * A URL as htu is compared (RFC 9449 4.3 step 9): query and fragment left out, then RFC 3986
 * syntax-based normalisation (scheme and host in lower case, dot segments removed, percent
 * encodings in upper case and the unreserved ones decoded) and scheme-based (the default port
 * left out, an empty path as `/`). WHATWG URL does all of it but the percent encodings.
 * Undefined for what is no absolute http(s) URL.
 */
export function normalizedHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_all, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path === '' ? '/' : path}`;
}

/**
 * The URL the client called: PUBLIC_BASE_URL (a custom domain, or a stage URL with its path) and
 * the request's path; without one, the scheme and host the request came in with. API Gateway
 * keeps a named stage's segment and an API mapping's base path in `rawPath` (HTTP API, payload
 * 2.0): a path that already starts with the base URL's path is taken as it is, after its origin.
 */
export function requestUrl(base: string | undefined, request: { scheme: string; host: string; path: string }): string {
  const path = request.path.startsWith('/') ? request.path : `/${request.path}`;
  if (base === undefined) return `${request.scheme}://${request.host}${path}`;
  const root = new URL(base);
  const basePath = root.pathname.replace(/\/+$/, '');
  const within = basePath !== '' && (path === basePath || path.startsWith(`${basePath}/`));
  return `${root.origin}${within ? '' : basePath}${path}`;
}

/**
 * Until when (epoch ms) the store must remember a proof's jti: to the last instant its `iat`
 * is accepted, and one window more, so that instances whose clocks differ (each decides the iat
 * window by its own) still meet the entry. Past it the iat check refuses the proof by itself.
 */
export function proofKeepUntil(iat: number, windowSeconds: number): number {
  return (iat + 2 * windowSeconds) * 1000 + 1;
}

/**
 * The replay rule the admission applies (its Lua twin: lib/store/lua/rules/proofReplayed.lua):
 * `seen` is what the store holds for the proof's jti (undefined: nothing), `request` this
 * request's own id. The same request's store calls (and the client's retry of one) carry the
 * same id, so only another request's use of the jti is a replay.
 */
export function proofReplayed(seen: string | undefined, request: string): boolean {
  return seen !== undefined && seen !== request;
}

/** The id the store keeps a proof under: the key's thumbprint and the jti, hashed to a fixed length. */
export function proofId(proof: Pick<VerifiedProof, 'jkt' | 'jti'>): string {
  return createHash('sha256')
    .update(JSON.stringify([proof.jkt, proof.jti]))
    .digest('base64url');
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw new DpopProofError('malformed_proof', `the ${what} is not base64url`);
  const text = Buffer.from(part, 'base64url').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DpopProofError('malformed_proof', `the ${what} is not JSON`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DpopProofError('malformed_proof', `the ${what} is not a JSON object`);
  }
  // Readers that keep the first duplicate would see another proof than JSON.parse (the last).
  if (hasDuplicateKeys(text)) throw new DpopProofError('malformed_proof', `the ${what} has a duplicate member name`);
  return value as Record<string, unknown>;
}

/** The public key of the header's jwk: a JSON object, no private member, a key node can read. */
function publicKeyOf(jwk: unknown): { key: KeyObject; jwk: Record<string, unknown> } {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new DpopProofError('invalid_jwk', 'no jwk in the header');
  const members = jwk as Record<string, unknown>;
  for (const name of PRIVATE_MEMBERS) {
    if (Object.hasOwn(members, name)) throw new DpopProofError('private_key', `the jwk carries the private member ${name}`);
  }
  if (!['EC', 'RSA', 'OKP'].includes(String(members.kty))) {
    throw new DpopProofError('invalid_jwk', `kty ${JSON.stringify(members.kty)} is not an asymmetric key type`);
  }
  try {
    const key = createPublicKey({ key: members as JsonWebKey, format: 'jwk' });
    if (key.type !== 'public') throw new Error(`a ${key.type} key`);
    return { key, jwk: members };
  } catch (error) {
    throw new DpopProofError('invalid_jwk', 'the jwk is not a usable public key', error);
  }
}

/** The curve each ES alg signs with (RFC 7518 3.4), as node names it. */
const EC_CURVES: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** Throws invalid_jwk unless the key is of the kind `alg` signs with (and an RSA key of 2048 bits or more). */
function checkKeySuits(alg: DpopAlgorithm, key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  const suits =
    alg === 'EdDSA'
      ? type === 'ed25519' || type === 'ed448'
      : alg.startsWith('ES')
        ? type === 'ec' && details?.namedCurve === EC_CURVES[alg]
        : type === 'rsa' || (alg.startsWith('PS') && type === 'rsa-pss');
  if (!suits) throw new DpopProofError('invalid_jwk', `${alg} with a ${type}${details?.namedCurve ? ` ${details.namedCurve}` : ''} key`);
  // jsonwebtoken checks the size of an RSA key when it signs, not when it verifies: a proof is
  // refused below 2048 bits, as RFC 7518 3.3 asks of RS and PS keys.
  const bits = details?.modulusLength;
  if (type?.startsWith('rsa') && (bits === undefined || bits < MIN_RSA_BITS)) {
    throw new DpopProofError('invalid_jwk', `an RSA key of ${bits ?? 'unknown'} bits (at least ${MIN_RSA_BITS})`);
  }
}

function checkSignature(proof: string, alg: DpopAlgorithm, key: KeyObject): void {
  checkKeySuits(alg, key);
  if (alg === 'EdDSA') {
    const end = proof.lastIndexOf('.');
    const signature = Buffer.from(proof.slice(end + 1), 'base64url');
    if (!verifySignature(null, Buffer.from(proof.slice(0, end), 'ascii'), key, signature)) {
      throw new DpopProofError('invalid_signature', 'the signature does not verify with the jwk');
    }
    return;
  }
  try {
    // The claims are checked below, by the service's clock: none of jsonwebtoken's claim checks apply.
    jwt.verify(proof, key, { algorithms: [alg], ignoreExpiration: true, ignoreNotBefore: true });
  } catch (error) {
    throw new DpopProofError('invalid_signature', 'the signature does not verify with the jwk', error);
  }
}

const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * RFC 9449 4.3, every check but the replay: throws DpopProofError with the first failing check's
 * reason, else gives the proof's jti and iat for the admission's replay check.
 */
export function verifyProof(request: ProofRequest, settings: DpopSettings): VerifiedProof {
  const header = request.header;
  if (header === undefined || header === null || header === '') throw new DpopProofError('missing_proof', 'no DPoP header');
  if (typeof header !== 'string' || header.includes(',')) throw new DpopProofError('multiple_proofs', 'more than one DPoP header');
  const proof = header.trim();
  if (proof.length > MAX_PROOF_LENGTH) throw new DpopProofError('malformed_proof', 'the proof is too long');
  const parts = proof.split('.');
  if (parts.length !== 3 || parts.some((part) => part === '' || !BASE64URL.test(part))) {
    throw new DpopProofError('malformed_proof', 'not a compact JWS');
  }
  const [headerPart = '', payloadPart = ''] = parts;
  const head = decodeJson(headerPart, 'header');
  const claims = decodeJson(payloadPart, 'payload');
  if (head.typ !== 'dpop+jwt') throw new DpopProofError('wrong_typ', `typ is ${JSON.stringify(head.typ)}, not dpop+jwt`);
  const alg = head.alg;
  if (typeof alg !== 'string' || !(settings.algorithms as readonly string[]).includes(alg)) {
    throw new DpopProofError('unsupported_algorithm', `alg ${JSON.stringify(alg)} is not one of ${settings.algorithms.join(' ')}`);
  }
  const { key, jwk } = publicKeyOf(head.jwk);
  checkSignature(proof, alg as DpopAlgorithm, key);

  const { jti, htm, htu, iat, ath } = claims;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw new DpopProofError('missing_claim', 'jti');
  if (typeof htm !== 'string') throw new DpopProofError('missing_claim', 'htm');
  if (typeof htu !== 'string') throw new DpopProofError('missing_claim', 'htu');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('missing_claim', 'iat');
  if (typeof ath !== 'string') throw new DpopProofError('missing_claim', 'ath');

  if (htm !== request.method) throw new DpopProofError('htm_mismatch', `htm ${JSON.stringify(htm)} is not ${request.method}`);
  const expected = normalizedHtu(request.url);
  const claimed = normalizedHtu(htu);
  if (expected === undefined || claimed === undefined || claimed !== expected) {
    throw new DpopProofError('htu_mismatch', `htu ${JSON.stringify(htu)} is not ${JSON.stringify(expected ?? request.url)}`);
  }
  const windowMs = settings.iatWindowSeconds * 1000;
  if (iat * 1000 < request.now - windowMs || iat * 1000 > request.now + windowMs) {
    throw new DpopProofError('iat_out_of_window', `iat ${iat} is more than ${settings.iatWindowSeconds} s from now`);
  }
  if (!sameText(ath, accessTokenHash(request.accessToken))) throw new DpopProofError('ath_mismatch', 'ath is not the hash of this token');
  if (!sameText(jwkThumbprint(jwk), request.jkt)) throw new DpopProofError('jkt_mismatch', "the proof's key is not the token's cnf.jkt");
  return { jti, iat, jkt: request.jkt };
}
