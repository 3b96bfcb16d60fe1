import { SANDBOX_SIGNING_KEYS } from './sendgrid-signing';

/** Sandbox settings, read from the same environment variables as the functions. */
export interface SandboxSettings {
  port: number;
  accountSid: string;
  authToken: string;
  twilioPhoneNumber: string;
  sendgridApiKey: string;
  segmentWriteKey: string;
  segmentSpaceId: string;
  segmentProfileApiToken: string;
  preferredChannelTrait: string;
  /** where the functions are served; simulated webhooks are posted here */
  functionsUrl: string;
  inboundSmsUrl: string;
  emailEventsUrl: string;
  sendgridWebhookUsername?: string;
  sendgridWebhookPassword?: string;
  simulate: boolean;
  /** the time zone of a contact with none of its own (a contact's local hour decides engageByHour) */
  defaultTimezone?: string;
  /** the account's wiring at start (account.ts): `wired` for npm start, `empty` for what `npm run setup` starts from */
  account: 'wired' | 'empty';
  /** the Serverless service a deploy created (its unique name, from .twilioserverlessrc) */
  serviceName: string;
  messagingServiceSid: string;
  segmentPublicApiToken: string;
  /** where the clock's offset is written for the functions to read (src/lib/clock.ts) */
  clockFile?: string;
  /** Twilio Functions' front door (functions-runtime.ts): this port forwards to twilio-run on the target */
  runtime?: { port: number; targetPort: number };
}

export const SANDBOX_DEFAULTS = {
  ACCOUNT_SID: 'AC00000000000000000000000000000000',
  AUTH_TOKEN: 'sandbox_auth_token_0000000000000',
  TWILIO_PHONE_NUMBER: '+15005550006',
  MESSAGING_SERVICE_SID: 'MG00000000000000000000000000000000',
  SENDGRID_API_KEY: 'SG.sandbox.key',
  SENDGRID_FROM_EMAIL: 'notifications@example.com',
  SENDGRID_WEBHOOK_USERNAME: 'sendgrid',
  SENDGRID_WEBHOOK_PASSWORD: 'sandbox-webhook-password',
  SENDGRID_WEBHOOK_PUBLIC_KEY: SANDBOX_SIGNING_KEYS.publicKey,
  SEGMENT_WRITE_KEY: 'sandbox-write-key',
  SEGMENT_SPACE_ID: 'spa_sandbox',
  SEGMENT_PROFILE_API_TOKEN: 'sandbox-profile-token',
  NOTIFY_API_KEY: 'sandbox-notify-api-key',
  STUDIO_API_KEY: 'sandbox-studio-api-key',
  INSIGHTS_API_KEY: 'sandbox-insights-api-key',
  SEGMENT_PUBLIC_API_TOKEN: 'sandbox-public-api-token',
} as const;

export function settingsFromEnv(env: NodeJS.ProcessEnv): SandboxSettings {
  const get = (name: keyof typeof SANDBOX_DEFAULTS) => env[name] || SANDBOX_DEFAULTS[name];
  const functionsUrl = (env.PUBLIC_BASE_URL || env.SANDBOX_FUNCTIONS_URL || 'http://localhost:3000').replace(
    /\/+$/,
    '',
  );
  return {
    port: Number(env.SANDBOX_PORT || 3001),
    accountSid: get('ACCOUNT_SID'),
    authToken: get('AUTH_TOKEN'),
    twilioPhoneNumber: get('TWILIO_PHONE_NUMBER'),
    sendgridApiKey: get('SENDGRID_API_KEY'),
    segmentWriteKey: get('SEGMENT_WRITE_KEY'),
    segmentSpaceId: get('SEGMENT_SPACE_ID'),
    segmentProfileApiToken: get('SEGMENT_PROFILE_API_TOKEN'),
    preferredChannelTrait: env.PREFERRED_CHANNEL_TRAIT || 'preferred_channel',
    functionsUrl,
    inboundSmsUrl: env.SANDBOX_INBOUND_SMS_URL || `${functionsUrl}/sms/inbound`,
    emailEventsUrl: env.SANDBOX_EMAIL_EVENTS_URL || `${functionsUrl}/email/events`,
    sendgridWebhookUsername: get('SENDGRID_WEBHOOK_USERNAME'),
    sendgridWebhookPassword: get('SENDGRID_WEBHOOK_PASSWORD'),
    simulate: (env.SANDBOX_SIMULATE ?? 'on') !== 'off',
    account: env.SANDBOX_ACCOUNT === 'empty' ? 'empty' : 'wired',
    defaultTimezone: env.DEFAULT_TIMEZONE || undefined,
    serviceName: env.SANDBOX_SERVICE_NAME || 'channel-optimized-notifications',
    messagingServiceSid: get('MESSAGING_SERVICE_SID'),
    segmentPublicApiToken: get('SEGMENT_PUBLIC_API_TOKEN'),
    clockFile: env.SANDBOX_CLOCK_FILE || undefined,
    runtime:
      env.SANDBOX_RUNTIME_PORT && env.SANDBOX_RUNTIME_TARGET_PORT
        ? { port: Number(env.SANDBOX_RUNTIME_PORT), targetPort: Number(env.SANDBOX_RUNTIME_TARGET_PORT) }
        : undefined,
  };
}

/** Loopback host names: where the sandbox listens, and where it may send. */
export const isLoopbackHost = (hostname: string) =>
  hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]' || hostname === '::1';

/** Credentials the sandbox would sign or forward with: it runs with its own only. */
const CREDENTIALS = [
  'ACCOUNT_SID',
  'AUTH_TOKEN',
  'SENDGRID_API_KEY',
  'SENDGRID_WEBHOOK_PASSWORD',
  'SEGMENT_WRITE_KEY',
  'SEGMENT_PROFILE_API_TOKEN',
  'NOTIFY_API_KEY',
  'STUDIO_API_KEY',
  'INSIGHTS_API_KEY',
] as const;

/**
 * Why the sandbox must not start with this environment, or undefined. It signs Twilio callbacks
 * with AUTH_TOKEN (POST /sandbox/twilio-callback) and its dashboard forwards sends with
 * NOTIFY_API_KEY: given real credentials or a public PUBLIC_BASE_URL, a web page the developer
 * visits could make it sign for, or send through, the live account.
 */
export function unsafeEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  const real = CREDENTIALS.filter((name) => env[name] && env[name] !== SANDBOX_DEFAULTS[name]);
  if (real.length) {
    return `${real.join(', ')} ${real.length > 1 ? 'are' : 'is'} not the sandbox's own: the sandbox signs and forwards with these, so it runs only with its own credentials (unset them, or set SANDBOX_NO_DOTENV=1 to ignore .env)`;
  }
  for (const name of [
    'PUBLIC_BASE_URL',
    'SANDBOX_FUNCTIONS_URL',
    'SANDBOX_INBOUND_SMS_URL',
    'SANDBOX_EMAIL_EVENTS_URL',
  ]) {
    const value = env[name];
    if (!value) continue;
    let host: string;
    try {
      host = new URL(value).hostname;
    } catch {
      return `${name} is not a URL`;
    }
    if (!isLoopbackHost(host))
      return `${name} (${host}) is not local: the sandbox only calls functions on this machine`;
  }
  return undefined;
}
