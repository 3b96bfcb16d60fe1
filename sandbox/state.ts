import type { Channel } from '../src/lib/channel-list';
import type { AccountState } from './account';
import { InvocationLog } from './functions-runtime';
import { SyncLimits } from './sync-limits';
import { UpstreamLimits } from './upstream-limits';
import { Clock } from './clock';
import type { WhatsAppState } from './whatsapp';

/**
 * the product's one list of channels, and WhatsApp, which the sandbox serves as Twilio does before
 * the product sends it: what a simulated contact can be reached on
 */
export type SimulatedChannel = Channel | 'WHATSAPP';
export type { Channel };

/** How a simulated recipient behaves; set per phone number or email address. */
export interface ContactBehaviour {
  /** probability (0..1) of engaging per channel: SMS reply, call answered and confirmed, email open+click */
  engage?: Partial<Record<SimulatedChannel, number>>;
  /**
   * the same by the contact's local hour (24 probabilities, hours 0–23) for the channels listed; `engage`
   * stays the flat default for the others. The hour is the sandbox clock's at delivery, in `timezone`,
   * else the profile trait `timezone` of the user whose phone or email this is, else DEFAULT_TIMEZONE.
   */
  engageByHour?: Partial<Record<SimulatedChannel, number[]>>;
  timezone?: string;
  /** channels on which this contact cannot be reached (SMS undelivered, call no-answer, email bounce) */
  unreachable?: Channel[];
  /** the SMS reply text when engaging on SMS (STOP/START are treated as opt-out keywords) */
  reply?: string;
  /** who answers a call that is answered: a person, voicemail or a fax */
  answeredBy?: 'human' | 'machine_start' | 'machine_end_beep' | 'fax';
  /** outcome of a call that is not answered */
  callOutcome?: 'no-answer' | 'busy' | 'failed';
  /** Apple Mail Privacy Protection: every delivered email gets an automatic (machine) open */
  machineOpen?: boolean;
  /** the number is on Twilio's opt-out list already: message creation fails with 21610 */
  optedOut?: boolean;
  /** the number cannot receive SMS: message creation fails with Twilio error 21614 */
  invalidNumber?: boolean;
  /** digits pressed when confirming a call; default "1" */
  digits?: string;
  /** false: the number has no WhatsApp account (a WhatsApp message fails with 63003) */
  whatsapp?: boolean;
  /** whether a delivered WhatsApp message is read (a `read` status callback); default true */
  whatsappRead?: boolean;
  /** engaging on WhatsApp presses the template's first quick-reply button instead of writing `reply` */
  pressButton?: boolean;
}

export interface Recorded<T = Record<string, unknown>> {
  /** request parameters as received */
  request: Record<string, unknown>;
  /** the resource as the API returned it (updated as its state changes) */
  resource: T;
  /** when a scheduled message becomes due (sandbox clock, ms) */
  sendAt?: number;
}

/** What every Sync resource (document, list, list item) carries. */
interface SyncResource {
  account_sid: string;
  service_sid: string;
  url: string;
  revision: string;
  date_expires: string | null;
  date_created: string;
  date_updated: string;
  created_by: string;
  /** when its TTL ends (sandbox clock, ms) */
  expiresAt?: number;
}

export interface SyncDocument extends SyncResource {
  sid: string;
  unique_name: string | null;
  links: Record<string, string>;
  data: unknown;
}

export interface SyncListItem extends SyncResource {
  index: number;
  list_sid: string;
  data: unknown;
}

export interface SyncList extends SyncResource {
  sid: string;
  unique_name: string | null;
  links: Record<string, string>;
  items: SyncListItem[];
  nextIndex: number;
}

export interface ScheduledEmail {
  messageId: string;
  batchId?: string;
  sendAt?: number;
  status: 'scheduled' | 'sent' | 'canceled';
}

export interface CallbackRecord {
  kind: string;
  url: string;
  params: Record<string, unknown>;
  status: number | 'error' | 'dropped';
  at: string;
}

export interface Fault {
  status?: number;
  latencyMs?: number;
  drop?: boolean;
  body?: unknown;
  headers?: Record<string, string>;
  /** only requests with this method … */
  method?: string;
  /** … and whose path contains this text are faulted (others pass untouched) */
  path?: string;
  remaining: number;
}

export type Api = 'twilio' | 'sync' | 'sendgrid' | 'segment' | 'profiles';

export class SandboxState {
  readonly clock: Clock;
  messages: Recorded[] = [];
  calls: Recorded[] = [];
  emails: Array<Recorded & { schedule: ScheduledEmail }> = [];
  sendgridBatches = new Map<string, { status?: 'cancel' | 'pause' }>();
  syncDocuments = new Map<string, SyncDocument>();
  syncLists = new Map<string, SyncList>();
  readonly syncLimits = new SyncLimits();
  /** Twilio's account concurrency and each API's latency */
  readonly upstream = new UpstreamLimits();
  /** every function invocation through the runtime's front door (functions-runtime.ts) */
  readonly invocations = new InvocationLog();
  segmentEvents: Array<Record<string, unknown>> = [];
  segmentRejected: Array<{ reason: string; payload: unknown }> = [];
  segmentMessageIds = new Map<string, number>();
  profileTraits = new Map<string, Record<string, unknown>>();
  contacts = new Map<string, ContactBehaviour>();
  /** phone numbers that replied STOP (per Twilio's opt-out list) */
  optedOut = new Set<string>();
  callbacks: CallbackRecord[] = [];
  faults = new Map<Api, Fault>();
  requestCounts: Record<string, number> = {};
  simulate: boolean;
  /** the account's wiring (numbers, services, webhooks): kept across resets, as an account's is */
  account!: AccountState;
  /** the account's WhatsApp senders and templates (kept across resets), each user's window (not) */
  whatsapp!: WhatsAppState;

  constructor(simulate: boolean, clockFile?: string) {
    this.simulate = simulate;
    this.clock = new Clock(clockFile);
  }

  reset(simulate: boolean): void {
    this.messages = [];
    this.calls = [];
    this.emails = [];
    this.sendgridBatches.clear();
    this.syncDocuments.clear();
    this.syncLists.clear();
    this.syncLimits.reset();
    this.upstream.resetStats();
    this.invocations.reset();
    this.segmentEvents = [];
    this.segmentRejected = [];
    this.segmentMessageIds.clear();
    this.profileTraits.clear();
    this.contacts.clear();
    this.optedOut.clear();
    this.whatsapp?.reset();
    this.callbacks = [];
    this.faults.clear();
    this.requestCounts = {};
    this.clock.reset();
    this.simulate = simulate;
  }

  /** How the contact behind an address behaves (a `whatsapp:` address is its phone number's contact). */
  contact(address: string): ContactBehaviour {
    return this.contacts.get(address.replace(/^whatsapp:/, '').toLowerCase()) ?? {};
  }
}
