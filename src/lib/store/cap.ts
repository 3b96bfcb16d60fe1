/**
 * The frequency cap's slots in Twilio Sync: at most `limit` non-urgent
 * notifications per user in any window of `windowMs`, exactly, however many
 * requests race.
 *
 * A user has `limit` slot documents (`cap-<hash of the user id>-<k>`). Each
 * holds sends (a notification and its send time) at least a window apart, so
 * that any window meets at most one send per slot: at most `limit` in all. A
 * send counts from its send time: a notification scheduled 70 hours ahead
 * takes nothing from today, and /cancel gives its hold back.
 *
 * /notify asks for a slot in its first stage, beside the lock and the reads,
 * by creating every slot at once: creating a document that exists fails
 * (54301), so two requests racing for the last free slot cannot both get it,
 * and the ask adds no round trip. A request that got several keeps one and
 * gives the others back. One that got none reads the slots (one more round
 * trip, on this path only) and adds its hold to one that has room at its send
 * time, with If-Match; else the notification is suppressed.
 *
 * Every change of a slot that exists is a write over the revision read
 * (If-Match), never a delete: Sync's DELETE takes no If-Match, and a delete
 * sent again (after a lost answer) would remove a slot another request had
 * just taken. Sync's TTL removes a slot some time after its last hold ends.
 */
import { isUniqueNameTaken, type SyncClient } from '../clients/sync';
import { isNotFound } from '../clients/twilio';
import type { FrequencyCap } from '../config';
import { errorText, log } from '../log';
import { fetchDocument, isConflict, userKey } from './documents';

interface Hold {
  /** the notification */
  n: string;
  /** its send time (ISO) */
  at: string;
}

interface SlotData {
  holds: Hold[];
}

/** What a request got: a slot to hold (and the extra ones it is giving back), or none until `freeAt`. */
export type SlotTaken = { slot: number; freeing: Promise<void> } | { slot?: undefined; freeAt?: string };

const slotName = (userId: string, k: number) => `cap-${userKey(userId)}-${k}`;

/** A slot's holds (a slot written before holds had one: `n` until `until`). */
function holdsOf(data: unknown, windowMs: number): Hold[] {
  const d = data as Partial<SlotData> & { n?: string; until?: string };
  if (Array.isArray(d?.holds))
    return d.holds.filter((h) => typeof h?.n === 'string' && !Number.isNaN(Date.parse(h.at)));
  const until = Date.parse(d?.until ?? '');
  return d?.n && !Number.isNaN(until) ? [{ n: d.n, at: new Date(until - windowMs).toISOString() }] : [];
}

/** Holds still counting at `now` (a send whose window has passed counts no more). */
const live = (holds: Hold[], now: number, windowMs: number) => holds.filter((h) => Date.parse(h.at) + windowMs > now);

/** Sync's TTL, in whole seconds: until the last hold's window ends, and a minute more. */
const ttlOf = (holds: Hold[], now: number, windowMs: number) =>
  Math.max(60, Math.ceil((Math.max(...holds.map((h) => Date.parse(h.at))) + windowMs - now) / 1000) + 60);

export class FrequencySlots {
  constructor(private readonly documents: SyncClient) {}

  async take(
    userId: string,
    notificationId: string,
    cap: FrequencyCap,
    now: number,
    sendsAt = now,
  ): Promise<SlotTaken> {
    const hold: Hold = { n: notificationId, at: new Date(Math.max(now, sendsAt)).toISOString() };
    const mine: SlotData = { holds: [hold] };
    const slots = Array.from({ length: cap.limit }, (_, k) => k);
    const created = await Promise.allSettled(
      slots.map((k) => this.documents.createDocument(slotName(userId, k), mine, ttlOf(mine.holds, now, cap.windowMs))),
    );
    const won = slots.filter((k) => created[k].status === 'fulfilled');
    if (won.length > 0) return { slot: won[0], freeing: this.free(userId, notificationId, won.slice(1), cap, now) };
    const failed = created.find(
      (c): c is PromiseRejectedResult => c.status === 'rejected' && !isUniqueNameTaken(c.reason),
    );
    if (failed) throw failed.reason; // Sync failed: the cap cannot be known, so nothing is sent
    return this.takeRoom(userId, hold, cap, slots, now);
  }

  /** Every slot existed when asked: the hold goes into one with room at its send time (If-Match). */
  private async takeRoom(
    userId: string,
    hold: Hold,
    cap: FrequencyCap,
    slots: number[],
    now: number,
  ): Promise<SlotTaken> {
    const at = Date.parse(hold.at);
    const read = await Promise.all(slots.map((k) => fetchDocument(this.documents, slotName(userId, k))));
    // per slot, the live holds within a window of this send: what stands in its way
    const blocking = slots.map((k) =>
      live(holdsOf(read[k]?.data, cap.windowMs), now, cap.windowMs).filter(
        (h) => Math.abs(Date.parse(h.at) - at) < cap.windowMs,
      ),
    );
    for (const k of slots) {
      if (blocking[k].length > 0) continue;
      const found = read[k];
      const holds = [...live(holdsOf(found?.data, cap.windowMs), now, cap.windowMs), hold];
      const ttl = ttlOf(holds, now, cap.windowMs);
      try {
        if (found)
          await this.documents.updateDocument(slotName(userId, k), { holds }, { ifMatch: found.revision, ttl });
        else await this.documents.createDocument(slotName(userId, k), { holds }, ttl);
        return { slot: k, freeing: Promise.resolve() };
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        // a racer wrote it first: the next one
      }
    }
    // when this send would fit: the earliest a slot's blocking holds all end
    const frees = blocking
      .filter((b) => b.length > 0)
      .map((b) => Math.max(...b.map((h) => Date.parse(h.at))) + cap.windowMs);
    return { freeAt: frees.length ? new Date(Math.min(...frees)).toISOString() : undefined };
  }

  /**
   * Gives back the holds of `notificationId` in `slots` (a request's extra slots, or the one of a
   * notification that will not be sent): each a write over the revision read, so a repeat changes
   * nothing. Best effort: a hold not given back counts until its window ends.
   */
  async free(userId: string, notificationId: string, slots: number[], cap: FrequencyCap, now: number): Promise<void> {
    await Promise.all(
      slots.map((k) =>
        this.release(userId, notificationId, k, cap, now).catch((err) =>
          log.warn('frequency cap slot not freed', { error: errorText(err) }),
        ),
      ),
    );
  }

  /** /cancel: the notification's hold, in whichever slot has it, is given back. */
  async cancel(userId: string, notificationId: string, cap: FrequencyCap, now: number): Promise<void> {
    await this.free(
      userId,
      notificationId,
      Array.from({ length: cap.limit }, (_, k) => k),
      cap,
      now,
    );
  }

  private async release(userId: string, n: string, k: number, cap: FrequencyCap, now: number): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const found = await fetchDocument(this.documents, slotName(userId, k));
      const holds = holdsOf(found?.data, cap.windowMs);
      if (!found || !holds.some((h) => h.n === n)) return;
      const kept = live(holds, now, cap.windowMs).filter((h) => h.n !== n);
      try {
        await this.documents.updateDocument(
          slotName(userId, k),
          { holds: kept },
          { ifMatch: found.revision, ttl: kept.length ? ttlOf(kept, now, cap.windowMs) : 60 },
        );
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err)) throw err; // another writer got there first: read again
      }
    }
  }
}
