import { mailService, sendgridClient } from '../clients/sendgrid';
import type { Config } from '../config';

export interface EmailRequest {
  to: string;
  toName?: string;
  subject: string;
  text: string;
  html?: string;
  /** copied onto every Event Webhook event, so each one can be attributed */
  customArgs: Record<string, string>;
  /** unix seconds; SendGrid allows up to 72 h ahead */
  sendAt?: number;
  batchId?: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Sends through SendGrid with open and click tracking on; answers the X-Message-Id. */
export async function sendEmail(config: Config, req: EmailRequest): Promise<{ messageId: string }> {
  const html = req.html ?? `<p>${escapeHtml(req.text).replace(/\r?\n/g, '<br>')}</p>`;
  const [response] = await mailService(config).send({
    to: req.toName ? { email: req.to, name: req.toName } : req.to,
    from: config.sendgridFromEmail,
    subject: req.subject,
    text: req.text,
    html,
    customArgs: req.customArgs,
    trackingSettings: { openTracking: { enable: true }, clickTracking: { enable: true, enableText: true } },
    ...(req.sendAt !== undefined ? { sendAt: req.sendAt } : {}),
    ...(req.batchId ? { batchId: req.batchId } : {}),
  });
  const id = response.headers['x-message-id'];
  return { messageId: Array.isArray(id) ? id[0] : String(id ?? '') };
}

export async function createBatchId(config: Config): Promise<string> {
  const [, body] = await sendgridClient(config).request({ method: 'POST', url: '/v3/mail/batch' });
  return (body as { batch_id: string }).batch_id;
}

export async function cancelBatch(config: Config, batchId: string): Promise<void> {
  await sendgridClient(config).request({
    method: 'POST',
    url: '/v3/user/scheduled_sends',
    body: { batch_id: batchId, status: 'cancel' },
  });
}
