/**
 * WhatsApp through Twilio's Messaging API: everything about the channel in one place (issue 32).
 *
 * - Addresses are `whatsapp:+E164`, sent from WHATSAPP_SENDER (or, for Message Scheduling, the
 *   Messaging Service that holds it).
 * - Within 24 hours of the user's last WhatsApp message (the customer-service window, kept with the
 *   number's contact), free text is allowed: the notification's message. Outside it WhatsApp takes
 *   only an approved template, `ContentSid` and `ContentVariables`; free text there (or a template's
 *   text sent as `Body`) fails with 63016. With no template the channel refuses before sending
 *   (`template_required`), so routing falls back to the next channel. A scheduled message is judged
 *   for its send time.
 * - A template with its variables is at most 1,024 characters (63021): the variables are counted
 *   (by code point, as WhatsApp counts Japanese) before sending.
 * - Status callbacks add `read`; replies and quick-reply presses come to the SMS inbound URL.
 */
import { twilioErrorCode } from '../clients/twilio';
import { currentTime } from '../clock';
import type { Config } from '../config';
import type { Content } from '../content';
import { callbackUrl, withRetries } from '../http/callback-urls';
import {
  type Addresses,
  type ChannelProvider,
  ChannelRefused,
  type ProviderDeps,
  type SendRequest,
  type Sent,
  type WhatsAppAddress,
} from './provider';
import { messageSchedulingProblem, smsProvider, WHATSAPP_INCAPABLE_TRAIT } from './sms';

/** WhatsApp's limit on a template with its variables filled in */
export const MAX_TEMPLATE_CHARS = 1024;
/** the customer-service window */
export const WINDOW_MS = 24 * 3_600_000;

export const whatsappAddress = (e164: string) => `whatsapp:${e164}`;

/** Twilio errors that mean "this number cannot get WhatsApp from us", refused at once. */
const REFUSALS: Record<number, string> = {
  63003: 'the number has no WhatsApp account (63003)',
  63007: 'WHATSAPP_SENDER is not a WhatsApp sender of this account (63007)',
  21655: 'the template is not a Content SID of this account (21655)',
  21656: 'the template variables are not valid (21656)',
};

/** What goes out: free text within the window (at `at`), else the template; or why neither may. */
export function whatsappPayload(
  content: Content,
  windowUntil: number | undefined,
  at: number,
): { body: string } | { contentSid: string; contentVariables: string } {
  if (windowUntil !== undefined && at < windowUntil) return { body: content.message };
  const template = content.whatsapp?.template;
  if (!template) {
    const why =
      'outside the 24-hour customer-service window WhatsApp takes only an approved template: give template (and variables)';
    throw new ChannelRefused('WHATSAPP', why, 'template_required', {});
  }
  const variables = content.whatsapp?.variables ?? {};
  const chars = Object.values(variables).reduce((n, v) => n + [...v].length, 0);
  if (chars > MAX_TEMPLATE_CHARS) {
    const why = `the template's variables have ${chars} characters; WhatsApp takes at most ${MAX_TEMPLATE_CHARS} with the template (63021)`;
    throw new ChannelRefused('WHATSAPP', why, 'template-too-long', {});
  }
  return { contentSid: template, contentVariables: JSON.stringify(variables) };
}

async function send(deps: ProviderDeps, to: WhatsAppAddress, req: SendRequest): Promise<Sent> {
  const { client, config } = deps;
  const at = req.at?.getTime() ?? currentTime();
  const payload = whatsappPayload(req.content, req.whatsappWindowUntil, at);
  // scheduling needs the Messaging Service (which holds the WhatsApp sender); a send now goes from the sender
  const sender =
    req.at && config.messagingServiceSid
      ? { messagingServiceSid: config.messagingServiceSid }
      : { from: config.whatsappSender };
  const schedule = req.at ? { scheduleType: 'fixed' as const, sendAt: req.at } : {};
  const ctx = { notificationId: req.notificationId, userId: req.userId, channel: 'WHATSAPP' as const };
  try {
    const message = await client.messages.create({
      to: whatsappAddress(to.whatsapp),
      ...payload,
      statusCallback: withRetries(callbackUrl(req.baseUrl, '/sms/status', ctx)),
      ...sender,
      ...schedule,
    });
    return { providerId: message.sid };
  } catch (err) {
    const code = twilioErrorCode(err);
    const why = code === undefined ? undefined : REFUSALS[code];
    // a number with no WhatsApp account is named in a trait, so that it is not tried on WhatsApp again
    const traits = code === 63003 ? { [WHATSAPP_INCAPABLE_TRAIT]: to.whatsapp } : {};
    if (why) throw new ChannelRefused('WHATSAPP', why, code as number, traits);
    throw err;
  }
}

const cannotSchedule = (at: Date, now: Date, config: Config) =>
  messageSchedulingProblem(at, now, config, {
    noService: 'a scheduled WhatsApp message needs the Messaging Service that holds the sender (MESSAGING_SERVICE_SID)',
    outOfWindow: 'a WhatsApp message can be scheduled more than 15 minutes and at most 35 days ahead',
  });

export const whatsappProvider: ChannelProvider<WhatsAppAddress> = {
  channel: 'WHATSAPP',
  addressOf: (a: Addresses) => (a.whatsapp ? { whatsapp: a.whatsapp } : undefined),
  send,
  // a scheduled WhatsApp message is a scheduled Message: canceled, and scheduled as early, as an SMS
  cancel: smsProvider.cancel,
  cannotSchedule,
  earliestSchedule: smsProvider.earliestSchedule,
};
