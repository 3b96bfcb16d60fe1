import { requireTwilioSignature } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/app/recovery';
import { smsInbound } from '../../lib/app/webhooks/sms';

/** The phone number's / Messaging Service's "A message comes in" webhook. */
export const handler = endpoint('/sms/inbound', withRecovery(smsInbound), {
  auth: requireTwilioSignature,
  twiml: true,
});
