/**
 * Segment HTTP Tracking API: events go out in /v1/batch requests, as few as
 * the 500 KB batch limit allows, each bounded by a timeout and one retry.
 */
import type { Config } from '../config';
import { Upstream } from '../upstream';

export const SEGMENT_TIMEOUT_MS = 2500;
const MAX_BATCH_BYTES = 480 * 1024; // under Segment's 500 KB, leaving room for the envelope
const MAX_EVENT_BYTES = 32 * 1024;

export interface SegmentMessage {
  type: 'track' | 'identify';
  messageId: string;
  userId?: string;
  anonymousId?: string;
  event?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
  timestamp?: string;
}

export class TrackingError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TrackingError';
  }
}

/** Messages as JSON, split into batches under the size limit (each message stringified once). */
export function toBatches(messages: SegmentMessage[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const m of messages) {
    const json = JSON.stringify(m);
    const bytes = Buffer.byteLength(json) + 1;
    if (bytes > MAX_EVENT_BYTES) throw new TrackingError(`Segment event ${m.event ?? m.type} exceeds 32 KB`);
    if (current.length > 0 && size + bytes > MAX_BATCH_BYTES) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(json);
    size += bytes;
  }
  if (current.length) batches.push(current);
  return batches;
}

const CONTEXT = JSON.stringify({ library: { name: 'channel-optimized-notifications', version: '1' } });

async function postBatch(config: Config, batch: string[], upstream: Upstream): Promise<void> {
  const body = `{"batch":[${batch.join(',')}],"context":${CONTEXT}}`;
  const auth = `Basic ${Buffer.from(`${config.segmentWriteKey}:`).toString('base64')}`;
  let res: { status: number } | undefined;
  try {
    // the budget retries a 429 (with backoff) and a 5xx once, within the deadline
    res = await upstream.call(
      'segment',
      async (timeoutMs) => {
        const r = await fetch(`${config.segmentApiBaseUrl}/v1/batch`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: auth },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await r.arrayBuffer();
        return { status: r.status, retryAfter: r.headers.get('retry-after') };
      },
      ({ value }) => value ?? {},
      SEGMENT_TIMEOUT_MS,
    );
  } catch (err) {
    throw new TrackingError(`Segment unreachable: ${(err as Error).message}`);
  }
  if (res.status < 200 || res.status >= 300) throw new TrackingError(`Segment answered ${res.status}`, res.status);
}

/** Sends every message; rejects with TrackingError when any batch could not be delivered. */
export async function track(config: Config, messages: SegmentMessage[], upstream = new Upstream()): Promise<void> {
  if (messages.length === 0) return;
  await Promise.all(toBatches(messages).map((b) => postBatch(config, b, upstream)));
}
