/**
 * Round-trip times of the store's HTTP calls (Upstash), gathered by the client's middleware
 * (lib/store/upstash.ts) and drained once per request into its metrics (lib/http/observe.ts). A
 * Lambda instance serves one request at a time, so what is drained is that request's calls.
 */
const MAX_KEPT = 100;
let latencies: number[] = [];

export function recordStoreLatency(ms: number): void {
  if (latencies.length < MAX_KEPT) latencies.push(Math.round(ms * 100) / 100);
}

/** The latencies recorded since the last call, in milliseconds. */
export function takeStoreLatencies(): number[] {
  if (latencies.length === 0) return latencies;
  const taken = latencies;
  latencies = [];
  return taken;
}
