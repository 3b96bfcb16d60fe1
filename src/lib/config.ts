/**
 * Service configuration, read from the Functions context (which holds the
 * environment variables in .env locally and the service's variables when
 * deployed). Every name here is documented in .env.example.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail = 'is not set',
  ) {
    super(`Missing configuration: environment variable ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

export interface Config {
  accountSid: string;
  authToken: string;
  twilioPhoneNumber?: string;
  messagingServiceSid?: string;
  sendgridApiKey: string;
  sendgridFromEmail: string;
  sendgridWebhookUsername?: string;
  sendgridWebhookPassword?: string;
  segmentWriteKey: string;
  segmentSpaceId?: string;
  segmentProfileApiToken?: string;
  preferredChannelTrait: string;
  syncServiceSid: string;
  notifyApiKey?: string;
  publicBaseUrl?: string;
  defaultLocale: string;
  twilioApiBaseUrl?: string;
  sendgridApiBaseUrl: string;
  segmentApiBaseUrl: string;
  segmentProfilesBaseUrl: string;
  machineDetection?: string;
  /** e.g. "21:00-08:00", in the user's time zone */
  quietHours?: string;
  defaultTimezone: string;
  /** <Say> voices chosen per language (VOICE_JA, VOICE_EN); unset: the built-in voice */
  voices: Partial<Record<'ja' | 'en', string>>;
  /** SMS bodies longer than this many segments are warned about (SMS_MAX_SEGMENTS, default 4) */
  smsMaxSegments: number;
  /** refuse such bodies with 400 instead (SMS_MAX_SEGMENTS_STRICT=true) */
  smsMaxSegmentsStrict: boolean;
  /** seconds between a warm container's recovery sweeps (RECOVERY_SWEEP_SECONDS, default 30; 0: only POST /recover) */
  recoverySweepSeconds: number;
  /** the local sandbox's clock (set by the local launcher only; see clock.ts) */
  sandboxClockFile?: string;
  /** learned (default): the learning router; trait: the Segment preferred-channel trait, else random */
  routingPolicy: 'learned' | 'trait';
  /** evidence fades by half over this many days (EVIDENCE_HALF_LIFE_DAYS, default 30) */
  evidenceHalfLifeDays: number;
}

function value(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function required(env: Env, name: string): string {
  const v = value(env, name);
  if (!v) throw new ConfigError(name);
  return v;
}

function baseUrl(env: Env, name: string, fallback: string): string;
function baseUrl(env: Env, name: string): string | undefined;
function baseUrl(env: Env, name: string, fallback?: string): string | undefined {
  const v = value(env, name) ?? fallback;
  if (v === undefined) return undefined;
  try {
    new URL(v);
  } catch {
    throw new ConfigError(name, `is not a URL: ${v}`);
  }
  return v.replace(/\/+$/, '');
}

function wholeNumber(env: Env, name: string, fallback: number, min: 0 | 1): number {
  const v = value(env, name);
  if (v === undefined) return fallback;
  if (!/^(0|[1-9]\d{0,3})$/.test(v) || Number(v) < min) {
    throw new ConfigError(name, `must be a whole number from ${min}, not ${v}`);
  }
  return Number(v);
}

function flag(env: Env, name: string): boolean {
  const v = value(env, name);
  if (v === undefined || /^(false|0|no)$/i.test(v)) return false;
  if (/^(true|1|yes)$/i.test(v)) return true;
  throw new ConfigError(name, `must be true or false, not ${v}`);
}

/** Answering-machine detection is on unless turned off: escalation needs to know a machine answered. */
function machineDetection(v: string | undefined): string | undefined {
  if (v === undefined) return 'Enable';
  if (/^(off|none|false)$/i.test(v)) return undefined;
  if (!['Enable', 'DetectMessageEnd'].includes(v))
    throw new ConfigError('MACHINE_DETECTION', `must be Enable, DetectMessageEnd or off, not ${v}`);
  return v;
}

function routingPolicy(v: string | undefined): 'learned' | 'trait' {
  if (v === undefined || v === 'learned' || v === 'trait') return v ?? 'learned';
  throw new ConfigError('ROUTING_POLICY', `must be learned or trait, not ${v}`);
}

/** Reads and checks the whole configuration; the first missing variable is named. */
export function loadConfig(env: Env): Config {
  const twilioPhoneNumber = value(env, 'TWILIO_PHONE_NUMBER');
  const messagingServiceSid = value(env, 'MESSAGING_SERVICE_SID');
  const config: Config = {
    accountSid: required(env, 'ACCOUNT_SID'),
    authToken: required(env, 'AUTH_TOKEN'),
    twilioPhoneNumber,
    messagingServiceSid,
    sendgridApiKey: required(env, 'SENDGRID_API_KEY'),
    sendgridFromEmail: required(env, 'SENDGRID_FROM_EMAIL'),
    sendgridWebhookUsername: value(env, 'SENDGRID_WEBHOOK_USERNAME'),
    sendgridWebhookPassword: value(env, 'SENDGRID_WEBHOOK_PASSWORD'),
    segmentWriteKey: required(env, 'SEGMENT_WRITE_KEY'),
    segmentSpaceId: value(env, 'SEGMENT_SPACE_ID'),
    segmentProfileApiToken: value(env, 'SEGMENT_PROFILE_API_TOKEN'),
    preferredChannelTrait: value(env, 'PREFERRED_CHANNEL_TRAIT') ?? 'preferred_channel',
    syncServiceSid: value(env, 'SYNC_SERVICE_SID') ?? 'default',
    notifyApiKey: value(env, 'NOTIFY_API_KEY'),
    publicBaseUrl: baseUrl(env, 'PUBLIC_BASE_URL'),
    defaultLocale: value(env, 'DEFAULT_LOCALE') ?? 'en-US',
    twilioApiBaseUrl: baseUrl(env, 'TWILIO_API_BASE_URL'),
    sendgridApiBaseUrl: baseUrl(env, 'SENDGRID_API_BASE_URL', 'https://api.sendgrid.com'),
    segmentApiBaseUrl: baseUrl(env, 'SEGMENT_API_BASE_URL', 'https://api.segment.io'),
    segmentProfilesBaseUrl: baseUrl(env, 'SEGMENT_PROFILES_BASE_URL', 'https://profiles.segment.com'),
    machineDetection: machineDetection(value(env, 'MACHINE_DETECTION')),
    quietHours: value(env, 'QUIET_HOURS'),
    defaultTimezone: value(env, 'DEFAULT_TIMEZONE') ?? 'UTC',
    voices: { ja: value(env, 'VOICE_JA'), en: value(env, 'VOICE_EN') },
    smsMaxSegments: wholeNumber(env, 'SMS_MAX_SEGMENTS', 4, 1),
    smsMaxSegmentsStrict: flag(env, 'SMS_MAX_SEGMENTS_STRICT'),
    recoverySweepSeconds: wholeNumber(env, 'RECOVERY_SWEEP_SECONDS', 30, 0),
    sandboxClockFile: value(env, 'SANDBOX_CLOCK_FILE'),
    routingPolicy: routingPolicy(value(env, 'ROUTING_POLICY')),
    evidenceHalfLifeDays: wholeNumber(env, 'EVIDENCE_HALF_LIFE_DAYS', 30, 1),
  };
  if (!twilioPhoneNumber && !messagingServiceSid) {
    throw new ConfigError('TWILIO_PHONE_NUMBER', 'is not set (set it or MESSAGING_SERVICE_SID)');
  }
  return config;
}
