/** Voice webhooks: call progress callbacks and the "press 1" Gather action. */
import twilio from 'twilio';
import { contextFromParams } from '../callbacks';
import type { SegmentMessage } from '../clients/segment';
import { engagedMessage, messageId, trackMessage } from '../events';
import { requireTwilioSignature } from '../http/auth';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { badRequest } from '../http/errors';
import { stringParam } from '../http/params';
import { stringsFor } from '../i18n';
import { finish, journeyDeps, type StepUpdate } from './common';

const SID = /^CA[0-9a-f]{32}$/;
const UNREACHED = new Set(['no-answer', 'busy', 'failed', 'canceled']);

/** A person answered unless answering-machine detection says a machine or fax did. */
export function answeredByPerson(answeredBy: string | undefined): boolean {
  return !answeredBy || !(answeredBy.startsWith('machine') || answeredBy === 'fax');
}

function callContext(req: EndpointRequest) {
  const sid = stringParam(req.params, 'CallSid', { required: true, pattern: SID, patternHint: 'must be a Call SID' });
  const ctx = contextFromParams(req.params);
  if (!ctx) throw badRequest('notificationId', 'the callback URL carries no notification context');
  return { sid, ctx };
}

export async function voiceStatus(req: EndpointRequest): Promise<Reply> {
  requireTwilioSignature(req);
  const { sid, ctx } = callContext(req);
  const status = stringParam(req.params, 'CallStatus', { required: true, max: 32 });
  const answeredBy = stringParam(req.params, 'AnsweredBy', { max: 32 });
  const who = { userId: ctx.userId };
  const props = {
    channel: 'CALL',
    notification_id: ctx.notificationId,
    provider_id: sid,
    status,
    answered_by: answeredBy,
  };
  const id = messageId('call-status', sid, status);
  const events: SegmentMessage[] = [];
  const updates: StepUpdate[] = [];
  const step = (s: StepUpdate['status'], error?: string) =>
    updates.push({ notificationId: ctx.notificationId, channel: 'CALL', status: s, error });
  if (status === 'in-progress') {
    if (answeredByPerson(answeredBy)) {
      events.push(
        trackMessage(who, 'Notification Answered', id, props),
        engagedMessage(ctx.userId, ctx.notificationId, 'CALL', 'answered'),
      );
      step('DELIVERED');
    } else {
      events.push(trackMessage(who, 'Notification Failed', id, { ...props, cause: 'machine' }));
      step('FAILED', `answered by ${answeredBy}`);
    }
  } else if (status === 'completed' && answeredByPerson(answeredBy) && Number(req.params.CallDuration ?? 0) > 0) {
    events.push(
      trackMessage(who, 'Notification Delivered', id, { ...props, duration: Number(req.params.CallDuration) }),
    );
  } else if (UNREACHED.has(status)) {
    events.push(trackMessage(who, 'Notification Failed', id, { ...props, cause: status }));
    step('FAILED', status);
  }
  await finish(journeyDeps(req), events, updates);
  return { status: 200, json: { received: status, tracked: events.length } };
}

export async function voiceGather(req: EndpointRequest): Promise<Reply> {
  requireTwilioSignature(req);
  const { sid, ctx } = callContext(req);
  const digits = stringParam(req.params, 'Digits', { max: 20 }) ?? '';
  const strings = stringsFor(ctx.locale ?? req.config.defaultLocale);
  const say = { language: ctx.locale ?? req.config.defaultLocale, ...(strings.voice ? { voice: strings.voice } : {}) };
  const response = new twilio.twiml.VoiceResponse();
  if (digits === '1') {
    const events = [
      trackMessage({ userId: ctx.userId }, 'Notification Confirmed', messageId('call-confirmed', sid), {
        channel: 'CALL',
        notification_id: ctx.notificationId,
        provider_id: sid,
        digits,
      }),
      engagedMessage(ctx.userId, ctx.notificationId, 'CALL', 'confirmed'),
    ];
    await finish(journeyDeps(req), events, [
      { notificationId: ctx.notificationId, channel: 'CALL', status: 'COMPLETED' },
    ]);
    response.say(say as never, strings.thanks);
  } else {
    response.say(say as never, strings.goodbye);
  }
  response.hangup();
  return { status: 200, twiml: response.toString() };
}
