/**
 * Provider actions on one step: send now, schedule with the provider's own
 * scheduler, or cancel a scheduled copy (idempotently: a copy that is already
 * canceled counts as canceled, one that already went out as too late).
 */
import type { Twilio } from 'twilio';
import { sendgridClient } from '../clients/sendgrid';
import type { Config } from '../config';
import { log } from '../log';
import { type Dispatch, dispatch, type Message } from '../notify/dispatch';
import { cancelBatch, createBatchId } from '../senders/email';
import { cancelSms } from '../senders/sms';
import type { Step } from '../store/records';

export interface Sent {
  providerId: string;
  batchId?: string;
}

/** Sends now, or schedules when `at` is given (SMS via Message Scheduling, email via send_at + batch id). */
export async function sendOrSchedule(
  client: Twilio,
  config: Config,
  message: Message,
  d: Omit<Dispatch, 'sendAt' | 'batchId'>,
  at?: Date,
): Promise<Sent> {
  if (!at) return { providerId: await dispatch(client, config, message, d) };
  const batchId = d.channel === 'EMAIL' ? await createBatchId(config) : undefined;
  return { providerId: await dispatch(client, config, message, { ...d, sendAt: at, batchId }), batchId };
}

export type CancelResult = 'canceled' | 'too_late';

async function smsCancel(client: Twilio, sid: string): Promise<CancelResult> {
  try {
    await cancelSms(client, sid);
    return 'canceled';
  } catch (err) {
    const status = (await client.messages(sid).fetch()).status;
    if (status === 'canceled') return 'canceled';
    if (status === 'scheduled') throw err;
    return 'too_late';
  }
}

async function emailCancel(config: Config, batchId: string): Promise<CancelResult> {
  try {
    await cancelBatch(config, batchId);
    return 'canceled';
  } catch (err) {
    const [, body] = await sendgridClient(config)
      .request({ method: 'GET', url: `/v3/user/scheduled_sends/${batchId}` })
      .catch(() => [undefined, undefined]);
    if (Array.isArray(body) && body.some((b: { status?: string }) => b.status === 'cancel')) return 'canceled';
    throw err;
  }
}

/** Cancels the provider's scheduled copy of a step, if it has one. */
export async function cancelScheduledCopy(
  client: Twilio,
  config: Config,
  step: Step,
): Promise<CancelResult | undefined> {
  if (!step.scheduledAt || !step.providerId) return undefined;
  const result =
    step.channel === 'SMS'
      ? await smsCancel(client, step.providerId)
      : step.channel === 'EMAIL' && step.batchId
        ? await emailCancel(config, step.batchId)
        : undefined;
  log.info('scheduled copy cancel', { channel: step.channel, provider: step.providerId, result });
  return result;
}
