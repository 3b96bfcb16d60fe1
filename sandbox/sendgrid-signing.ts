/**
 * SendGrid's Signed Event Webhook, as the sandbox signs it: ECDSA P-256 with SHA-256 over the
 * timestamp header followed by the raw body, base64 DER in X-Twilio-Email-Event-Webhook-Signature.
 * The body is written as SendGrid writes it: compact JSON, one event per line ("},\r\n{"), and a
 * closing CRLF.
 *
 * The wired account's webhook signs with a fixed key pair whose public half is SANDBOX_DEFAULTS'
 * SENDGRID_WEBHOOK_PUBLIC_KEY (published: the sandbox's key signs nothing real); a webhook whose
 * signing `npm run setup` turns on gets a key pair of its own, as SendGrid gives one.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { emailBinding } from '../src/lib/channels/email';
import { sendgridBodyOf } from '../src/lib/http/auth';

export interface SigningKeys {
  /** base64 DER (SubjectPublicKeyInfo): what SendGrid shows and the functions verify with */
  publicKey: string;
  /** base64 DER (PKCS #8) */
  privateKey: string;
}

export const SANDBOX_SIGNING_KEYS: SigningKeys = {
  publicKey:
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDU4FEzryhIOMl4DFEN7OY0MmklMutVvhQKsyBMAyXv0cq4cRkg2Bd4/ydT0bDhdadVRtFffTOoefMz2FAWA4Ag==',
  privateKey:
    'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguH968K1VLH2oDzrfMaiHYpqc25TCOwtIl4s5qLOJBEWhRANCAAQNTgUTOvKEg4yXgMUQ3s5jQyaSUy61W+FAqzIEwDJe/RyrhxGSDYF3j/J1PRsOF1p1VG0V99M6h58zPYUBYDgC',
};

export function newSigningKeys(): SigningKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
  };
}

/** An Event Webhook batch's body as SendGrid writes it (the layout the functions verify against). */
export const eventBatchBody = sendgridBodyOf;

/** The signature headers of `body`, signed at `timestamp` (Unix seconds). */
export function signatureHeaders(keys: SigningKeys, body: string, timestamp: number): Record<string, string> {
  const key = createPrivateKey({ key: Buffer.from(keys.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  const signature = sign('sha256', Buffer.from(`${timestamp}${body}`), key).toString('base64');
  return {
    'X-Twilio-Email-Event-Webhook-Signature': signature,
    'X-Twilio-Email-Event-Webhook-Timestamp': String(timestamp),
  };
}

/**
 * A batch of events as the sandbox's Event Webhook posts it, for tests and benches that make their
 * own: each event naming a notification and user bound as /notify's emails bind it (unless it has a
 * binding), SendGrid's body layout, Basic credentials and the wired webhook's signature.
 */
export function sendgridPostOf(
  events: Array<Record<string, unknown>>,
  opts: { authToken: string; basic: string; timestamp?: number },
): { body: string; headers: Record<string, string> } {
  const bound = events.map((e) =>
    typeof e.notification_id === 'string' && typeof e.user_id === 'string' && !('binding' in e)
      ? { ...e, binding: emailBinding(opts.authToken, e.notification_id, e.user_id) }
      : e,
  );
  const body = eventBatchBody(bound);
  const at = opts.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Basic ${Buffer.from(opts.basic).toString('base64')}`,
      ...signatureHeaders(SANDBOX_SIGNING_KEYS, body, at),
    },
  };
}
