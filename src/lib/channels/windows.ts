/**
 * How far ahead each provider schedules a send. Kept apart from the channel
 * modules (which use them) so that a caller checking a time, such as the
 * campaign CLI's dry run, need not load the providers' SDKs.
 */
import type { Channel } from '../channel-list';

const MINUTE = 60_000;

/** Twilio Message Scheduling: more than 15 minutes (plus a margin for transit) and at most 35 days ahead. */
export const SMS_WINDOW = { minMs: 15 * MINUTE + 30_000, maxMs: 35 * 24 * 60 * MINUTE };

/** SendGrid send_at: at most 72 hours ahead. */
export const EMAIL_WINDOW = { maxMs: 72 * 3600_000 };

/**
 * How far ahead each channel's provider schedules (undefined: it cannot). SMS and WhatsApp go
 * through Twilio's Message Scheduling, which needs a Messaging Service; email through SendGrid.
 */
export const SCHEDULING: Record<Channel, { minMs: number; maxMs: number; messagingService?: true } | undefined> = {
  SMS: { ...SMS_WINDOW, messagingService: true },
  CALL: undefined,
  EMAIL: { minMs: 0, maxMs: EMAIL_WINDOW.maxMs },
  WHATSAPP: { ...SMS_WINDOW, messagingService: true },
};
