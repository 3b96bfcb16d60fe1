/**
 * WhatsApp through Twilio, as the sandbox serves it (issue 32): the account's WhatsApp senders and a
 * Messaging Service's ChannelSenders (Messaging v1), message templates and their WhatsApp approval
 * (the Content API, content.twilio.com, routed under /content), and what WhatsApp itself decides
 * when a message goes out:
 *
 * - addresses are `whatsapp:+E164`, from a registered WhatsApp sender (or a Messaging Service that
 *   holds one), else 63007;
 * - free text (`Body`) only within 24 hours of the user's last inbound WhatsApp message; outside
 *   it only an approved template (`ContentSid`, `ContentVariables`), else the message fails with
 *   63016, as a template's text sent as `Body` does;
 * - a template with its variables is at most 1,024 characters, else 63021;
 * - a number with no WhatsApp account fails with 63003;
 * - a message read by its recipient gets a `read` status callback; replies and quick-reply button
 *   presses (`ButtonPayload`) come to the sender's inbound URL as `whatsapp:` messages.
 *
 * The window and the outcome are decided when the message goes out (a scheduled one at its send
 * time), as WhatsApp decides them; what the API refuses at once (a malformed address, an unknown
 * Content SID, ContentVariables that are not a JSON object) is a 400.
 */
import { createHash } from 'node:crypto';
import { field, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { sid } from './ids';
import type { SandboxSettings } from './settings';
import { countryOf } from './pricing';
import { twilioError, v1Page } from './twilio-api';

export const WHATSAPP_ADDRESS = /^whatsapp:\+[1-9]\d{1,14}$/;
/** WhatsApp's limit on a template with its variables filled in */
export const MAX_TEMPLATE_CHARS = 1024;
/** the customer-service window: free text within this long of the user's last message */
export const WINDOW_MS = 24 * 3_600_000;

export type Approval = 'approved' | 'pending' | 'rejected' | 'unsubmitted' | 'received' | 'paused' | 'disabled';

export interface ContentTemplate {
  sid: string;
  friendly_name: string;
  language: string;
  /** default placeholder values, e.g. {"1": "name"} */
  variables: Record<string, string>;
  types: Record<string, Record<string, unknown>>;
  whatsapp: { name: string; category: string; status: Approval; rejection_reason: string };
  date_created: string;
  date_updated: string;
}

export interface ChannelSender {
  sid: string;
  /** whatsapp:+E164 */
  sender: string;
  /** the Messaging Service it is in, if any */
  service?: string;
  date_created: string;
  date_updated: string;
}

/** How WhatsApp's outcome of a send is told: a failure's error code and Twilio's message for it. */
export interface WhatsAppFailure {
  code: number;
  message: string;
}

/** A template's SID: the same in every sandbox for the same name, so that examples and tests can name it. */
export const sandboxTemplateSid = (name: string) =>
  `HX${createHash('sha256').update(`content:${name}`).digest('hex').slice(0, 32)}`;

const isoNow = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The text of a template: its first type's body, placeholders {{1}}, {{name}} filled from `values`. */
export function renderTemplate(t: ContentTemplate, values: Record<string, string>): string {
  const type = Object.values(t.types)[0] ?? {};
  const body = typeof type.body === 'string' ? type.body : '';
  return body.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, k: string) => values[k] ?? t.variables[k] ?? '');
}

/** The quick-reply buttons of a template (twilio/quick-reply), as WhatsApp shows them. */
export function buttonsOf(t: ContentTemplate | undefined): Array<{ id: string; title: string }> {
  const actions = t?.types['twilio/quick-reply']?.actions;
  return Array.isArray(actions) ? (actions as Array<{ id: string; title: string }>) : [];
}

/**
 * The account's WhatsApp: senders and templates (kept across resets, as an account's wiring is),
 * and each user's last inbound message (reset with the sandbox's other traffic).
 */
export class WhatsAppState {
  senders: ChannelSender[] = [];
  templates: ContentTemplate[] = [];
  /** whatsapp:+E164 → when it last wrote to us (sandbox clock, ms) */
  readonly lastInbound = new Map<string, number>();

  constructor(
    settings: SandboxSettings,
    private readonly now: () => number,
    wired: boolean,
  ) {
    const sender = this.addSender(`whatsapp:${settings.twilioPhoneNumber}`);
    if (wired) sender.service = settings.messagingServiceSid;
    this.addTemplate('appointment_reminder', 'ja', '{{1}}様、{{2}}のご予約のお知らせです。ご確認ください。', {
      variables: { '1': '山田', '2': '12月3日 10:00' },
      buttons: [{ id: 'confirm', title: '確認しました' }],
      status: 'approved',
    });
    this.addTemplate('payment_due', 'ja', '{{1}}様、お支払い期限は{{2}}です。', {
      variables: { '1': '山田', '2': '明日' },
      status: 'approved',
    });
    this.addTemplate('notice_en', 'en', 'Hello {{1}}, {{2}}', {
      variables: { '1': 'Taro', '2': 'your notice' },
      status: 'approved',
    });
    this.addTemplate('spring_sale', 'ja', '春のセールのお知らせです。', {
      variables: {},
      status: 'rejected',
      rejection: 'Marketing content in a utility template',
    });
  }

