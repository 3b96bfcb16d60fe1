/**
 * What every channel module provides (after Novu's providers: send, schedule,
 * cancel and the translation of the provider's callbacks, in one place), and
 * the typed values that cross the boundary: addresses, refusals and provider
 * events.
 */
import type { Twilio } from 'twilio';
import type { Config } from '../config';
import type { Upstream } from '../upstream';
import type { Content } from '../content';
import type { Identity } from '../segment-messages';
import type { Channel } from '../channel-list';

/** The addresses known for a recipient; each channel takes the one it needs. */
export interface Addresses {
  phone?: string;
  email?: string;
  /** the WhatsApp number, E.164 (sent to as whatsapp:+E164) */
  whatsapp?: string;
}

export interface WhatsAppAddress {
  whatsapp: string;
}

export interface PhoneAddress {
  phone: string;
}

export interface EmailAddress {
  email: string;
}

export interface ProviderDeps {
  client: Twilio;
  config: Config;
  upstream: Upstream;
}

export interface SendRequest {
  notificationId: string;
  userId: string;
  content: Content;
  /** where the provider's callbacks go */
  baseUrl: string;
  /** schedule with the provider's own scheduler instead of sending now */
  at?: Date;
  /** WhatsApp: until when (epoch ms) free text may be sent, 24 h after the user's last message (none: closed) */
  whatsappWindowUntil?: number;
}

export interface Sent {
  /** Message SID, Call SID or SendGrid message id */
  providerId: string;
  /** SendGrid batch id of a scheduled email, to cancel it */
  batchId?: string;
}

/** What a provider holds of a scheduled send, to cancel it. */
export interface ScheduledCopy {
  providerId?: string;
  batchId?: string;
}

export type CancelResult = 'canceled' | 'too_late';

/** A provider refused this channel for this recipient: the caller may fall back to another channel. */
export class ChannelRefused extends Error {
  constructor(
    readonly channel: Channel,
    readonly why: string,
    readonly providerCode: string | number,
    /** profile traits that make routing skip this channel for this user from now on */
    readonly traits: Record<string, unknown>,
    readonly optedOut = false,
  ) {
    super(`${channel} refused: ${why}`);
    this.name = 'ChannelRefused';
  }
}

export interface ChannelProvider<A> {
  readonly channel: Channel;
  /** the address this channel needs, from what is known of the recipient */
  addressOf(addresses: Addresses): A | undefined;
  /** sends now, or schedules when `req.at` is given; a refusal of this recipient throws ChannelRefused */
  send(deps: ProviderDeps, to: A, req: SendRequest): Promise<Sent>;
  /** the earliest instant the provider's scheduler accepts, when it has a minimum lead time */
  earliestSchedule?(now: Date): Date;
  /** why the provider cannot schedule a send at `at` (undefined when it can) */
  cannotSchedule(at: Date, now: Date, config: Config): string | undefined;
  /** cancels a scheduled copy; undefined when the channel has none to cancel */
  cancel(deps: ProviderDeps, copy: ScheduledCopy): Promise<CancelResult | undefined>;
}

/**
 * What a provider's callback says, whatever the provider: the one vocabulary
 * the webhook pipeline maps to step updates and Segment events.
 */
export type ProviderEventKind =
  | 'sent' // a scheduled send went out
  | 'delivered'
  | 'answered' // a person answered the call
  | 'confirmed' // pressed 1 during the call
  | 'replied' // an inbound SMS that is not a keyword
  | 'opened'
  | 'machine_opened' // Apple Mail Privacy Protection and the like: never engagement
  | 'clicked'
  | 'failed' // undelivered, bounced, a call Twilio could not place: the address does not reach them
  | 'unanswered' // a call that rang out, was busy or canceled, or reached a machine: no engagement, the number works
  | 'opted_out'
  | 'opted_in'
  | 'read' // a WhatsApp message was read (engagement only with WHATSAPP_READ_ENGAGES)
  | 'read_engaged';

export interface ProviderEvent {
  kind: ProviderEventKind;
  channel: Channel;
  /** the notification it concerns; absent for an inbound message nobody can attribute */
  notificationId?: string;
  who: Identity;
  /** Message SID, Call SID or SendGrid message id */
  providerId?: string;
  /** the provider's identity of this event: the Segment messageId, so a redelivery is counted once */
  eventId: string;
  /** the messageId of the identify an opt-out or opt-in sends */
  identifyId?: string;
  /** why a send failed, as the step records it */
  error?: string;
  at?: Date;
  /** provider-specific properties passed on to Segment (status, error_code, url, …) */
  details?: Record<string, unknown>;
  /** traits an opt-out or opt-in sets */
  traits?: Record<string, unknown>;
}
