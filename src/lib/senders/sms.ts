import type { Twilio } from 'twilio';
import type { Config } from '../config';

export interface SmsRequest {
  to: string;
  body: string;
  statusCallback: string;
  /** schedule with Twilio Message Scheduling (needs a Messaging Service) */
  sendAt?: Date;
}

/** Sends through the Messaging Service when configured, else from TWILIO_PHONE_NUMBER. */
export async function sendSms(
  client: Twilio,
  config: Config,
  req: SmsRequest,
): Promise<{ sid: string; status: string }> {
  const sender = config.messagingServiceSid
    ? { messagingServiceSid: config.messagingServiceSid }
    : { from: config.twilioPhoneNumber };
  const schedule = req.sendAt ? { scheduleType: 'fixed' as const, sendAt: req.sendAt } : {};
  const message = await client.messages.create({
    to: req.to,
    body: req.body,
    statusCallback: req.statusCallback,
    ...sender,
    ...schedule,
  });
  return { sid: message.sid, status: message.status };
}

export async function cancelSms(client: Twilio, sid: string): Promise<void> {
  await client.messages(sid).update({ status: 'canceled' });
}
