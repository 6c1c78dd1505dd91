/** Where the wake tasks go: an SQS queue in AWS (the wake function consumes it), an in-process queue locally (dev/push.ts). */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { taskText, type WakeTask } from './tasks.ts';

/** The SDK module, loaded on the first wake, not at cold start. */
const sdk = () => import('@aws-sdk/client-sqs');

export interface WakeQueue {
  /** Queues one task, to run after `delaySeconds` (0 to 900). */
  send(task: WakeTask, delaySeconds?: number): Promise<void>;
}

/** SQS's longest delay: a rollout's next minute fits well within it. */
export const MAX_DELAY_SECONDS = 900;

export class SqsWakeQueue implements WakeQueue {
  private readonly url: string;
  private client: SQSClient | undefined;

  constructor(url: string, client?: SQSClient) {
    this.url = url;
    this.client = client;
  }

  async send(task: WakeTask, delaySeconds = 0): Promise<void> {
    const { SendMessageCommand, SQSClient: Client } = await sdk();
    this.client ??= new Client({ maxAttempts: 2 });
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.url,
        MessageBody: taskText(task),
        DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(delaySeconds))),
      }),
      { abortSignal: AbortSignal.timeout(2_000) },
    );
  }
}
