/**
 * GET /.well-known/command-keys: the public keys commands are signed with (a JWKS: the signing
 * key first, then any other still valid during a rotation; docs/signing.md). No token: they are
 * public, and an agent may read them before it holds one. Cacheable for COMMAND_KEYS_MAX_AGE
 * seconds by anyone; a rotation publishes the new key a while before it signs.
 */
import middy from '@middy/core';
import { edge } from '../lib/http/chain.ts';
import { unavailable } from '../lib/http/errors.ts';
import { commandSigner } from '../lib/signing/runtime.ts';

/** How long a client or a cache may keep the key set. */
export const COMMAND_KEYS_MAX_AGE = 300;

export async function commandKeys() {
  let body: string;
  try {
    body = JSON.stringify(await commandSigner().keySet());
  } catch (error) {
    throw unavailable('the command keys cannot be read, try again shortly', error);
  }
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': `public, max-age=${COMMAND_KEYS_MAX_AGE}` },
    body,
  };
}

export const handler = middy(commandKeys).use(edge());
