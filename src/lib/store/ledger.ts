/**
 * What each large webhook batch has already done, so that a redelivery of
 * it (SendGrid resends the whole batch after any non-2xx or timeout, for 24
 * hours) costs one read instead of redoing every notification. One small
 * Sync document per batch (`batch-<key>`, the key a hash of its event ids):
 * how many chunks it has and which are done (applied, or kept in a parcel).
 */
import type { SyncClient } from '../clients/sync';
import { fetchDocument, writeDocument } from './documents';

/** SendGrid stops resending after 24 h */
const LEDGER_TTL_S = 2 * 24 * 3600;

export interface LedgerEntry {
  chunks: number;
  done: number[];
  revision?: string;
}

const ledgerName = (key: string) => `batch-${key}`;

export class BatchLedger {
  constructor(private readonly sync: SyncClient) {}

  async read(key: string): Promise<LedgerEntry | undefined> {
    const found = await fetchDocument(this.sync, ledgerName(key));
    const d = found?.data as { v?: number; chunks?: unknown; done?: unknown } | undefined;
    if (d?.v !== 1 || typeof d.chunks !== 'number' || !Array.isArray(d.done)) return undefined;
    return {
      chunks: d.chunks,
      done: d.done.filter((i): i is number => Number.isInteger(i)),
      revision: found?.revision,
    };
  }

  /** Records the chunks done (over the revision read, if any: a racing writer makes this throw a conflict). */
  async write(key: string, entry: LedgerEntry): Promise<void> {
    const data = { v: 1, chunks: entry.chunks, done: [...new Set(entry.done)].sort((a, b) => a - b) };
    await writeDocument(this.sync, ledgerName(key), data, entry.revision, { ttl: LEDGER_TTL_S });
  }
}
