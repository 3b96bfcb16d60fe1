/**
 * Work a large webhook batch could not finish in its invocation, kept in
 * Twilio Sync until recovery completes it: the provider events of chunks not
 * yet applied (`work`), or the Segment messages of chunks applied while
 * Segment was down (`track`); the learner's observations of chunks applied,
 * which recovery counts in the users' evidence (`evidence`); and population
 * sums (with the /insights counts) that Sync refused to append (`prior`).
 * Compressed (deflate, base64) and split so that every document stays under
 * MAX_DOCUMENT_BYTES (Sync's limit is 16 KiB);
 * each is written once and listed in the outbox as `parcel:<name>`, so a
 * 1,500-user batch keeps a few dozen small writes instead of a write per
 * notification (and per outbox shard) that Sync would throttle.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { ProviderEvent } from '../channels/provider';
import type { SegmentMessage } from '../segment-messages';
import { isUniqueNameTaken, type SyncClient } from '../clients/sync';
import { currentTime } from '../clock';
import { isNotFound } from '../clients/twilio';
import { log } from '../log';
import { DEAD_LETTER_TTL_S, DeadLetters } from './dead-letters';
import { fetchDocument, readModifyWrite } from './documents';
import type { Learning } from './evidence';
import type { Outbox } from './outbox';
import type { PriorDelta } from './prior';

export type Parcel =
  | { kind: 'work'; events: ProviderEvent[] }
  | { kind: 'track'; messages: SegmentMessage[] }
  | { kind: 'prior'; deltas: PriorDelta[] }
  | { kind: 'evidence'; learning: Learning[] };

const KINDS: ReadonlyArray<Parcel['kind']> = ['work', 'track', 'prior', 'evidence'];

/** under Sync's 16 KiB per document, with room for the envelope */
export const MAX_DOCUMENT_BYTES = 14 * 1024;
const PARCEL_TTL_S = 14 * 24 * 3600;
export const PARCEL_ENTRY = 'parcel:';

interface ParcelDoc {
  v: 1;
  kind: Parcel['kind'];
  /** the items, as JSON, deflated, base64 */
  z: string;
  /** failed attempts so far, and when the next may be made (after each failure, twice as long) */
  tries?: number;
  retryAt?: string;
}

/**
 * Attempts before a parcel is a dead letter (store/dead-letters.ts): 1, 2, 4 … 64 minutes apart, about
 * two hours in all. A parcel that cannot be applied (a poison: a record that can never be written)
 * would otherwise be retried, and its Segment events sent again, until its TTL.
 */
export const MAX_PARCEL_TRIES = 8;
const FIRST_RETRY_MS = 60_000;

/** A parcel's stored state besides its items. */
export interface ParcelEntry {
  parcel: Parcel;
  tries: number;
  /** the next attempt may be made from then on */
  retryAt?: number;
}

function itemsOf(p: Parcel): unknown[] {
  if (p.kind === 'work') return p.events;
  if (p.kind === 'track') return p.messages;
  if (p.kind === 'prior') return p.deltas;
  return p.learning;
}

/** The parcel of `kind` holding `items` (events of `work` have their dates revived). */
function withItems(kind: Parcel['kind'], items: unknown[]): Parcel {
  if (kind === 'track') return { kind, messages: items as SegmentMessage[] };
  if (kind === 'prior') return { kind, deltas: items as PriorDelta[] };
  if (kind === 'evidence') return { kind, learning: items as Learning[] };
  const events = (items as Array<ProviderEvent & { at?: string | Date }>).map((e) => ({
    ...e,
    at: e.at ? new Date(e.at) : undefined,
  }));
  return { kind, events };
}

/** The document(s) a parcel takes: halves until each fits. */
export function encodeParcel(parcel: Parcel): ParcelDoc[] {
  const items = itemsOf(parcel);
  const doc: ParcelDoc = { v: 1, kind: parcel.kind, z: deflateRawSync(JSON.stringify(items)).toString('base64') };
  if (doc.z.length + 64 <= MAX_DOCUMENT_BYTES) return [doc];
  if (items.length < 2) throw new Error('one item does not fit in a Sync document');
  const half = Math.ceil(items.length / 2);
  return [
    ...encodeParcel(withItems(parcel.kind, items.slice(0, half))),
    ...encodeParcel(withItems(parcel.kind, items.slice(half))),
  ];
}

/** A stored document as the parcel it holds (dates of events revived); undefined when it is not one. */
export function decodeParcel(data: unknown): Parcel | undefined {
  const d = data as Partial<ParcelDoc> | undefined;
  if (d?.v !== 1 || typeof d.z !== 'string' || !KINDS.includes(d.kind as Parcel['kind'])) return undefined;
  const items = JSON.parse(inflateRawSync(Buffer.from(d.z, 'base64')).toString('utf8')) as unknown[];
  return withItems(d.kind as Parcel['kind'], items);
}

