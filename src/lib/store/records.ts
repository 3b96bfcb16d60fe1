/**
 * Notification and contact records in Twilio Sync. The notification record,
 * created with the notification id as its unique name, is also the lock that
 * makes /notify send once per id; updates use revisions (If-Match).
 */
import { createHash, createHmac } from 'node:crypto';
import type { Channel } from '../channel-list';
import type { Addresses } from '../channels/provider';
import type { SegmentMessage } from '../segment-messages';
import { isUniqueNameTaken, type SyncClient } from '../clients/sync';
import { isNotFound } from '../clients/twilio';
import type { Content } from '../content';
import type { Step } from '../journey/steps';
import { type Group, groupProperties } from '../routing/holdout';
import { DOCUMENT_BUDGET_BYTES, fetchDocument, readModifyWrite } from './documents';
import type { Observation } from './evidence';
import { Outbox } from './outbox';
import { ParcelStore } from './parcels';

/** What later steps of a journey need besides the content (the first request is gone by then). */
export interface JourneyContext {
  to: Addresses;
  urgent: boolean;
  quietHours?: string;
  timezone: string;
}

export interface NotificationRecord {
  notificationId: string;
  userId: string;
  locale: string;
  createdAt: string;
  /**
   * in_progress: being sent; done: sent, nobody engaged yet; completed: engaged; canceled: by /cancel;
   * suppressed: not sent, the user's frequency cap was reached
   */
  state: 'in_progress' | 'done' | 'completed' | 'canceled' | 'suppressed';
  reason?: string;
  /** the routing policy that chose the channel (learned, trait or random) */
  policy?: string;
  /** how /insights counts it (routing/holdout.ts), and whether its user is in the holdout */
  group?: Group;
  holdout?: boolean;
  steps: Step[];
  /** escalation minutes between steps, when this is a journey */
  escalateAfter?: number;
  content?: Content;
  journey?: JourneyContext;
  /** Segment events that could not be delivered yet; the next webhook for this notification sends them */
  deferredEvents?: SegmentMessage[];
  /** what the learner should have counted but its store refused: counted by recovery */
  pendingEvidence?: Observation[];
  /** scheduled provider copies a cancel failed for: retried until their send time, then reported */
  pendingCancels?: PendingCancel[];
  /** the answer /notify gave, replayed to duplicate requests */
  result?: Record<string, unknown>;
  /** the request's fingerprint (app/notify/input.ts): the same id with another request is a conflict */
  request?: string;
}

export interface PendingCancel {
  channel: Channel;
  providerId?: string;
  batchId?: string;
  /** the send time: the cancel's deadline */
  scheduledAt: string;
}

/** What a record keeps for recovery, by field. */
interface KeptWork {
  deferredEvents: SegmentMessage;
  pendingCancels: PendingCancel;
  pendingEvidence: Observation;
}

export interface ContactRecord {
  /** whom the latest notification to the number was for (none: the number only wrote to us on WhatsApp) */
  userId?: string;
  notificationId?: string;
  updatedAt: string;
  /** when the number last wrote to us on WhatsApp: its 24-hour customer-service window */
  whatsappInboundAt?: string;
}

/** Where a notification's observations are counted in /insights: its group, on the UTC day it was created. */
export const countedAs = (r: Pick<NotificationRecord, 'group' | 'createdAt'>): Pick<Observation, 'group' | 'day'> =>
  r.group ? { group: r.group, day: r.createdAt.slice(0, 10) } : {};

/** The properties every Segment event about the notification carries (routing/holdout.ts). */
export const groupPropsOf = (r: Pick<NotificationRecord, 'group' | 'holdout' | 'policy'>): Record<string, unknown> =>
  r.group ? groupProperties({ group: r.group, holdout: Boolean(r.holdout), policy: r.policy }) : {};

export const NOTIFICATION_TTL_S = 40 * 24 * 3600;
/** a notification record's budget: a Sync document's (store/documents.ts) */
export const MAX_RECORD_BYTES = DOCUMENT_BUDGET_BYTES;
export const CONTACT_TTL_S = 180 * 24 * 3600;

