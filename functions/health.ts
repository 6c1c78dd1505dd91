/** GET /health: liveness, no token, touches nothing. */
import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';

const health = async () => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  body: '{"status":"ok"}',
});

export const handler = middy(health).use(httpErrorHandler({ logger: false }));