  addSender(sender: string): ChannelSender {
    const at = isoNow(this.now());
    const s: ChannelSender = { sid: sid('XE'), sender, date_created: at, date_updated: at };
    this.senders.push(s);
    return s;
  }

  addTemplate(
    name: string,
    language: string,
    body: string,
    o: {
      variables: Record<string, string>;
      buttons?: Array<{ id: string; title: string }>;
      status?: Approval;
      rejection?: string;
    },
  ): ContentTemplate {
    const at = isoNow(this.now());
    const types: ContentTemplate['types'] = o.buttons
      ? { 'twilio/quick-reply': { body, actions: o.buttons } }
      : { 'twilio/text': { body } };
    const t: ContentTemplate = {
      sid: sandboxTemplateSid(name),
      friendly_name: name,
      language,
      variables: o.variables,
      types,
      whatsapp: { name, category: 'UTILITY', status: o.status ?? 'unsubmitted', rejection_reason: o.rejection ?? '' },
      date_created: at,
      date_updated: at,
    };
    this.templates.push(t);
    return t;
  }

  template(contentSid: string): ContentTemplate | undefined {
    return this.templates.find((t) => t.sid === contentSid);
  }

  /** The sender a message goes out from: `From` itself, or the Messaging Service's WhatsApp sender. */
  senderFor(from: string | undefined, messagingServiceSid: string | undefined): ChannelSender | undefined {
    if (from?.startsWith('whatsapp:')) return this.senders.find((s) => s.sender === from);
    return messagingServiceSid ? this.senders.find((s) => s.service === messagingServiceSid) : undefined;
  }

  /** Whether `to` wrote to us within the last 24 hours (free text allowed). */
  windowOpen(to: string, at = this.now()): boolean {
    const last = this.lastInbound.get(to);
    return last !== undefined && at - last < WINDOW_MS;
  }

  /**
   * What WhatsApp makes of a message when it goes out: undefined when it is delivered, else why not.
   * `hasWhatsApp` is false for a number with no WhatsApp account.
   */
  outcome(m: { to: string; contentSid?: string; body: string }, hasWhatsApp: boolean): WhatsAppFailure | undefined {
    if (!hasWhatsApp)
      return { code: 63003, message: 'Channel could not find To address (the number has no WhatsApp account)' };
    const t = m.contentSid ? this.template(m.contentSid) : undefined;
    const approved = t?.whatsapp.status === 'approved';
    if (!this.windowOpen(m.to) && !approved)
      return {
        code: 63016,
        message:
          'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.',
      };
    if (t && [...m.body].length > MAX_TEMPLATE_CHARS)
      return {
        code: 63021,
        message: `Channel invalid content error: the template with its variables exceeds ${MAX_TEMPLATE_CHARS} characters`,
      };
    return undefined;
  }

  reset(): void {
    this.lastInbound.clear();
  }
}

/**
 * A WhatsApp message's create as the API checks it at once: its text (the template's, filled in,
 * or the Body), or the 400 Twilio answers.
 */
export function checkWhatsAppCreate(
  wa: WhatsAppState,
  f: SandboxRequest['form'],
  to: string,
): { body: string; contentSid?: string; sender: ChannelSender } | SandboxResponse {
  if (!WHATSAPP_ADDRESS.test(to)) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
  const from = field(f, 'From');
  const mss = field(f, 'MessagingServiceSid') ?? (from?.startsWith('MG') ? from : undefined);
  const sender = wa.senderFor(from, mss);
  if (!sender) return twilioError(400, 63007, 'Twilio could not find a Channel with the specified From address');
  const contentSid = field(f, 'ContentSid');
  if (contentSid === undefined) {
    const body = field(f, 'Body');
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    return { body, sender };
  }
  const t = /^HX[0-9a-fA-F]{32}$/.test(contentSid) ? wa.template(contentSid) : undefined;
  if (!t) return twilioError(400, 21655, 'The ContentSid is Invalid.');
  let values: Record<string, string> = {};
  const raw = field(f, 'ContentVariables');
  if (raw !== undefined) {
    try {
      const parsed = JSON.parse(raw);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      values = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
    } catch {
      return twilioError(400, 21656, 'The ContentVariables Parameter is invalid.');
    }
  }
  return { body: renderTemplate(t, values), contentSid, sender };
}