const notificationName = (id: string) => `notification-${id}`;
/**
 * A contact document is named by a keyed hash of the number (HMAC with a secret of the service), so
 * no phone number appears in Sync's names or its REST paths. Documents written before under the
 * number's digits (LEGACY) are still found, and replaced by the hashed name when next written.
 */
const contactName = (phone: string, key: string) =>
  `contact-h-${createHmac('sha256', key).update(phone).digest('hex').slice(0, 40)}`;
const legacyContactName = (phone: string) => `contact-${phone.replace(/\D/g, '')}`;

/** Where a number's contact document was found: under its hashed name, its legacy one, or nowhere. */
export type ContactFound = 'hashed' | 'legacy' | 'none';

export class RecordStore {
  readonly outbox: Outbox;
  /** where what a record cannot hold waits (store/parcels.ts) */
  readonly parcels: ParcelStore;

  constructor(
    private readonly documents: SyncClient,
    /** the secret contact names are keyed with */
    private readonly contactKey: string,
  ) {
    this.outbox = new Outbox(documents);
    this.parcels = new ParcelStore(documents, this.outbox);
  }

  /**
   * Creates the record and answers its revision (so the next write needs no
   * read); `exists` when another request already holds this notification id.
   */
  async createNotification(
    record: NotificationRecord,
  ): Promise<{ record: NotificationRecord; revision: string } | 'exists'> {
    try {
      const doc = await this.documents.createDocument(
        notificationName(record.notificationId),
        record,
        NOTIFICATION_TTL_S,
      );
      return { record, revision: doc.revision };
    } catch (err) {
      if (isUniqueNameTaken(err)) return 'exists';
      throw err;
    }
  }

  async readNotification(id: string): Promise<{ record: NotificationRecord; revision: string } | undefined> {
    const found = await fetchDocument(this.documents, notificationName(id));
    return found && { record: found.data as NotificationRecord, revision: found.revision };
  }

  /**
   * Read-modify-write with If-Match, retried on revision conflicts. `mutate`
   * returns false to leave the record as it is. Answers the record as stored
   * (undefined when there is none) and whether this call changed it.
   */
  async updateNotification(
    id: string,
    mutate: (record: NotificationRecord) => boolean,
    known?: { record: NotificationRecord; revision: string },
  ): Promise<{ record?: NotificationRecord; changed: boolean }> {
    return readModifyWrite(
      this.documents,
      notificationName(id),
      (data): { write?: object; result: { record?: NotificationRecord; changed: boolean } } => {
        if (data === undefined) return { result: { changed: false } }; // never created here
        const record = structuredClone(data as NotificationRecord);
        if (!mutate(record)) return { result: { record: data as NotificationRecord, changed: false } };
        return { write: record, result: { record, changed: true } };
      },
      { known: known && { data: known.record, revision: known.revision } },
    );
  }

  /**
   * Keeps events Segment could not take, so that nothing is lost: the next
   * webhook of the notification replays them, and the outbox lists it for
   * the service's own recovery (store/outbox.ts, app/recovery.ts).
   */
  deferEvents(id: string, events: SegmentMessage[]): Promise<void> {
    return this.keep(id, 'deferredEvents', events, (e) => e.messageId);
  }

  /**
   * deferEvents for many notifications at once (a webhook's, during a Segment outage): each record
   * keeps its events, and the outbox lists them all with one write per shard, not one per notification.
   * Answers the ids whose events are kept.
   */
  async deferEventsOfMany(byNotification: Array<[string, SegmentMessage[]]>): Promise<Set<string>> {
    const kept = await Promise.allSettled(
      byNotification.map(([id, events]) => this.keep(id, 'deferredEvents', events, (e) => e.messageId, false)),
    );
    const ids = byNotification.filter((_, i) => kept[i].status === 'fulfilled').map(([id]) => id);
    await this.outbox.addAll(ids);
    return new Set(ids);
  }

