/**
 * SendGrid Event Webhook. The whole batch is handled: every event of ours
 * becomes Segment events (Apple Mail machine opens never count as
 * engagement); what is not ours or not understood is skipped and counted.
 */
import { sendgridBatchOf, sendgridEvents } from '../../channels/email';
import { wire } from '../deps';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { handleBatch } from './batches';

export async function emailEvents(req: EndpointRequest): Promise<Reply> {
  const batch = sendgridBatchOf(req.params);
  const { events, skipped } = sendgridEvents(batch, req.config.authToken);
  const { tracked, mismatched, chunks, duplicate } = await handleBatch(wire(req), events);
  const json = {
    received: batch.length,
    tracked,
    skipped: { ...skipped, mismatched },
    ...(chunks ? { chunks } : {}),
    duplicate,
  };
  return { status: 200, json };
}
