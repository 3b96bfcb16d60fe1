/**
 * Messaging webhooks, SMS and WhatsApp alike (Twilio posts both to the same URLs): message status
 * callbacks (WhatsApp's `read` among them) and inbound messages (replies, button presses, STOP/START).
 */
import { inboundSmsEvents, inboundSmsOf, smsStatusEvents } from '../../channels/sms';
import { currentDate } from '../../clock';
import { wire } from '../deps';
import { type EndpointRequest, emptyTwiml, type Reply } from '../../http/endpoint';
import { handleProviderEvents } from './pipeline';

export async function smsStatus(req: EndpointRequest): Promise<Reply> {
  const { status, events } = smsStatusEvents(req.params, { readEngages: req.config.whatsappReadEngages });
  const { tracked } = await handleProviderEvents(wire(req), events);
  return { status: 200, json: { received: status, tracked } };
}

export async function smsInbound(req: EndpointRequest): Promise<Reply> {
  const inbound = inboundSmsOf(req.params);
  const deps = wire(req);
  // A reply is credited to the latest notification sent to that number.
  const { contact, found } = await deps.store.findContact(inbound.from);
  // a contact written under the number's digits before: moved to its hashed name now (best effort)
  // a WhatsApp message opens the number's 24-hour window: kept with its contact, which a number we
  // never notified gets now (with nobody to credit a reply to until a notification is sent to it)
  const now = currentDate().toISOString();
  const whatsappWindow = inbound.channel === 'WHATSAPP' ? { whatsappInboundAt: now } : undefined;
  const migrated =
    whatsappWindow || (found === 'legacy' && contact)
      ? deps.store
          .writeContact(inbound.from, { ...contact, updatedAt: contact?.updatedAt ?? now, ...whatsappWindow }, found)
          .catch(() => undefined)
      : undefined;
  const credited =
    contact?.userId && contact.notificationId
      ? { userId: contact.userId, notificationId: contact.notificationId }
      : undefined;
  // Twilio does not retry the incoming-message webhook (unless a connection override is set on the
  // number): what could not be done now is kept for recovery, and the answer says received.
  await Promise.all([
    handleProviderEvents(
      deps,
      inboundSmsEvents(inbound, credited, {
        replyText: deps.config.trackReplyText,
        identityKey: deps.config.authToken,
      }),
      { retries: false },
    ),
    migrated,
  ]);
  return emptyTwiml();
}
