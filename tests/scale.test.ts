/**
 * The pure parts of working at scale: the invocation's upstream budget (concurrency, backoff,
 * deadline), parcels (compressed, split to fit a Sync document), a batch's chunks and identity
 * (how a deadline stops the work is shown end to end by scale.e2e).
 */
import type { ProviderEvent } from '../src/lib/channels/provider';
import { Deadline } from '../src/lib/deadline';
import { decodeParcel, encodeParcel, MAX_DOCUMENT_BYTES, type Parcel } from '../src/lib/store/parcels';
import { mayRepeat, Upstream } from '../src/lib/upstream';
import { batchKeyOf, chunksOf } from '../src/lib/app/webhooks/batches';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const answer = (status: number, retryAfter?: string) => ({ status, retryAfter });
const read = ({ value }: { value?: { status: number; retryAfter?: string } }) => value ?? {};

describe('which requests may be sent twice (one rule for every client)', () => {
  test.each([
    ['a read', 'GET', {}, true],
    ['a delete', 'DELETE', {}, true],
    ['a write over a revision (If-Match)', 'POST', { ifMatch: true }, true],
    ["Segment's batch (deduplicated on messageId)", 'POST', { deduplicated: true }, true],
    ["an update to given values (a message's Status=canceled)", 'POST', { update: true }, true],
    ['a create (a lock, a slot, a record, a parcel)', 'POST', {}, false],
    ["an append (the prior's list)", 'POST', {}, false],
    ['a send (an SMS, a call, an email)', 'post', {}, false],
  ])('%s: %s', (_what, method, how, expected) => {
    expect(mayRepeat(method, how)).toBe(expected);
  });
});

describe('the upstream budget', () => {
  test('never more requests in flight than its concurrency, however many are asked for', async () => {
    const upstream = new Upstream(new Deadline(), 5);
    let inFlight = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 40 }, () =>
        upstream.call(
          'sync',
          async () => {
            most = Math.max(most, ++inFlight);
            await sleep(5);
            inFlight--;
            return answer(200);
          },
          read,
          1000,
          true,
        ),
      ),
    );
    expect(most).toBe(5);
    expect(upstream.stats).toMatchObject({ requests: 40, peak: 5, throttled: 0 });
  });

  /** a client that counts its calls and answers `status` */
  const counting = (status: number, retryAfter?: string) => {
    const c = {
      calls: 0,
      send: async () => {
        c.calls++;
        return answer(status, retryAfter);
      },
    };
    return c;
  };

  test('a 429 (20429, 54009) is retried with growing waits until it passes', async () => {
    const upstream = new Upstream(new Deadline(), 5);
    const at: number[] = [];
    const result = await upstream.call(
      'twilio',
      async () => {
        at.push(Date.now());
        return answer(at.length < 4 ? 429 : 200);
      },
      read,
      1000,
      false, // a 429 is a refusal before anything was done: retried even for a create
    );
    expect(result.status).toBe(200);
    expect(upstream.stats).toMatchObject({ requests: 4, throttled: 3, retries: 3 });
    const waits = at.slice(1).map((t, i) => t - at[i]);
    expect(waits[0]).toBeGreaterThanOrEqual(45); // 50–100 ms, then 100–200, then 200–400
    expect(waits[2]).toBeGreaterThanOrEqual(190);
  });

  test('it gives up when the deadline leaves no room, and never waits a Retry-After longer than 2 s', async () => {
    const short = new Upstream(new Deadline(600), 5); // 600 ms budget: less than a wait and a call
    const throttled = counting(429);
    const r = await short.call('sync', throttled.send, read, 1000, true);
    expect([r.status, throttled.calls]).toEqual([429, 1]);
    const long = new Upstream(new Deadline(), 5);
    const later = counting(429, '5');
    const started = Date.now();
    expect((await long.call('twilio', later.send, read, 1000, true)).status).toBe(429);
    expect(later.calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(100);
  });

  test('a 5xx is retried once, only for a request that may be repeated; an error thrown by the client is rethrown', async () => {
    const upstream = new Upstream(new Deadline(), 5);
    const down = counting(503);
    expect((await upstream.call('segment', down.send, read, 1000, true)).status).toBe(503);
    expect(down.calls).toBe(2);
    // a create, an append, a send: a 5xx does not say whether it went through, so it is not sent again
    const create = counting(503);
    expect((await upstream.call('sync', create.send, read, 1000, false)).status).toBe(503);
    expect(create.calls).toBe(1);
    const failing = new Upstream(new Deadline(), 5);
    await expect(
      failing.call(
        'sendgrid',
        async () => {
          throw Object.assign(new Error('bad request'), { code: 400, response: {} });
        },
        () => ({ status: 400 }),
        1000,
        true,
      ),
    ).rejects.toThrow('bad request');
  });
});

