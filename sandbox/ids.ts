import { randomBytes } from 'node:crypto';

/** Twilio-style SID: two-letter prefix and 32 hex digits. */
export function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** SendGrid-style message id / event id (url-safe base64). */
export function sendgridId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export const E164 = /^\+[1-9]\d{1,14}$/;
