import { requireSendgridWebhook } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/app/recovery';
import { emailEvents } from '../../lib/app/webhooks/email';

/** SendGrid Event Webhook (Basic credentials in the webhook URL; its signature where a public key is set). */
export const handler = endpoint('/email/events', withRecovery(emailEvents), {
  auth: requireSendgridWebhook,
  bodyRequired: true,
});
