/**
 * Service configuration, read from the Functions context (which holds the
 * environment variables in .env locally and the service's variables when
 * deployed). Every name here is documented in .env.example.
 */
import { type Channel, parseChannel } from './channel-list';
import { LOCALE_PATTERN } from './i18n';
import { parseQuietHours } from './quiet-hours';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail = 'is not set',
  ) {
    super(`Missing configuration: environment variable ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

/** Every problem of a configuration at once, so that one look at the message fixes them all. */
export class ConfigErrors extends ConfigError {
  constructor(readonly problems: ConfigError[]) {
    super(problems[0].variable);
    const lines = problems.map(
      (p) => `${p.variable} ${p.message.replace(/^Missing configuration: environment variable \S+ /, '')}`,
    );
    this.message = `Configuration: ${problems.length} variable${problems.length > 1 ? 's' : ''} to fix: ${lines.join('; ')}`;
    this.name = 'ConfigErrors';
  }
}

export type Env = Record<string, string | undefined>;

export interface Config {
  accountSid: string;
  authToken: string;
  twilioPhoneNumber?: string;
  messagingServiceSid?: string;
  /** the WhatsApp sender (WHATSAPP_SENDER, whatsapp:+E164); unset: no WhatsApp */
  whatsappSender?: string;
  /** WhatsApp templates by name (WHATSAPP_TEMPLATE_<NAME>=HX…, written by npm run setup) */
  whatsappTemplates: Record<string, string>;
  /** a WhatsApp `read` counts as engagement (WHATSAPP_READ_ENGAGES, default false: a read receipt can be automatic) */
  whatsappReadEngages: boolean;
  sendgridApiKey: string;
  sendgridFromEmail: string;
  sendgridWebhookUsername?: string;
  sendgridWebhookPassword?: string;
  /** SendGrid's Signed Event Webhook verification key (base64 DER); set: every batch must be signed */
  sendgridWebhookPublicKey?: string;
  segmentWriteKey: string;
  segmentSpaceId?: string;
  segmentProfileApiToken?: string;
  preferredChannelTrait: string;
  syncServiceSid: string;
  notifyApiKey?: string;
  /** the key Studio's flow carries (Basic studio:KEY): /notify and /notification only */
  studioApiKey?: string;
  /** a read-only key for /insights and its page */
  insightsApiKey?: string;
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
  /** upstream requests one invocation keeps in flight at most (UPSTREAM_CONCURRENCY, default 40; the account allows ~100 for all) */
  upstreamConcurrency: number;
  /** send the text of SMS replies to Segment as properties.reply (TRACK_REPLY_TEXT, default false) */
  trackReplyText: boolean;
  /** the local sandbox's clock (set by the local launcher only; see clock.ts) */
  sandboxClockFile?: string;
  /** learned (default): the learning router; trait: the Segment preferred-channel trait, else random */
  routingPolicy: 'learned' | 'trait';
  /** the learner also weighs the band of the user's local day the step goes out in (ROUTING_TIME_BANDS, default on) */
  timeBands: boolean;
  /** evidence fades by half over this many days (EVIDENCE_HALF_LIFE_DAYS, default 30) */
  evidenceHalfLifeDays: number;
  /** the share of users (0–50 %, by a stable hash) routed by the baseline instead of the learner (HOLDOUT_PERCENT) */
  holdoutPercent: number;
  /** the baseline the holdout is routed by: the preferred-channel trait, or random among reachable channels */
  holdoutPolicy: 'trait' | 'random';
  /** at most `limit` non-urgent notifications per user within `windowMs` (FREQUENCY_CAP, e.g. 3/24h; unset: off) */
  frequencyCap?: FrequencyCap;
  /** the currency costs are estimated and reported in (COST_CURRENCY, default USD): the Pricing API's price_unit */
  costCurrency: string;
  /** what one email costs (EMAIL_COST, default 0), from the SendGrid plan */
  emailCost: number;
  /** unit prices that replace the Pricing API's (CHANNEL_COSTS: SMS per segment, CALL per minute, EMAIL per email) */
  channelCosts: Partial<Record<Channel, number>>;
  /** what one engagement is worth, in COST_CURRENCY (ENGAGEMENT_VALUE): set, routing maximises value − cost */
  engagementValue?: number;
}

export interface FrequencyCap {
  limit: number;
  windowMs: number;
  /** as configured, for answers and events ("3/24h") */
  text: string;
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

function locale(v: string | undefined): string {
  if (v === undefined) return 'en-US';
  if (!LOCALE_PATTERN.test(v))
    throw new ConfigError('DEFAULT_LOCALE', `must be a language tag such as ja-JP, not ${v}`);
  return v;
}

function quietHours(v: string | undefined): string | undefined {
  if (v !== undefined && v !== 'none' && !parseQuietHours(v))
    throw new ConfigError('QUIET_HOURS', `must be HH:MM-HH:MM such as 21:00-08:00 (or none), not ${v}`);
  return v;
}

function timezone(v: string | undefined): string {
  if (v === undefined) return 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: v });
  } catch {
    throw new ConfigError('DEFAULT_TIMEZONE', `must be an IANA time zone such as Asia/Tokyo, not ${v}`);
  }
  return v;
}

/** An EC public key as SendGrid shows it: base64 of its DER (SubjectPublicKeyInfo, "MFkw…" for P-256). */
function publicKey(v: string | undefined): string | undefined {
  if (v !== undefined && !/^MF[A-Za-z0-9+/]{60,200}={0,2}$/.test(v))
    throw new ConfigError(
      'SENDGRID_WEBHOOK_PUBLIC_KEY',
      'must be the base64 key SendGrid shows for a signed Event Webhook (MFkw…)',
    );
  return v;
}

/** The local sandbox's account (sandbox/settings.ts): the only one whose keys may be short. */
const SANDBOX_ACCOUNT_SID = `AC${'0'.repeat(32)}`;
/** what `npm run setup` generates: 24 random bytes, base64url */
export const MIN_SECRET_LENGTH = 32;

/**
 * Why a key that lets callers in is too weak for a live account, or undefined: the sandbox's
 * published defaults and anything short (a README example pasted as is can send SMS and calls
 * to any number). One rule for the service, setup (which replaces such a key) and doctor.
 */
export function weakSecret(accountSid: string | undefined, v: string | undefined): string | undefined {
  // no account yet (named missing on its own) or the sandbox's: nothing to judge against
  if (v === undefined || !accountSid || accountSid === SANDBOX_ACCOUNT_SID) return undefined;
  if (v.length < MIN_SECRET_LENGTH)
    return `is too weak for a live account: at least ${MIN_SECRET_LENGTH} characters (npm run setup generates one)`;
  return undefined;
}

function secret(env: Env, name: string): string | undefined {
  const v = value(env, name);
  const weak = weakSecret(value(env, 'ACCOUNT_SID'), v);
  if (weak) throw new ConfigError(name, weak);
  return v;
}

function onOff(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '' || v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new ConfigError(name, `must be on or off, not ${v}`);
}

function holdoutPercent(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d{1,2}(\.\d+)?$/.test(v) || Number(v) > 50)
    throw new ConfigError('HOLDOUT_PERCENT', `must be a number from 0 to 50, not ${v}`);
  return Number(v);
}

const CAP_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "3/24h": at most 3 in any 24 hours (units m, h, d; the window at most 35 days, the limit 1–20). */
export function parseFrequencyCap(v: string | undefined): FrequencyCap | undefined {
  if (v === undefined || /^(off|none)$/i.test(v)) return undefined;
  const m = /^(\d{1,2})\/(\d{1,4})([mhd])$/.exec(v);
  const limit = Number(m?.[1]);
  const windowMs = m ? Number(m[2]) * CAP_UNITS[m[3]] : 0;
  if (!m || limit < 1 || limit > 20 || windowMs < 60_000 || windowMs > 35 * 86_400_000)
    throw new ConfigError('FREQUENCY_CAP', `must be like 3/24h (1–20 per 1m–35d; units m, h, d) or off, not ${v}`);
  return { limit, windowMs, text: v };
}

/** an amount of money (a price, a value): up to nine digits each side of the point */
export const DECIMAL = /^\d{1,9}(\.\d{1,9})?$/;

/** A non-negative decimal amount (a price, a value); undefined when unset. */
function amount(name: string, v: string | undefined, positive = false): number | undefined {
  if (v === undefined) return undefined;
  if (!DECIMAL.test(v) || (positive && Number(v) === 0))
    throw new ConfigError(
      name,
      `must be a ${positive ? 'positive' : 'non-negative'} decimal amount such as 0.05, not ${v}`,
    );
  return Number(v);
}

function currency(v: string | undefined): string {
  if (v === undefined) return 'USD';
  if (!/^[A-Z]{3}$/.test(v))
    throw new ConfigError('COST_CURRENCY', `must be an ISO 4217 code such as USD or JPY, not ${v}`);
  return v;
}

/** "SMS=0.08,CALL=0.15": unit prices per channel (SMS per segment, CALL per minute, EMAIL per email). */
export function parseChannelCosts(v: string | undefined): Partial<Record<Channel, number>> {
  if (v === undefined) return {};
  const out: Partial<Record<Channel, number>> = {};
  for (const part of v.split(',')) {
    const [name, price] = part.split('=').map((x) => x.trim());
    const channel = parseChannel(name);
    if (!channel || price === undefined || !DECIMAL.test(price) || out[channel] !== undefined)
      throw new ConfigError(
        'CHANNEL_COSTS',
        `must be like SMS=0.08,CALL=0.15,EMAIL=0.0002 (each channel once), not ${v}`,
      );
    out[channel] = Number(price);
  }
  return out;
}

function whatsappSender(v: string | undefined): string | undefined {
  if (v !== undefined && !/^whatsapp:\+[1-9]\d{1,14}$/.test(v))
    throw new ConfigError(
      'WHATSAPP_SENDER',
      `must be the sender as Twilio names it, whatsapp:+E164 (e.g. whatsapp:+81312345678), not ${v}`,
    );
  return v;
}

/** A Content SID: what WhatsApp sends outside the 24-hour window (a template). */
export const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;

/** The variable setup writes a WhatsApp template's Content SID to, by the name the project uses. */
export const whatsappTemplateVariable = (name: string) => `WHATSAPP_TEMPLATE_${name.toUpperCase()}`;

/** WHATSAPP_TEMPLATE_<NAME>=HX…: the templates the project sends, by the name it uses (lower case). */
function whatsappTemplates(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(env)) {
    const m = /^WHATSAPP_TEMPLATE_([A-Z0-9_]+)$/.exec(name);
    const v = m ? value(env, name) : undefined;
    if (!m || v === undefined) continue;
    if (!CONTENT_SID.test(v)) throw new ConfigError(name, `must be a Content SID (HX…), not ${v}`);
    out[m[1].toLowerCase()] = v;
  }
  return out;
}

/** One of two values (the first when unset). */
function either<A extends string, B extends string>(name: string, v: string | undefined, a: A, b: B): A | B {
  if (v === undefined || v === a) return a;
  if (v === b) return b;
  throw new ConfigError(name, `must be ${a} or ${b}, not ${v}`);
}

/** A variable's value, or (the problem recorded) a stand-in so that the others are checked too. */
type Check = <T>(read: () => T, standIn: T) => T;

/** The vendors: credentials, senders, keys, and the base URLs the sandbox overrides. */
function vendorSettings(env: Env, check: Check) {
  return {
    accountSid: check(() => required(env, 'ACCOUNT_SID'), ''),
    authToken: check(() => required(env, 'AUTH_TOKEN'), ''),
    twilioPhoneNumber: value(env, 'TWILIO_PHONE_NUMBER'),
    messagingServiceSid: value(env, 'MESSAGING_SERVICE_SID'),
    whatsappSender: check(() => whatsappSender(value(env, 'WHATSAPP_SENDER')), undefined),
    whatsappTemplates: check(() => whatsappTemplates(env), {}),
    sendgridApiKey: check(() => required(env, 'SENDGRID_API_KEY'), ''),
    sendgridFromEmail: check(() => required(env, 'SENDGRID_FROM_EMAIL'), ''),
    sendgridWebhookUsername: value(env, 'SENDGRID_WEBHOOK_USERNAME'),
    sendgridWebhookPassword: check(() => secret(env, 'SENDGRID_WEBHOOK_PASSWORD'), undefined),
    sendgridWebhookPublicKey: check(() => publicKey(value(env, 'SENDGRID_WEBHOOK_PUBLIC_KEY')), undefined),
    segmentWriteKey: check(() => required(env, 'SEGMENT_WRITE_KEY'), ''),
    segmentSpaceId: value(env, 'SEGMENT_SPACE_ID'),
    segmentProfileApiToken: value(env, 'SEGMENT_PROFILE_API_TOKEN'),
    syncServiceSid: value(env, 'SYNC_SERVICE_SID') ?? 'default',
    notifyApiKey: check(() => secret(env, 'NOTIFY_API_KEY'), undefined),
    studioApiKey: check(() => secret(env, 'STUDIO_API_KEY'), undefined),
    insightsApiKey: check(() => secret(env, 'INSIGHTS_API_KEY'), undefined),
    publicBaseUrl: check(() => baseUrl(env, 'PUBLIC_BASE_URL'), undefined),
    twilioApiBaseUrl: check(() => baseUrl(env, 'TWILIO_API_BASE_URL'), undefined),
    sendgridApiBaseUrl: check(
      () => baseUrl(env, 'SENDGRID_API_BASE_URL', 'https://api.sendgrid.com'),
      'https://api.sendgrid.com',
    ),
    segmentApiBaseUrl: check(
      () => baseUrl(env, 'SEGMENT_API_BASE_URL', 'https://api.segment.io'),
      'https://api.segment.io',
    ),
    segmentProfilesBaseUrl: check(
      () => baseUrl(env, 'SEGMENT_PROFILES_BASE_URL', 'https://profiles.segment.com'),
      'https://profiles.segment.com',
    ),
    sandboxClockFile: value(env, 'SANDBOX_CLOCK_FILE'),
  };
}

/** How the service sends, routes and learns. */
function behaviourSettings(env: Env, check: Check) {
  return {
    preferredChannelTrait: value(env, 'PREFERRED_CHANNEL_TRAIT') ?? 'preferred_channel',
    defaultLocale: check(() => locale(value(env, 'DEFAULT_LOCALE')), 'en-US'),
    machineDetection: check(() => machineDetection(value(env, 'MACHINE_DETECTION')), undefined),
    quietHours: check(() => quietHours(value(env, 'QUIET_HOURS')), undefined),
    defaultTimezone: check(() => timezone(value(env, 'DEFAULT_TIMEZONE')), 'UTC'),
    voices: { ja: value(env, 'VOICE_JA'), en: value(env, 'VOICE_EN') },
    smsMaxSegments: check(() => wholeNumber(env, 'SMS_MAX_SEGMENTS', 4, 1), 4),
    smsMaxSegmentsStrict: check(() => flag(env, 'SMS_MAX_SEGMENTS_STRICT'), false),
    recoverySweepSeconds: check(() => wholeNumber(env, 'RECOVERY_SWEEP_SECONDS', 30, 0), 30),
    upstreamConcurrency: check(() => wholeNumber(env, 'UPSTREAM_CONCURRENCY', 40, 1), 40),
    trackReplyText: check(() => flag(env, 'TRACK_REPLY_TEXT'), false),
    whatsappReadEngages: check(() => flag(env, 'WHATSAPP_READ_ENGAGES'), false),
    routingPolicy: check(() => either('ROUTING_POLICY', value(env, 'ROUTING_POLICY'), 'learned', 'trait'), 'learned'),
    evidenceHalfLifeDays: check(() => wholeNumber(env, 'EVIDENCE_HALF_LIFE_DAYS', 30, 1), 30),
    timeBands: check(() => onOff('ROUTING_TIME_BANDS', value(env, 'ROUTING_TIME_BANDS')), true),
    holdoutPercent: check(() => holdoutPercent(value(env, 'HOLDOUT_PERCENT')), 0),
    holdoutPolicy: check(() => either('HOLDOUT_POLICY', value(env, 'HOLDOUT_POLICY'), 'trait', 'random'), 'trait'),
    frequencyCap: check(() => parseFrequencyCap(value(env, 'FREQUENCY_CAP')), undefined),
    ...costSettings(env, check),
  };
}

/** What sends cost and what an engagement is worth (issue 31). */
function costSettings(env: Env, check: Check) {
  const channelCosts = check(() => parseChannelCosts(value(env, 'CHANNEL_COSTS')), {});
  const emailCost = check(() => amount('EMAIL_COST', value(env, 'EMAIL_COST')), undefined);
  if (emailCost !== undefined && channelCosts.EMAIL !== undefined)
    check(() => {
      throw new ConfigError('EMAIL_COST', 'and CHANNEL_COSTS both price email: set one');
    }, undefined);
  return {
    costCurrency: check(() => currency(value(env, 'COST_CURRENCY')), 'USD'),
    emailCost: emailCost ?? 0,
    channelCosts,
    engagementValue: check(() => amount('ENGAGEMENT_VALUE', value(env, 'ENGAGEMENT_VALUE'), true), undefined),
  };
}

/**
 * Reads and checks the whole configuration. Every missing or malformed
 * variable is named at once (ConfigErrors), never one per attempt.
 */
export function loadConfig(env: Env): Config {
  const problems: ConfigError[] = [];
  const check: Check = (read, standIn) => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
      return standIn;
    }
  };
  const config: Config = { ...vendorSettings(env, check), ...behaviourSettings(env, check) };
  const { twilioPhoneNumber, messagingServiceSid } = config;
  if (!twilioPhoneNumber && !messagingServiceSid) {
    problems.push(new ConfigError('TWILIO_PHONE_NUMBER', 'is not set (set it or MESSAGING_SERVICE_SID)'));
  }
  if (problems.length) throw new ConfigErrors(problems);
  return config;
}
