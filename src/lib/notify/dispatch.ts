/**
 * Sends one notification on one channel, and classifies a provider's refusal:
 * a channel-specific refusal (opted out, invalid number or address) lets the
 * caller fall back to another channel; anything else is an upstream failure.
 */
import type { Twilio } from 'twilio';
import { callbackUrl, type CallbackContext, withRetries } from '../callbacks';
import type { Channel } from '../channels';
import type { Config } from '../config';
import { stringsFor } from '../i18n';
import { callTwiml, placeCall } from '../senders/call';
import { sendEmail } from '../senders/email';
import { sendSms } from '../senders/sms';
import { twilioErrorCode } from '../store/records';

/** What is sent: the request's content, or a journey's stored content. */
export interface Message {
  notificationId: string;
  userId: string;
  message: string;
  locale: string;
  subject?: string;
  html?: string;
  firstName?: string;
  lastName?: string;
}

export interface Dispatch {
  channel: Channel;
  phone?: string;
  email?: string;
  baseUrl: string;
  /** schedule with the provider instead of sending now (SMS, EMAIL) */
  sendAt?: Date;
  /** SendGrid batch id, so a scheduled email can be cancelled */
  batchId?: string;
}

/** A provider refused this channel for this recipient. */
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
  }
}

/** Twilio error codes that mean "this recipient cannot get this channel". */
const TWILIO_REFUSALS: Record<
  number,
  { why: string; trait: 'sms_opted_out' | 'invalid_phone' | 'sms_incapable_phone'; alsoCall?: boolean }
> = {
  21610: { why: 'recipient opted out of SMS (21610)', trait: 'sms_opted_out' },
  21211: { why: 'invalid phone number (21211)', trait: 'invalid_phone', alsoCall: true },
  21614: { why: 'number cannot receive SMS (21614)', trait: 'sms_incapable_phone' },
  21217: { why: 'invalid phone number (21217)', trait: 'invalid_phone', alsoCall: true },
};

/** Refusal traits name the number they apply to, so a new number is tried again. */
export function refusalOf(channel: Channel, err: unknown, address?: string): ChannelRefused | undefined {
  if (channel === 'EMAIL') {
    const body = (err as { response?: { body?: { errors?: Array<{ field?: string; message?: string }> } } })?.response
      ?.body;
    const toError = body?.errors?.find((e) => e.field?.startsWith('personalizations'));
    return toError
      ? new ChannelRefused('EMAIL', `invalid email address (${toError.message ?? 'rejected'})`, 'sendgrid-400', {
          invalid_email: address,
        })
      : undefined;
  }
  const code = twilioErrorCode(err);
  const refusal = code === undefined ? undefined : TWILIO_REFUSALS[code];
  if (!refusal || (channel === 'CALL' && !refusal.alsoCall)) return undefined;
  const traits = { [refusal.trait]: refusal.trait === 'sms_opted_out' ? true : address };
  return new ChannelRefused(channel, refusal.why, code!, traits, refusal.trait === 'sms_opted_out');
}

/** Sends and answers the provider id (Message SID, Call SID or SendGrid message id). */
export async function dispatch(client: Twilio, config: Config, input: Message, d: Dispatch): Promise<string> {
  const ctx: CallbackContext = { notificationId: input.notificationId, userId: input.userId, channel: d.channel };
  try {
    switch (d.channel) {
      case 'SMS':
        return (
          await sendSms(client, config, {
            to: d.phone!,
            body: input.message,
            statusCallback: withRetries(callbackUrl(d.baseUrl, '/sms/status', ctx)),
            sendAt: d.sendAt,
          })
        ).sid;
      case 'CALL': {
        const twiml = callTwiml({
          message: input.message,
          locale: input.locale,
          gatherUrl: withRetries(callbackUrl(d.baseUrl, '/voice/gather', { ...ctx, locale: input.locale })),
        });
        return (
          await placeCall(client, config, {
            to: d.phone!,
            twiml,
            statusCallback: withRetries(callbackUrl(d.baseUrl, '/voice/status', ctx)),
          })
        ).sid;
      }
      case 'EMAIL': {
        const name = [input.firstName, input.lastName].filter(Boolean).join(' ') || undefined;
        return (
          await sendEmail(config, {
            to: d.email!,
            toName: name,
            subject: input.subject ?? stringsFor(input.locale).subject,
            text: input.message,
            html: input.html,
            customArgs: { notification_id: input.notificationId, user_id: input.userId, channel: 'EMAIL' },
            ...(d.sendAt ? { sendAt: Math.floor(d.sendAt.getTime() / 1000), batchId: d.batchId } : {}),
          })
        ).messageId;
      }
    }
  } catch (err) {
    throw refusalOf(d.channel, err, d.channel === 'EMAIL' ? d.email : d.phone) ?? err;
  }
}
