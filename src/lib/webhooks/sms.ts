/** SMS webhooks: message status callbacks and inbound messages (replies, STOP/START). */
import { contextFromParams } from '../callbacks';
import type { SegmentMessage } from '../clients/segment';
import { engagedMessage, type Identity, identifyMessage, messageId, phoneIdentity, trackMessage } from '../events';
import { requireTwilioSignature } from '../http/auth';
import { emptyTwiml, type EndpointRequest, type Reply } from '../http/endpoint';
import { badRequest } from '../http/errors';
import { stringParam } from '../http/params';
import { finish, journeyDeps, type StepUpdate } from './common';

const SID = /^(SM|MM)[0-9a-f]{32}$/;
const FAILED = new Set(['undelivered', 'failed']);

export async function smsStatus(req: EndpointRequest): Promise<Reply> {
  requireTwilioSignature(req);
  const sid = stringParam(req.params, 'MessageSid', {
    required: true,
    pattern: SID,
    patternHint: 'must be a Message SID',
  });
  const status = stringParam(req.params, 'MessageStatus', { required: true, max: 32 });
  const ctx = contextFromParams(req.params);
  if (!ctx) throw badRequest('notificationId', 'the callback URL carries no notification context');
  const errorCode = stringParam(req.params, 'ErrorCode', { max: 10 });
  const who = { userId: ctx.userId };
  const props = { channel: 'SMS', notification_id: ctx.notificationId, provider_id: sid, status };
  const id = messageId('sms-status', sid, status);
  const events: SegmentMessage[] = [];
  const updates: StepUpdate[] = [];
  if (status === 'sent') {
    updates.push({ notificationId: ctx.notificationId, channel: 'SMS', status: 'SENT' }); // a scheduled SMS went out
  } else if (status === 'delivered') {
    events.push(trackMessage(who, 'Notification Delivered', id, props));
    updates.push({ notificationId: ctx.notificationId, channel: 'SMS', status: 'DELIVERED' });
  } else if (FAILED.has(status)) {
    events.push(trackMessage(who, 'Notification Failed', id, { ...props, error_code: errorCode }));
    updates.push({
      notificationId: ctx.notificationId,
      channel: 'SMS',
      status: 'FAILED',
      error: errorCode ? `Twilio error ${errorCode}` : status,
    });
    if (errorCode === '21610') {
      events.push(
        trackMessage(who, 'Notification Opted Out', messageId('sms-opt-out', sid), {
          channel: 'SMS',
          notification_id: ctx.notificationId,
          error_code: errorCode,
        }),
        identifyMessage(who, messageId('sms-opt-out-identify', sid), { sms_opted_out: true }),
      );
    }
  }
  await finish(journeyDeps(req), events, updates);
  return { status: 200, json: { received: status, tracked: events.length } };
}

export async function smsInbound(req: EndpointRequest): Promise<Reply> {
  requireTwilioSignature(req);
  const sid = stringParam(req.params, 'MessageSid', {
    required: true,
    pattern: SID,
    patternHint: 'must be a Message SID',
  });
  const from = stringParam(req.params, 'From', { required: true, max: 32 });
  const body = stringParam(req.params, 'Body', { max: 1600 }) ?? '';
  const optOutType = stringParam(req.params, 'OptOutType', { max: 10 })?.toUpperCase();
  const deps = journeyDeps(req);
  const contact = await deps.store.readContact(from);
  const who: Identity = contact ? { userId: contact.userId } : phoneIdentity(from);
  const base = { channel: 'SMS', notification_id: contact?.notificationId, provider_id: sid };
  const events: SegmentMessage[] = [];
  const updates: StepUpdate[] = [];
  const optTrait = (optedOut: boolean) =>
    identifyMessage(
      who,
      messageId('sms-opt-identify', sid),
      contact ? { sms_opted_out: optedOut } : { phone: from, sms_opted_out: optedOut },
    );
  if (optOutType === 'STOP') {
    events.push(trackMessage(who, 'Notification Opted Out', messageId('sms-opt-out', sid), base), optTrait(true));
  } else if (optOutType === 'START') {
    events.push(trackMessage(who, 'Notification Opted In', messageId('sms-opt-in', sid), base), optTrait(false));
  } else if (optOutType !== 'HELP') {
    events.push(trackMessage(who, 'Notification Replied', messageId('sms-reply', sid), { ...base, reply: body }));
    if (contact) {
      events.push(engagedMessage(contact.userId, contact.notificationId, 'SMS', 'reply'));
      updates.push({ notificationId: contact.notificationId, channel: 'SMS', status: 'COMPLETED' });
    }
  }
  await finish(deps, events, updates);
  return emptyTwiml();
}