type Guarded = (h: (req: SandboxRequest) => SandboxResponse) => (req: SandboxRequest) => SandboxResponse;

/** The Content API (content.twilio.com/v1) and a Messaging Service's ChannelSenders (messaging v1). */
export function registerWhatsAppApi(
  router: Router,
  wa: WhatsAppState,
  settings: SandboxSettings,
  guard: Guarded,
  notFound: (path: string) => SandboxResponse,
  serviceExists: (sid: string) => boolean,
): void {
  const content = (t: ContentTemplate) => {
    const { whatsapp: _w, ...rest } = t;
    return {
      ...rest,
      account_sid: settings.accountSid,
      url: `https://content.twilio.com/v1/Content/${t.sid}`,
      links: {
        approval_create: `https://content.twilio.com/v1/Content/${t.sid}/ApprovalRequests/whatsapp`,
        approval_fetch: `https://content.twilio.com/v1/Content/${t.sid}/ApprovalRequests`,
      },
    };
  };
  const approval = (t: ContentTemplate) => ({
    ...t.whatsapp,
    content_type: Object.keys(t.types)[0],
    allow_category_change: true,
  });
  router.on(
    'GET',
    '/content/v1/Content',
    guard(() => ({
      status: 200,
      body: v1Page('contents', wa.templates.map(content), 'https://content.twilio.com/v1/Content'),
    })),
  );
  router.on(
    'GET',
    '/content/v1/Content/:Sid',
    guard((req) => {
      const t = wa.template(req.params.Sid);
      return t ? { status: 200, body: content(t) } : notFound(req.path);
    }),
  );
  router.on(
    'GET',
    '/content/v1/ContentAndApprovals',
    guard(() => {
      const items = wa.templates.map((t) => {
        const { whatsapp: _w, ...rest } = t;
        return { ...rest, account_sid: settings.accountSid, approval_requests: approval(t) };
      });
      return { status: 200, body: v1Page('contents', items, 'https://content.twilio.com/v1/ContentAndApprovals') };
    }),
  );
  router.on(
    'GET',
    '/content/v1/Content/:Sid/ApprovalRequests',
    guard((req) => {
      const t = wa.template(req.params.Sid);
      if (!t) return notFound(req.path);
      return {
        status: 200,
        body: {
          sid: t.sid,
          account_sid: settings.accountSid,
          whatsapp: approval(t),
          url: `https://content.twilio.com/v1/Content/${t.sid}/ApprovalRequests`,
        },
      };
    }),
  );

  const senderView = (s: ChannelSender) => ({
    account_sid: settings.accountSid,
    messaging_service_sid: s.service ?? null,
    sid: s.sid,
    sender: s.sender,
    sender_type: 'WhatsApp',
    country_code: countryOf(s.sender.replace(/^whatsapp:/, '')) ?? null,
    date_created: s.date_created,
    date_updated: s.date_updated,
    url: `https://messaging.twilio.com/v1/Services/${s.service}/ChannelSenders/${s.sid}`,
  });
  router.on(
    'GET',
    '/messaging/v1/Services/:MessagingServiceSid/ChannelSenders',
    guard((req) => {
      const service = req.params.MessagingServiceSid;
      if (!serviceExists(service)) return notFound(req.path);
      const items = wa.senders.filter((s) => s.service === service).map(senderView);
      return {
        status: 200,
        body: v1Page('senders', items, `https://messaging.twilio.com/v1/Services/${service}/ChannelSenders`),
      };
    }),
  );
  router.on(
    'POST',
    '/messaging/v1/Services/:MessagingServiceSid/ChannelSenders',
    guard((req) => {
      const service = req.params.MessagingServiceSid;
      if (!serviceExists(service)) return notFound(req.path);
      const xe = field(req.form, 'Sid');
      if (!xe || !/^XE[0-9a-fA-F]{32}$/.test(xe))
        return twilioError(400, 20001, 'Missing required parameter Sid in the post body');
      const s = wa.senders.find((x) => x.sid === xe);
      if (!s) return twilioError(400, 21710, 'Channel Sender not found');
      if (s.service && s.service !== service)
        return twilioError(409, 21712, `Channel Sender is associated with another Messaging Service (${s.service})`);
      s.service = service;
      return { status: 201, body: senderView(s) };
    }),
  );
  router.on(
    'DELETE',
    '/messaging/v1/Services/:MessagingServiceSid/ChannelSenders/:Sid',
    guard((req) => {
      const s = wa.senders.find((x) => x.sid === req.params.Sid && x.service === req.params.MessagingServiceSid);
      if (!s) return notFound(req.path);
      s.service = undefined;
      return { status: 204 };
    }),
  );
}
