import { requireTwilioSignature } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/app/recovery';
import { smsStatus } from '../../lib/app/webhooks/sms';

/** Message status callback (StatusCallback of every SMS we send). */
export const handler = endpoint('/sms/status', withRecovery(smsStatus), { auth: requireTwilioSignature });
