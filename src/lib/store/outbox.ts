/**
 * Which notifications have work that failed and must still happen. The work
 * itself lives in each notification's record (Segment events it could not
 * deliver, provider cancels with a deadline); the outbox only lists the ids,
 * in OUTBOX_SHARDS small Sync documents chosen by a hash of the id, so that a
 * burst of failures spreads its writes over several objects (Sync allows 20
 * writes/s per object, fewer above 1 KiB).
 */
import { currentDate } from '../clock';
import { createHash } from 'node:crypto';
import type { SyncClient } from '../clients/sync';
import { fetchDocument, readModifyWrite } from './documents';

export const OUTBOX_SHARDS = 8;
const OUTBOX_TTL_S = 40 * 24 * 3600;

interface OutboxData {
  /** notification id → when its work was first kept */
  ids: Record<string, string>;
}

export const shardOf = (notificationId: string) =>
  createHash('sha256').update(notificationId).digest().readUInt32BE(0) % OUTBOX_SHARDS;
const shardName = (shard: number) => `outbox-${shard}`;

export class Outbox {
  constructor(private readonly documents: SyncClient) {}

  async list(shard: number): Promise<string[]> {
    const found = await fetchDocument(this.documents, shardName(shard));
    return Object.keys((found?.data as OutboxData | undefined)?.ids ?? {});
  }

  async add(notificationId: string): Promise<void> {
    await this.addAll([notificationId]);
  }

  /** Lists many at once: one read-modify-write per shard they fall in, however many they are. */
  async addAll(entries: string[]): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const e of entries) byShard.set(shardOf(e), [...(byShard.get(shardOf(e)) ?? []), e]);
    const at = currentDate().toISOString();
    await Promise.all(
      [...byShard].map(([shard, fresh]) =>
        this.change(shard, (ids) => {
          const added = fresh.filter((e) => !ids[e]);
          for (const e of added) ids[e] = at;
          return added.length > 0;
        }),
      ),
    );
  }

  async remove(shard: number, notificationIds: string[]): Promise<void> {
    if (notificationIds.length === 0) return;
    await this.change(shard, (ids) => {
      const present = notificationIds.filter((id) => ids[id]);
      for (const id of present) delete ids[id];
      return present.length > 0;
    });
  }

  /** Read-modify-write with If-Match; the shard's document is created on first use. */
  private async change(shard: number, mutate: (ids: Record<string, string>) => boolean): Promise<void> {
    await readModifyWrite(
      this.documents,
      shardName(shard),
      (data) => {
        const ids = { ...((data as OutboxData | undefined)?.ids ?? {}) };
        return { write: mutate(ids) ? { ids } : undefined, result: undefined };
      },
      { ttl: OUTBOX_TTL_S },
    );
  }
}
