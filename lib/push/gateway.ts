/**
 * Posting to and closing the push connections: the API Gateway Management API in AWS
 * (PostToConnection, DeleteConnection on https://<api>.execute-api.<region>.amazonaws.com/<stage>),
 * the local server's own implementation in dev/push.ts. A connection that is gone (410) is said
 * so, never thrown: the wake function removes it from the registry.
 */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';

/** The SDK module, loaded on first use: a function that only queues wakes never loads it (cold start). */
const sdk = () => import('@aws-sdk/client-apigatewaymanagementapi');

export type PostOutcome = 'sent' | 'gone';

export interface ConnectionGateway {
  /** Sends one text frame; 'gone' when the connection no longer exists. Throws on any other failure. */
  post(connectionId: string, data: string): Promise<PostOutcome>;
  /** Closes the connection (its $disconnect follows); one already gone is fine. */
  close(connectionId: string): Promise<void>;
}

/** How long one Management API call may take: a wake that waits longer is not worth its poll. */
const CALL_TIMEOUT_MS = 3_000;

export class ApiGatewayConnections implements ConnectionGateway {
  private readonly endpoint: string;
  private made: ApiGatewayManagementApiClient | undefined;

  /** `endpoint`: the stage's management endpoint, https://<api>.execute-api.<region>.amazonaws.com/<stage>. */
  constructor(endpoint: string, client?: ApiGatewayManagementApiClient) {
    this.endpoint = endpoint;
    this.made = client;
  }

  private async client(): Promise<ApiGatewayManagementApiClient> {
    if (this.made === undefined) {
      const { ApiGatewayManagementApiClient: Client } = await sdk();
      this.made ??= new Client({ endpoint: this.endpoint, maxAttempts: 2 });
    }
    return this.made;
  }

  async post(connectionId: string, data: string): Promise<PostOutcome> {
    const { PostToConnectionCommand } = await sdk();
    const client = await this.client();
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: new TextEncoder().encode(data) }), {
        abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }

  async close(connectionId: string): Promise<void> {
    const { DeleteConnectionCommand } = await sdk();
    const client = await this.client();
    try {
      await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), {
        abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }
}

/** GoneException (by name: the class lives in the lazily loaded module), or any 410. */
function isGone(error: unknown): boolean {
  const failure = error as { name?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  return failure?.name === 'GoneException' || failure?.$metadata?.httpStatusCode === 410;
}
