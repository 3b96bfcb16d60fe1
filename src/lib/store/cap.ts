/**
 * The frequency cap's slots in Twilio Sync: at most `limit` non-urgent
 * notifications per user in any window of `windowMs`, exactly, however many
 * requests race.
 *
 * A user has `limit` slot documents (`cap-<hash of the user id>-<k>`), each
 * held by one notification until its window has passed. /notify asks for a
 * slot in its first stage, beside the lock and the reads, by creating every
 * slot at once: creating a document that exists fails (54301), so two
 * requests racing for the last free slot cannot both get it, and the ask
 * adds no round trip. A request that got several keeps one and frees the
 * others beside its send. One that got none looks at the slots (one more
 * round trip, on this path only) and takes one whose window has passed, with
 * If-Match (Sync's TTL removes a slot only some time after it expires), or
 * one a racer just freed; else the notification is suppressed.
 *
 * A slot is held from the request until its send time plus the window (a
 * scheduled notification counts from when it goes out; sendAt=best from the
 * end of its window): never less than the cap allows.
 */
import type { SyncClient } from '../clients/sync';
import { isNotFound, twilioErrorCode } from '../clients/twilio';
import type { FrequencyCap } from '../config';
import { errorText, log } from '../log';
import { fetchDocument, isConflict, userKey } from './documents';

interface SlotData {
  /** the notification holding it */
  n: string;
  /** when it frees (ISO) */
  until: string;
}

/** What a request got: a slot to hold (and the extra ones it is freeing), or none until `freeAt`. */
export type SlotTaken = { slot: number; freeing: Promise<void> } | { slot?: undefined; freeAt?: string };

const slotName = (userId: string, k: number) => `cap-${userKey(userId)}-${k}`;

export class FrequencySlots {
  constructor(private readonly documents: SyncClient) {}

  async take(
    userId: string,
    notificationId: string,
    cap: FrequencyCap,
    now: number,
    sendsAt = now,
  ): Promise<SlotTaken> {
    const data: SlotData = { n: notificationId, until: new Date(sendsAt + cap.windowMs).toISOString() };
    // Sync's TTL is whole seconds; the slot's own `until` is what counts
    const ttl = Math.ceil((sendsAt + cap.windowMs - now) / 1000) + 60;
    const slots = Array.from({ length: cap.limit }, (_, k) => k);
    const created = await Promise.allSettled(
      slots.map((k) => this.documents.createDocument(slotName(userId, k), data, ttl)),
    );
    const won = slots.filter((k) => created[k].status === 'fulfilled');
    if (won.length > 0) return { slot: won[0], freeing: this.free(userId, won.slice(1)) };
    const failed = created.find(
      (c): c is PromiseRejectedResult => c.status === 'rejected' && twilioErrorCode(c.reason) !== 54301,
    );
    if (failed) throw failed.reason; // Sync failed: the cap cannot be known, so nothing is sent
    return this.takeExpired(userId, data, ttl, slots, now);
  }

  /** Every slot was held when asked: one whose window has passed, or that a racer freed since, is taken now. */
  private async takeExpired(
    userId: string,
    data: SlotData,
    ttl: number,
    slots: number[],
    now: number,
  ): Promise<SlotTaken> {
    const held = await Promise.all(slots.map((k) => fetchDocument(this.documents, slotName(userId, k))));
    const until = (k: number) => Date.parse((held[k]?.data as SlotData | undefined)?.until ?? '') || 0;
    for (const k of slots) {
      const found = held[k];
      if (found && until(k) > now) continue;
      try {
        if (found) await this.documents.updateDocument(slotName(userId, k), data, { ifMatch: found.revision, ttl });
        else await this.documents.createDocument(slotName(userId, k), data, ttl);
        return { slot: k, freeing: Promise.resolve() };
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        // a racer took it first: the next one
      }
    }
    const frees = slots.map(until).filter((t) => t > now);
    return { freeAt: frees.length ? new Date(Math.min(...frees)).toISOString() : undefined };
  }

  /** Frees slots this request holds but will not use (best effort: an unfreed slot frees with its window). */
  async free(userId: string, slots: number[]): Promise<void> {
    await Promise.all(
      slots.map((k) =>
        this.documents.removeDocument(slotName(userId, k)).catch((err) => {
          if (!isNotFound(err)) log.warn('frequency cap slot not freed', { error: errorText(err) });
        }),
      ),
    );
  }
}
