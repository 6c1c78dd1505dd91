/** JSON answers in API Gateway's payload 2.0 shape; RawJson values are written as their own text. */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { stringifyWithRaw } from '../json-text.ts';

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: stringifyWithRaw(body),
  };
}

export function noContent(): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 204, headers: { 'Cache-Control': 'no-store' } };
}
