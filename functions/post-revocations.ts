/** POST /api/revocations (operators): revoke one token (by jti and exp, or given whole), or every token of a subject so far. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { revocationWindow } from '../lib/auth/revocation-window.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, jsonBody, METRIC, noContent } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { wake } from '../lib/push/wake.ts';
import { revocationInput } from '../lib/http/validation.ts';

export async function postRevocations(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores, runtime } = context;
  const window = revocationWindow(runtime.clock.now(), runtime.config.clockToleranceSeconds);
  const input = revocationInput(event.body, window.nowSeconds);
  if ('sub' in input) {
    await stores.revocations.revokeSubject(input.sub, window.subjectCutoff);
    count(context, METRIC.revocations);
    await wake(context, { kind: 'revoke', sub: input.sub, cutoff: window.subjectCutoff });
    return noContent();
  }
  const { jti, exp } = 'token' in input ? window.tokenToRevoke(runtime.verifier, input.token) : input;
  await stores.revocations.revokeToken(jti, window.keepUntil(exp));
  count(context, METRIC.revocations);
  await wake(context, { kind: 'revoke', jti });
  return noContent();
}

export const handler = middy(postRevocations, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.PostRevocations))
  .use(jsonBody(ROUTES.PostRevocations));
