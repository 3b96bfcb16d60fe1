/**
 * Segment HTTP Tracking API: events go out in /v1/batch requests, as few as
 * the 500 KB batch limit allows, each bounded by a timeout and one retry.
 */
import type { Config } from '../config';
import { mayRepeat, Upstream } from '../upstream';
import type { SegmentMessage } from '../segment-messages';

export const SEGMENT_TIMEOUT_MS = 2500;
const MAX_BATCH_BYTES = 480 * 1024; // under Segment's 500 KB, leaving room for the envelope
const MAX_EVENT_BYTES = 32 * 1024;

export class TrackingError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TrackingError';
  }
}

/** Long texts in an event are cut to this many characters when the event would pass Segment's 32 KB. */
const CUT_TEXT = 1024;

/**
 * The message as JSON within Segment's 32 KB per event: one oversized event (a provider's very long
 * URL or reason) must not fail its whole batch for good, so its long texts are cut, and if that is
 * not enough its properties are reduced to what identifies it.
 */
function fittedJson(m: SegmentMessage): string {
  const json = JSON.stringify(m);
  if (Buffer.byteLength(json) < MAX_EVENT_BYTES) return json;
  const cut = (o?: Record<string, unknown>) =>
    o &&
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [
        k,
        typeof v === 'string' && v.length > CUT_TEXT ? `${v.slice(0, CUT_TEXT)}…` : v,
      ]),
    );
  const shorter = JSON.stringify({
    ...m,
    properties: cut(m.properties),
    traits: cut(m.traits),
    context: cut(m.context),
  });
  if (Buffer.byteLength(shorter) < MAX_EVENT_BYTES) return shorter;
  const { notification_id, channel } = (m.properties ?? {}) as Record<string, unknown>;
  return JSON.stringify({
    ...m,
    properties: { notification_id, channel, truncated: true },
    traits: undefined,
    context: undefined,
  });
}

/** Messages as JSON, split into batches under the size limit (each message stringified once). */
export function toBatches(messages: SegmentMessage[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const m of messages) {
    const json = fittedJson(m);
    const bytes = Buffer.byteLength(json) + 1;
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
    // the budget retries a 429 (with backoff) and a 5xx once (Segment deduplicates), within the deadline
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
      mayRepeat('POST', { deduplicated: true }), // Segment drops a repeated messageId
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