  /** Keeps provider cancels that failed, to be retried by recovery until their send time. */
  keepCancels(id: string, cancels: PendingCancel[]): Promise<void> {
    return this.keep(id, 'pendingCancels', cancels, (c) => c.channel);
  }

  /** Keeps evidence the learner's store refused, to be counted by recovery (counted once however often). */
  keepEvidence(id: string, observations: Observation[]): Promise<void> {
    return this.keep(id, 'pendingEvidence', observations, (o) => `${o.channel}|${o.kind}`);
  }

  /**
   * Work kept in the record (what is not there yet, by `keyOf`), and the
   * notification listed in the outbox so that recovery completes it.
   */
  private async keep<F extends keyof KeptWork>(
    id: string,
    field: F,
    items: KeptWork[F][],
    keyOf: (item: KeptWork[F]) => string,
    list = true,
  ): Promise<void> {
    let overflow: KeptWork[F][] = [];
    await this.updateNotification(id, (r) => {
      const kept = (r[field] ?? []) as KeptWork[F][];
      const known = new Set(kept.map(keyOf));
      const fresh = items.filter((item) => !known.has(keyOf(item)));
      overflow = [];
      if (fresh.length === 0) return false;
      r[field] = [...kept, ...fresh] as NotificationRecord[F];
      // a record must stay a Sync document (16 KiB): what would not fit waits in a parcel of its own
      // (answering false leaves the stored record as it was)
      if (field === 'deferredEvents' && Buffer.byteLength(JSON.stringify(r)) > MAX_RECORD_BYTES) {
        overflow = fresh;
        return false;
      }
      return true;
    });
    if (overflow.length) {
      const key = `${id}-${createHash('sha256').update(overflow.map(keyOf).join('|')).digest('hex').slice(0, 12)}`;
      await this.parcels.keep(key, { kind: 'track', messages: overflow as SegmentMessage[] });
      return; // listed in the outbox by the parcel
    }
    if (list) await this.outbox.add(id);
  }

  async clearDeferredEvents(id: string, sent: string[]): Promise<void> {
    await this.updateNotification(id, (r) => {
      if (!r.deferredEvents?.length) return false;
      r.deferredEvents = r.deferredEvents.filter((e) => !sent.includes(e.messageId));
      return true;
    });
  }

  async deleteNotification(id: string): Promise<void> {
    try {
      await this.documents.removeDocument(notificationName(id));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Remembers who we last notified at this number, so an inbound reply can be
   * attributed. `exists` (when known from an earlier read) saves a round trip;
   * unknown, the update is tried first: numbers are mostly notified again.
   */
  async writeContact(phone: string, contact: ContactRecord, found?: ContactFound): Promise<void> {
    const name = contactName(phone, this.contactKey);
    const create = () => this.documents.createDocument(name, contact, CONTACT_TTL_S);
    const update = () => this.documents.updateDocument(name, contact, { ttl: CONTACT_TTL_S });
    const legacy =
      found === 'legacy'
        ? this.documents.removeDocument(legacyContactName(phone)).catch(() => undefined) // migrated: best effort
        : undefined;
    if (found === 'none' || found === 'legacy') {
      await create().catch((err) => (isUniqueNameTaken(err) ? update() : Promise.reject(err)));
    } else await update().catch((err) => (isNotFound(err) ? create() : Promise.reject(err)));
    await legacy;
  }

  /** The number's contact, under its hashed name or (written before) its legacy one: both read at once. */
  async findContact(phone: string): Promise<{ contact?: ContactRecord; found: ContactFound }> {
    const [hashed, legacy] = await Promise.all([
      fetchDocument(this.documents, contactName(phone, this.contactKey)),
      fetchDocument(this.documents, legacyContactName(phone)),
    ]);
    if (hashed) return { contact: hashed.data as ContactRecord, found: 'hashed' };
    if (legacy) return { contact: legacy.data as ContactRecord, found: 'legacy' };
    return { found: 'none' };
  }

  async readContact(phone: string): Promise<ContactRecord | undefined> {
    return (await this.findContact(phone)).contact;
  }
}
