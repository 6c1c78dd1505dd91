/**
 * Everything a handler's chain is built from, in one import: the chain's start (chain.ts), the
 * token middleware (auth.ts), the body parsers, the metrics and the answers.
 */
export type { AuthContext } from './auth.ts';
export { authenticate } from './auth.ts';
export { jsonBody, rawBody } from './body.ts';
export { chainOptions, edge } from './chain.ts';
export { count, METRIC } from './observe.ts';
export { json, noContent } from './response.ts';
