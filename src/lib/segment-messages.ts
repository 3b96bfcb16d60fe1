/**
 * Segment messages this service emits. `Notification Engaged` keeps the exact
 * shape the computed trait is configured on; its messageId is derived from the
 * notification and channel so Segment counts one engagement per channel.
 * Every other messageId comes from the provider's own event identity.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Channel } from './channel-list';

/** A Segment message as the service sends it (Segment's HTTP Tracking API: track and identify). */
export interface SegmentMessage {
  type: 'track' | 'identify';
  messageId: string;
  userId?: string;
  anonymousId?: string;
  event?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
  timestamp?: string;
}

export type Engagement = 'reply' | 'answered' | 'confirmed' | 'open' | 'click' | 'read';

/** Who an event is about: a known user, or an anonymous id derived from a phone number. */
export type Identity = { userId: string } | { anonymousId: string; context: Record<string, unknown> };

/** Joins the parts into a messageId of at most 100 characters (hashing the tail when longer). */
export function messageId(...parts: string[]): string {
  const id = parts.join(':');
  if (id.length <= 100) return id;
  return `${parts[0].slice(0, 40)}:${createHash('sha256').update(id).digest('hex').slice(0, 48)}`;
}

/**
 * An anonymous identity for a phone number we cannot attribute to a user. The id is a keyed hash
 * (HMAC with `key`, a secret of the service): an unsalted hash of a phone number is reversed by
 * trying every number, and an anonymousId travels to places the number itself does not. The
 * number is passed once, as the external id Segment's identity resolution merges profiles on.
 */
export function phoneIdentity(phone: string, key: string): Identity {
  return {
    anonymousId: `phone-${createHmac('sha256', key).update(phone).digest('hex').slice(0, 32)}`,
    context: { externalIds: [{ id: phone, type: 'phone', collection: 'users', encoding: 'none' }] },
  };
}

export function trackMessage(
  who: Identity,
  event: string,
  id: string,
  properties: Record<string, unknown>,
  timestamp?: Date,
): SegmentMessage {
  // a loop, not entries/filter/fromEntries: a campaign's webhook batch builds thousands of these
  const clean: Record<string, unknown> = {};
  for (const k in properties) if (properties[k] !== undefined) clean[k] = properties[k];
  return {
    type: 'track',
    messageId: id,
    ...('userId' in who ? { userId: who.userId } : { anonymousId: who.anonymousId, context: who.context }),
    event,
    properties: clean,
    ...(timestamp ? { timestamp: timestamp.toISOString() } : {}),
  };
}

export const ENGAGED_EVENT = 'Notification Engaged';

export function engagedMessage(
  userId: string,
  notificationId: string,
  channel: Channel,
  engagement: Engagement,
  timestamp?: Date,
): SegmentMessage {
  return trackMessage(
    { userId },
    ENGAGED_EVENT,
    messageId('engaged', notificationId, channel),
    {
      channel,
      notification_id: notificationId,
      engagement,
    },
    timestamp,
  );
}

export function identifyMessage(who: Identity, id: string, traits: Record<string, unknown>): SegmentMessage {
  const clean = Object.fromEntries(Object.entries(traits).filter(([, v]) => v !== undefined && v !== ''));
  return { type: 'identify', messageId: id, ...who, traits: clean };
}

/**
 * A send's cost as `Notification Sent` and `Notification Scheduled` carry it: the estimate made before
 * it went out (`cost_basis: estimate`), so spend can be summed in the warehouse as /insights sums it.
 */
export function costProperties(cost: number | undefined, currency: string): Record<string, unknown> {
  return cost === undefined ? {} : { cost, currency, cost_basis: 'estimate' };
}

/** `Notification Sent`, once per notification and channel whoever sends it (/notify or an escalation). */
export function sentMessage(
  userId: string,
  notificationId: string,
  channel: Channel,
  properties: Record<string, unknown>,
): SegmentMessage {
  return trackMessage({ userId }, 'Notification Sent', messageId('sent', notificationId, channel), {
    channel,
    notification_id: notificationId,
    ...properties,
  });
}