export class ParcelStore {
  readonly deadLetters: DeadLetters;

  constructor(
    private readonly sync: SyncClient,
    private readonly outbox: Outbox,
  ) {
    this.deadLetters = new DeadLetters(sync);
  }

  /**
   * Keeps a parcel under `key` (the same key for the same work: a second keep of it finds the
   * documents there) and lists its documents in the outbox; answers their names.
   */
  async keep(key: string, parcel: Parcel): Promise<string[]> {
    return this.keepAll([[key, parcel]]);
  }

  /** Keeps each parcel as `keep` does, and lists them all in the outbox at once (one write per shard). */
  async keepAll(parcels: Array<[key: string, parcel: Parcel]>): Promise<string[]> {
    const docs = parcels.flatMap(([key, parcel]) =>
      encodeParcel(parcel).map((doc, i) => ({ name: `parcel-${key}-${parcel.kind[0]}${i}`, doc })),
    );
    await Promise.all(
      docs.map(({ name, doc }) =>
        this.sync.createDocument(name, doc, PARCEL_TTL_S).catch((err) => {
          if (!isUniqueNameTaken(err)) throw err; // kept already
        }),
      ),
    );
    const names = docs.map((d) => d.name);
    await this.outbox.addAll(names.map((n) => `${PARCEL_ENTRY}${n}`));
    return names;
  }

  async read(name: string): Promise<Parcel | undefined> {
    return (await this.readEntry(name))?.parcel;
  }

  async readEntry(name: string): Promise<ParcelEntry | undefined> {
    const found = await fetchDocument(this.sync, name);
    const parcel = decodeParcel(found?.data);
    if (!parcel) return undefined;
    const d = found?.data as ParcelDoc;
    return { parcel, tries: d.tries ?? 0, retryAt: d.retryAt ? Date.parse(d.retryAt) : undefined };
  }

  /**
   * Counts a failed attempt; after MAX_PARCEL_TRIES the parcel is a dead letter (listed for an
   * operator, kept DEAD_LETTER_TTL_S): answers whether it now is one.
   */
  async failed(name: string, error: string): Promise<boolean> {
    // a parcel that failed outlives its usual 14 days (the dead letter's, at most), so that someone can still retry it
    const kept = await readModifyWrite(
      this.sync,
      name,
      (data) => {
        const d = data as ParcelDoc | undefined;
        const parcel = decodeParcel(d);
        if (!d || !parcel) return { result: undefined };
        const tries = (d.tries ?? 0) + 1;
        const retryAt = new Date(currentTime() + FIRST_RETRY_MS * 2 ** (tries - 1)).toISOString();
        return { write: { ...d, tries, retryAt }, result: { parcel, tries } };
      },
      { ttl: DEAD_LETTER_TTL_S, keepAlive: true },
    );
    if (!kept || kept.tries < MAX_PARCEL_TRIES) return false;
    const evicted = await this.deadLetters.add({
      parcel: name,
      kind: kept.parcel.kind,
      items: itemsOf(kept.parcel).length,
      tries: kept.tries,
      error,
    });
    if (evicted) log.error('dead letter list full: the oldest let go', { parcel: evicted.parcel, kind: evicted.kind });
    return true;
  }

  /** Keeps what is left of a parcel in its place (a part of what it held: one document), its tries kept. */
  async replace(name: string, parcel: Parcel): Promise<void> {
    const [doc] = encodeParcel(parcel);
    await readModifyWrite(this.sync, name, (data) => {
      const d = data as ParcelDoc | undefined;
      return d ? { write: { ...d, z: doc.z }, result: undefined } : { result: undefined };
    });
  }

  /** Puts a dead letter's parcel back to be retried (listed again, its tries forgotten). */
  async revive(name: string): Promise<boolean> {
    const alive = await readModifyWrite(this.sync, name, (data) => {
      const d = data as ParcelDoc | undefined;
      if (!d || !decodeParcel(d)) return { result: false };
      const { tries: _tries, retryAt: _retryAt, ...rest } = d;
      return { write: rest, result: true };
    });
    if (alive) await this.outbox.addAll([`${PARCEL_ENTRY}${name}`]);
    await this.deadLetters.remove([name]);
    return alive;
  }

  /** Drops a dead letter and its parcel for good. */
  async drop(name: string): Promise<void> {
    await this.remove(name);
    await this.deadLetters.remove([name]);
  }

  async remove(name: string): Promise<void> {
    await this.sync.removeDocument(name).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }
}
