/**
 * Which notifications have work that failed and must still happen. The work
 * itself lives in each notification's record (Segment events it could not
 * deliver, provider cancels with a deadline); the outbox only lists the ids,
 * in OUTBOX_SHARDS small Sync documents chosen by a hash of the id, so that a
 * burst of failures spreads its writes over several objects (Sync allows 20
 * writes/s per object, fewer above 1 KiB).
 */
import { createHash } from 'node:crypto';
import type { Twilio } from 'twilio';
import { twilioErrorCode } from '../clients/twilio';
import type { Config } from '../config';

export const OUTBOX_SHARDS = 8;
const OUTBOX_TTL_S = 40 * 24 * 3600;
const MAX_ATTEMPTS = 5;

interface OutboxData {
  /** notification id → when its work was first kept */
  ids: Record<string, string>;
}

export const shardOf = (notificationId: string) =>
  createHash('sha256').update(notificationId).digest().readUInt32BE(0) % OUTBOX_SHARDS;
const shardName = (shard: number) => `outbox-${shard}`;

export class Outbox {
  private readonly documents;

  constructor(client: Twilio, config: Config) {
    this.documents = client.sync.v1.services(config.syncServiceSid).documents;
  }

  async list(shard: number): Promise<string[]> {
    try {
      return Object.keys(((await this.documents(shardName(shard)).fetch()).data as OutboxData).ids ?? {});
    } catch (err) {
      if ((err as { status?: number }).status === 404) return [];
      throw err;
    }
  }

  async add(notificationId: string): Promise<void> {
    await this.change(shardOf(notificationId), (ids) => {
      if (ids[notificationId]) return false;
      ids[notificationId] = new Date().toISOString();
      return true;
    });
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
    const name = shardName(shard);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let doc: { data: OutboxData; revision: string } | undefined;
      try {
        const fetched = await this.documents(name).fetch();
        doc = { data: fetched.data as OutboxData, revision: fetched.revision };
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
      }
      const ids = { ...(doc?.data.ids ?? {}) };
      if (!mutate(ids)) return;
      try {
        if (doc) await this.documents(name).update({ data: { ids }, ifMatch: doc.revision });
        else await this.documents.create({ uniqueName: name, data: { ids }, ttl: OUTBOX_TTL_S });
        return;
      } catch (err) {
        const code = twilioErrorCode(err);
        if (code !== 54103 && code !== 54301) throw err; // someone else wrote first: read again
      }
    }
    throw new Error(`outbox shard ${shard}: too many concurrent updates`);
  }
}
