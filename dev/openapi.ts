/**
 * GET /openapi.json on the local server: docs/openapi.yaml as JSON, read on every request so
 * that an edit shows at once. Development tooling: the deployed API does not serve it.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const OPENAPI_PATH = '/openapi.json';

const DOCUMENT = new URL('../docs/openapi.yaml', import.meta.url);

export function openApiJson(): string {
  return JSON.stringify(parse(readFileSync(DOCUMENT, 'utf8')));
}
