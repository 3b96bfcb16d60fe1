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
  SEGMENT_WRITE_KEY: 'sandbox-write-key',
  SEGMENT_SPACE_ID: 'spa_sandbox',
  SEGMENT_PROFILE_API_TOKEN: 'sandbox-profile-token',
  NOTIFY_API_KEY: 'sandbox-notify-api-key',
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
    clockFile: env.SANDBOX_CLOCK_FILE || undefined,
    runtime:
      env.SANDBOX_RUNTIME_PORT && env.SANDBOX_RUNTIME_TARGET_PORT
        ? { port: Number(env.SANDBOX_RUNTIME_PORT), targetPort: Number(env.SANDBOX_RUNTIME_TARGET_PORT) }
        : undefined,
  };
}
