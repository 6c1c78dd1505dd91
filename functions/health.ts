/** GET /health: liveness, no token, touches nothing (GET /ready checks the store). */
import middy from '@middy/core';
import { edge } from '../lib/http/chain.ts';

const health = async () => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  body: '{"status":"ok"}',
});

export const handler = middy(health).use(edge());
