/** Calling an exported handler the way API Gateway does, with the shared event and context builders (dev/). */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type EventInput, httpEvent } from '../../dev/events.ts';
import { lambdaContext } from '../../dev/lambda-context.ts';

export { type EventInput, httpEvent, lambdaContext };

export type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: any;
  raw: string | undefined;
}

/** Calls an exported handler and decodes its answer. */
export async function invoke(handler: Handler, input: EventInput): Promise<Answer> {
  const result = (await handler(httpEvent(input), lambdaContext('test-function'))) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  const raw = result.body;
  let body: unknown = raw;
  if (raw !== undefined && /^application\/([\w.-]+\+)?json\b/.test(headers['content-type'] ?? '')) body = JSON.parse(raw);
  return { status: result.statusCode ?? 200, headers, body, raw };
}
