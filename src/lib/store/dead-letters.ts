/**
 * Parcels recovery gave up on (store/parcels.ts: MAX_PARCEL_TRIES failed attempts), listed in one
 * small Sync document for /insights, the dashboard and doctor to show, and for an operator to retry
 * or drop (POST /recover with deadLetters=retry|drop; `npm run dead-letters`). The parcel itself
 * stays in its own document until then.
 */
import { currentDate } from '../clock';
import type { SyncClient } from '../clients/sync';
import { fetchDocument, readModifyWrite } from './documents';

export const DEAD_LETTERS_DOCUMENT = 'dead-letters';
/** what one document holds comfortably under 16 KiB (an entry is ~150 bytes) */
export const MAX_DEAD_LETTERS = 80;
/** how long a dead letter and its parcel are kept for someone to look at */
export const DEAD_LETTER_TTL_S = 40 * 24 * 3600;

export interface DeadLetter {
  /** the parcel's document name */
  parcel: string;
  kind: string;
  /** notifications (a `work` parcel) or items it holds */
  items: number;
  tries: number;
  /** the last attempt's error, as a log line gives it */
  error: string;
  at: string;
}

interface DeadLettersData {
  entries: DeadLetter[];
}

export class DeadLetters {
  constructor(private readonly sync: SyncClient) {}

  async list(): Promise<DeadLetter[]> {
    const found = await fetchDocument(this.sync, DEAD_LETTERS_DOCUMENT);
    return (found?.data as DeadLettersData | undefined)?.entries ?? [];
  }

  /** Adds a dead letter; answers whether the list was full (the oldest was let go: its parcel stays until its TTL). */
  async add(letter: Omit<DeadLetter, 'at'>): Promise<DeadLetter | undefined> {
    return this.change((entries) => {
      const rest = entries.filter((e) => e.parcel !== letter.parcel);
      const next = [...rest, { ...letter, at: currentDate().toISOString() }];
      const evicted = next.length > MAX_DEAD_LETTERS ? next.shift() : undefined;
      return { entries: next, result: evicted };
    });
  }

  async remove(parcels: string[]): Promise<void> {
    await this.change((entries) => ({
      entries: entries.filter((e) => !parcels.includes(e.parcel)),
      result: undefined,
    }));
  }

  private change<R>(mutate: (entries: DeadLetter[]) => { entries: DeadLetter[]; result: R }): Promise<R> {
    return readModifyWrite(
      this.sync,
      DEAD_LETTERS_DOCUMENT,
      (data) => {
        const before = (data as DeadLettersData | undefined)?.entries ?? [];
        const { entries, result } = mutate(before);
        const same = JSON.stringify(entries) === JSON.stringify(before);
        return { write: same ? undefined : { entries }, result };
      },
      { ttl: DEAD_LETTER_TTL_S, keepAlive: true },
    );
  }
}