describe('parcels', () => {
  const event = (i: number): ProviderEvent => ({
    kind: 'opened',
    channel: 'EMAIL',
    notificationId: `campaign-1203.patient-${i}`,
    who: { userId: `patient-${i}` },
    providerId: `msg${i}`,
    eventId: `sendgrid:${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
    at: new Date(1764000000000 + i * 1000),
    details: { sendgrid_event: 'open', machine_open: false },
  });

  /** The parcel through Sync-sized documents (more than one, each fitting) and back, as one parcel again. */
  const throughDocuments = (parcel: Parcel): Parcel[] => {
    const docs = encodeParcel(parcel);
    expect(docs.length).toBeGreaterThan(1);
    for (const d of docs) expect(Buffer.byteLength(JSON.stringify(d))).toBeLessThanOrEqual(MAX_DOCUMENT_BYTES + 100);
    return docs.map((d) => decodeParcel(d) as Parcel);
  };

  test('a parcel too big for one Sync document is split until every part fits, and reads back whole', () => {
    const events = Array.from({ length: 1500 }, (_, i) => event(i));
    const back = throughDocuments({ kind: 'work', events }).flatMap((p) => (p.kind === 'work' ? p.events : []));
    expect(back).toEqual(events); // dates revived
    expect(decodeParcel({ v: 2, kind: 'work', z: '' })).toBeUndefined();
  });

  test("a large batch's observations for the learner (an evidence parcel) are split and read back whole", () => {
    const learning = Array.from({ length: 1500 }, (_, i) => ({
      userId: `patient-${i}`,
      observations: [
        {
          notificationId: `campaign-1203.patient-${i}`,
          channel: 'EMAIL' as const,
          kind: 'engaged' as const,
          band: 'evening' as const,
          group: 'learned' as const,
          day: '2026-11-30',
        },
      ],
      ids: [`sendgrid:${Math.random().toString(36).slice(2)}`],
    }));
    const back = throughDocuments({ kind: 'evidence', learning }).flatMap((p) =>
      p.kind === 'evidence' ? p.learning : [],
    );
    expect(back).toEqual(learning);
  });
});

describe("a batch's chunks and identity", () => {
  const ev = (n: string, id: string): ProviderEvent => ({
    kind: 'opened',
    channel: 'EMAIL',
    notificationId: n,
    who: { userId: `u-${n}` },
    eventId: id,
  });

  test('whole notifications per chunk, in a stable order; the same events in any order are the same batch', () => {
    const events = Array.from({ length: 250 }, (_, i) => [ev(`n${i}`, `a${i}`), ev(`n${i}`, `b${i}`)]).flat();
    const chunks = chunksOf(events, 100);
    expect(chunks.map((c) => c.length)).toEqual([200, 200, 100]);
    for (const c of chunks) expect(new Set(c.map((e) => e.notificationId)).size).toBe(c.length / 2);
    const shuffled = [...events].reverse();
    expect(chunksOf(shuffled, 100).map((c) => c.map((e) => e.notificationId).sort())).toEqual(
      chunks.map((c) => c.map((e) => e.notificationId).sort()),
    );
    expect(batchKeyOf(shuffled)).toBe(batchKeyOf(events));
    expect(batchKeyOf(events.slice(1))).not.toBe(batchKeyOf(events));
  });
});
