import { endpoint } from '../../lib/http/endpoint';
import { smsStatus } from '../../lib/webhooks/sms';

/** Message status callback (StatusCallback of every SMS we send). */
export const handler = endpoint('/sms/status', smsStatus);
