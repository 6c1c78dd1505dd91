/**
 * The OpenAPI document (docs/openapi.yaml) as a checker of real answers: finds the documented
 * response for an operation and status, and validates the answer's headers and body against it
 * with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) and ajv-formats.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import type { Answer } from './lambda.ts';

// ajv-formats is CommonJS: its default export arrives wrapped once more under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export const DOCUMENT_URL = new URL('../../docs/openapi.yaml', import.meta.url);
const ID = 'openapi.json';

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface Operation {
  operationId: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, unknown>;
}

export interface OpenApiDocument {
  openapi: string;
  security?: Record<string, string[]>[];
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: Record<string, Record<string, unknown>>;
}

interface Header {
  required?: boolean;
}

interface ResponseObject {
  description: string;
  headers?: Record<string, Header | { $ref: string }>;
  content?: Record<string, { schema: unknown }>;
}

const pointerPart = (part: string) => part.replaceAll('~', '~0').replaceAll('/', '~1');

export class Contract {
  readonly document: OpenApiDocument;
  private readonly bodies: Ajv2020;
  /** Header values are strings on the wire: this one coerces them to the schema's type. */
  private readonly headers: Ajv2020;

  constructor(document: OpenApiDocument) {
    this.document = document;
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv2020({ strict: true, strictTypes: true, allErrors: true, coerceTypes, allowUnionTypes: true });
      addFormats(ajv);
      // The document itself is the root every `#/components/...` ref resolves against; its
      // top-level members are no JSON Schema keywords, so they are declared as annotations.
      ajv.addVocabulary(Object.keys(document));
      ajv.addSchema(document as object, ID);
      return ajv;
    };
    this.bodies = make(false);
    this.headers = make(true);
  }

  private readonly compiled = new Map<string, ValidateFunction>();

  /** A validator of `{ value }` against the schema at a pointer, coercing the string value. */
  private wrapped(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (validate === undefined) {
      validate = this.headers.compile({ type: 'object', properties: { value: { $ref: `${ID}${pointer}` } } });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }

  static load(): Contract {
    return new Contract(parse(readFileSync(DOCUMENT_URL, 'utf8')) as OpenApiDocument);
  }

  /** Every operation, as [METHOD, path, operation]. */
  operations(): [string, string, Operation][] {
    const found: [string, string, Operation][] = [];
    for (const [path, item] of Object.entries(this.document.paths)) {
      for (const method of METHODS) {
        const operation = item[method];
        if (operation !== undefined) found.push([method.toUpperCase(), path, operation]);
      }
    }
    return found;
  }

  operation(method: string, path: string): Operation {
    const operation = this.document.paths[path]?.[method.toLowerCase() as (typeof METHODS)[number]];
    if (operation === undefined) throw new Error(`the document has no ${method} ${path}`);
    return operation;
  }

  /** Follows `$ref`s inside the document; answers the object and its JSON pointer. */
  private resolve(pointer: string): { value: any; pointer: string } {
    let value: any = this.document;
    for (const part of pointer.slice(2).split('/')) {
      value = value?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
      if (value === undefined) throw new Error(`nothing at ${pointer} in the document`);
    }
    if (typeof value === 'object' && value !== null && typeof value.$ref === 'string') return this.resolve(value.$ref);
    return { value, pointer };
  }

  private responsePointer(method: string, path: string, status: number): string {
    const operation = this.operation(method, path);
    if (operation.responses[String(status)] === undefined) {
      throw new Error(`${method} ${path} answered ${status}, which the document does not list`);
    }
    return `#/paths/${pointerPart(path)}/${method.toLowerCase()}/responses/${status}`;
  }

  /** Problems of an answer against the documented response of that operation and status. */
  answerProblems(method: string, path: string, answer: Answer): string[] {
    return this.responseProblems(this.responsePointer(method, path, answer.status), answer);
  }

  /** Problems of an answer against a response object by pointer (e.g. the fallback's). */
  responseProblems(pointer: string, answer: Answer): string[] {
    const { value, pointer: at } = this.resolve(pointer);
    const response = value as ResponseObject;
    const problems: string[] = [];

    const declared = new Map<string, string>();
    for (const name of Object.keys(response.headers ?? {})) declared.set(name.toLowerCase(), name);
    for (const name of Object.keys(answer.headers)) {
      if (name !== 'content-type' && !declared.has(name)) problems.push(`header ${name} is not documented`);
    }
    for (const [lower, name] of declared) {
      const header = this.resolve(`${at}/headers/${pointerPart(name)}`).value as Header;
      const sent = answer.headers[lower];
      if (sent === undefined) {
        if (header.required) problems.push(`required header ${name} is missing`);
        continue;
      }
      const validate = this.wrapped(`${this.resolve(`${at}/headers/${pointerPart(name)}`).pointer}/schema`);
      if (!validate({ value: sent })) problems.push(`header ${name}: ${JSON.stringify(sent)} ${text(validate.errors)}`);
    }

    const contentType = answer.headers['content-type']?.split(';')[0]?.trim();
    if (response.content === undefined) {
      if (answer.raw !== undefined && answer.raw !== '') problems.push('a body where the document says none');
      return problems;
    }
    if (contentType === undefined || response.content[contentType] === undefined) {
      problems.push(`content type ${String(contentType)} is not one of ${Object.keys(response.content).join(', ')}`);
      return problems;
    }
    const validate = this.bodies.getSchema(`${ID}${at}/content/${pointerPart(contentType)}/schema`);
    if (validate === undefined) throw new Error(`no schema for ${contentType} at ${at}`);
    if (!validate(answer.body)) problems.push(`body ${JSON.stringify(answer.body).slice(0, 200)} ${text(validate.errors)}`);
    return problems;
  }

  /** Whether a JSON request body matches the operation's documented request body. */
  requestBodyProblems(method: string, path: string, body: unknown): string[] {
    const operation = this.operation(method, path);
    if (operation.requestBody?.content['application/json'] === undefined) throw new Error(`${method} ${path} takes no JSON body`);
    const validate = this.bodies.getSchema(
      `${ID}#/paths/${pointerPart(path)}/${method.toLowerCase()}/requestBody/content/application~1json/schema`,
    );
    if (validate === undefined) throw new Error(`no request schema for ${method} ${path}`);
    return validate(body) ? [] : [text(validate.errors)];
  }

  /** Whether a parameter value matches its documented schema. */
  parameterProblems(method: string, path: string, name: string, value: string): string[] {
    const operation = this.operation(method, path);
    const index = (operation.parameters ?? []).findIndex((_, i) => {
      const parameter = this.resolve(`#/paths/${pointerPart(path)}/${method.toLowerCase()}/parameters/${i}`).value as { name: string };
      return parameter.name === name;
    });
    if (index < 0) throw new Error(`${method} ${path} has no parameter ${name}`);
    const { pointer } = this.resolve(`#/paths/${pointerPart(path)}/${method.toLowerCase()}/parameters/${index}`);
    const validate = this.wrapped(`${pointer}/schema`);
    return validate({ value }) ? [] : [text(validate.errors)];
  }
}

function text(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`).join('; ');
}
