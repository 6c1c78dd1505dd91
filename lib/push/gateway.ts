/**
 * Posting to and closing the push connections: the API Gateway Management API in AWS
 * (PostToConnection, DeleteConnection on https://<api>.execute-api.<region>.amazonaws.com/<stage>),
 * the local server's own implementation in dev/push.ts. A connection that is gone (410) is said
 * so, never thrown: the wake function removes it from the registry.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

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
  private readonly client: ApiGatewayManagementApiClient;

  /** `endpoint`: the stage's management endpoint, https://<api>.execute-api.<region>.amazonaws.com/<stage>. */
  constructor(endpoint: string, client?: ApiGatewayManagementApiClient) {
    this.client = client ?? new ApiGatewayManagementApiClient({ endpoint, maxAttempts: 2 });
  }

  async post(connectionId: string, data: string): Promise<PostOutcome> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: new TextEncoder().encode(data) }), {
        abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), {
        abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }
}

function isGone(error: unknown): boolean {
  return error instanceof GoneException || (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 410;
}
