/**
 * Figure 1, the verify limit: the bare minimum an HS256 check must do, written directly with
 * node:crypto (base64url-decode and JSON.parse of header and payload, HMAC-SHA256 over the
 * signing input with a KeyObject, constant-time compare), next to our TokenVerifier alone
 * (cache off, and cache on for reference), measured interleaved in the same rounds.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { loadConfig } from '../lib/config.ts';
import { TokenVerifier } from '../lib/auth/verifier.ts';
import { BENCH_ENV, BENCH_SECRET, signToken } from './fixtures.ts';
import { type FigureResult, fmtRatio, fmtSpread, interleaved, type RoundOptions, ratios, spread, table } from './stats.ts';

/** The floor: what any correct HS256 verification has to compute. */
export function limitVerify(token: string, key: KeyObject): { header: unknown; payload: unknown } {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString('utf8')) as { alg?: unknown };
  const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8')) as unknown;
  if (header.alg !== 'HS256') throw new Error('alg');
  const mac = createHmac('sha256', key).update(token.slice(0, second)).digest();
  const signature = Buffer.from(token.slice(second + 1), 'base64url');
  if (signature.length !== mac.length || !timingSafeEqual(signature, mac)) throw new Error('signature');
  return { header, payload };
}

export interface VerifyFigure extends FigureResult {
  /** Per-round rates, for figure 2's ratios (same process, same machine state). */
  readonly limitRates: number[];
  readonly verifyRates: number[];
}

export async function verifyFigure(options: RoundOptions): Promise<VerifyFigure> {
  const token = await signToken();
  const key = createSecretKey(Buffer.from(BENCH_SECRET, 'utf8'));
  const config = loadConfig(BENCH_ENV);
  const uncached = new TokenVerifier({ ...config, cacheSize: 0 });
  const cached = new TokenVerifier({ ...config });
  // Sanity: all three accept the token.
  limitVerify(token, key);
  uncached.verify(token);
  cached.verify(token);

  const rates = await interleaved(
    [
      { name: 'limit', op: () => limitVerify(token, key) },
      { name: 'verify', op: () => uncached.verify(token) },
      { name: 'verifyCached', op: () => cached.verify(token) },
    ],
    options,
  );
  const limit = rates.get('limit') ?? [];
  const verify = rates.get('verify') ?? [];
  const verifyCached = rates.get('verifyCached') ?? [];
  const ratio = spread(ratios(verify, limit));
  const cachedRatio = spread(ratios(verifyCached, limit));
  const text = table(
    ['contender', 'verifications/s median (min–max)', 'ratio to limit'],
    [
      ['limit: node:crypto HMAC + compare + 2x JSON.parse', fmtSpread(spread(limit)), '1.00x'],
      ['TokenVerifier.verify, cacheSize 0 (ours alone)', fmtSpread(spread(verify)), fmtRatio(ratio)],
      ['TokenVerifier.verify, cache on (same token)', fmtSpread(spread(verifyCached)), fmtRatio(cachedRatio)],
    ],
  );
  return {
    title: '1. Verify limit (in-process, one token, interleaved rounds)',
    text,
    targets: [],
    numbers: {
      limitPerSec: spread(limit).median,
      verifyPerSec: spread(verify).median,
      verifyCachedPerSec: spread(verifyCached).median,
      verifyToLimit: ratio.median,
    },
    limitRates: limit,
    verifyRates: verify,
  };
}
