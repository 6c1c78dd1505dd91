/**
 * The API as bizops sees it: one request at a time, with the operator's token, JSON in and out.
 * A 429 or 503 (and API Gateway's 502/504) is tried again after `Retry-After` (or 1, 2, 4 s
 * without one) a few times, then reported; a 401 with a token command gets one fresh token.
 * Everything else the API answers is final, and an error answer becomes an ApiError carrying the
 * API's `error`, `error_description` and `request_id` (or the `X-Request-Id` header).
 */
import { retryAfterSeconds, sleep, type TokenSource } from '../dev/agent.ts';

/** An error answer of the API, as it gave it. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly error: string | undefined;
  readonly description: string | undefined;
  readonly requestId: string | undefined;
  /** The answer's text, as received. */
  readonly text: string;

  constructor(fields: {
    method: string;
    path: string;
    status: number;
    error: string | undefined;
    description: string | undefined;
    requestId: string | undefined;
    text: string;
  }) {
    const { status, error, description } = fields;
    super(`${status}${error ? ` ${error}` : ''}${description ? `: ${description}` : ''}`);
    this.method = fields.method;
    this.path = fields.path;
    this.status = status;
    this.error = error;
    this.description = description;
    this.requestId = fields.requestId;
    this.text = fields.text;
  }

  /**
   * The service has no such route (an older service than this tool): the local server's and the
   * stack's fallback answer 404 `no such route`, API Gateway without a default route `Not Found`.
   */
  get routeMissing(): boolean {
    if (this.status !== 404) return false;
    return this.description === 'no such route' || /^\{"message":"Not Found"\}$/.test(this.text.trim());
  }
}

/** The service could not be reached at all. */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

export interface Answer {
  readonly status: number;
  /** The parsed JSON, or null for an empty answer (204). */
  readonly body: any;
  /** The answer's text, as received (what --json prints for a single request). */
  readonly text: string;
  readonly requestId: string | undefined;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly headers?: Record<string, string>;
}

export interface ApiOptions {
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  /** Tries per request for a 429/502/503/504 (4: the first and three more). */
  readonly tries?: number;
  /** Called before each wait, to tell the user. */
  readonly onRetry?: (info: { method: string; path: string; status: number; waitMs: number; attempt: number; tries: number }) => void;
  readonly wait?: (ms: number) => Promise<void>;
  /** Per-request timeout (30 s). */
  readonly timeoutMs?: number;
}

const RETRIED = new Set([429, 502, 503, 504]);
/** The longest wait bizops accepts from a Retry-After before giving up on its own. */
const MAX_WAIT_MS = 60_000;

export class Api {
  readonly baseUrl: string;
  readonly #options: ApiOptions;

  constructor(options: ApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#options = options;
  }

  /** Sends one request; resolves with a 2xx answer, throws ApiError for any other. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const tries = this.#options.tries ?? 4;
    const wait = this.#options.wait ?? ((ms: number) => sleep(ms));
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    let renewed = false;
    for (let attempt = 1; ; attempt += 1) {
      const token = await this.#options.tokens.token();
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...options.headers,
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
          signal: AbortSignal.timeout(this.#options.timeoutMs ?? 30_000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new NetworkError(`cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
      }
      const text = await response.text();
      const requestId = response.headers.get('x-request-id') ?? undefined;
      if (response.ok) return { status: response.status, body: text === '' ? null : parseJson(text), text, requestId };
      if (response.status === 401 && !renewed) {
        renewed = true;
        if (await this.#options.tokens.renew()) {
          attempt -= 1;
          continue;
        }
      }
      if (RETRIED.has(response.status) && attempt < tries) {
        const seconds = retryAfterSeconds(response.headers.get('retry-after'), Date.now());
        const waitMs = seconds === undefined ? 1000 * 2 ** (attempt - 1) : seconds * 1000;
        if (waitMs <= MAX_WAIT_MS) {
          this.#options.onRetry?.({ method, path, status: response.status, waitMs, attempt, tries });
          await wait(waitMs);
          continue;
        }
      }
      const body = parseJson(text) as { error?: unknown; error_description?: unknown; request_id?: unknown; message?: unknown } | string;
      const fields = typeof body === 'object' && body !== null ? body : {};
      throw new ApiError({
        method,
        path,
        status: response.status,
        error: typeof fields.error === 'string' ? fields.error : typeof fields.message === 'string' ? fields.message : undefined,
        description: typeof fields.error_description === 'string' ? fields.error_description : undefined,
        requestId: typeof fields.request_id === 'string' ? fields.request_id : requestId,
        text,
      });
    }
  }

  get(path: string, query?: RequestOptions['query']): Promise<Answer> {
    return this.request('GET', path, query === undefined ? {} : { query });
  }

  /**
   * Walks a listing by its `next_cursor`: pages until `limit` items are gathered (all of them
   * with `all`) or the cursor is null. A filtered page may be short or empty and still have a
   * cursor (docs/api.md, Listing pages), so short pages never end the walk by themselves.
   * Answers the first page's other members, every item under `key`, and the cursor to go on from.
   */
  async collect(
    path: string,
    key: string,
    options: { limit: number; all: boolean; cursor?: string; query?: RequestOptions['query'] },
  ): Promise<Record<string, unknown> & { next_cursor: string | null }> {
    const items: unknown[] = [];
    let cursor: string | null = options.cursor ?? null;
    let first: Record<string, unknown> | undefined;
    do {
      const want = options.all ? 100 : Math.min(100, options.limit - items.length);
      const page = (await this.get(path, { ...options.query, limit: want, cursor: cursor ?? undefined })).body as Record<string, unknown>;
      first ??= page;
      items.push(...((page[key] as unknown[] | undefined) ?? []));
      cursor = (page.next_cursor as string | null | undefined) ?? null;
    } while (cursor !== null && (options.all || items.length < options.limit));
    return { ...first, [key]: items, next_cursor: cursor };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A path segment, encoded. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
