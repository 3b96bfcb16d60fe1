/**
 * Simulated recipients: after a send, call back as the real senders would
 * (Twilio status callbacks, call progress, Gather digits, inbound replies,
 * SendGrid Event Webhook batches), signed the way Twilio and SendGrid sign.
 */
import twilio from 'twilio';
import { field, fieldList } from './http';
import { sendgridId, sid } from './ids';
import { eventBatchBody, signatureHeaders } from './sendgrid-signing';
import type { SandboxSettings } from './settings';
import { localHour } from '../src/lib/quiet-hours';
import { STUDIO_WEBHOOK } from './account';
import type { ContactBehaviour, Recorded, SandboxState, SimulatedChannel } from './state';
import { buttonsOf, type WhatsAppFailure } from './whatsapp';
import type { StudioEngine } from './studio';
import { callCharge, smsCharge } from './pricing';
import { rfc2822 } from './clock';

type Params = Record<string, string>;

const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const OPT_IN = new Set(['START', 'YES', 'UNSTOP', 'OPTIN']);

export class Simulator {
  private pending = new Set<Promise<unknown>>();
  /** runs the flows an incoming SMS is wired to (set by the server) */
  studio?: StudioEngine;

  constructor(
    private readonly state: SandboxState,
    private readonly settings: SandboxSettings,
    private readonly delayMs = 100,
  ) {}

  /** Resolves once every simulation started so far (and any it started) has finished. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private run(work: () => Promise<void>): void {
    if (!this.state.simulate) return;
    // Real callbacks arrive after the API answered; let the caller finish first.
    const p: Promise<void> = new Promise((r) => setTimeout(r, this.delayMs))
      .then(work)
      .catch((err) => console.error(`[sandbox] simulation failed: ${(err as Error).message}`))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** The contact's local hour now (sandbox clock): its own time zone, its profile's, else DEFAULT_TIMEZONE. */
  localHour(address: string, behaviour: ContactBehaviour): number {
    const key = address.toLowerCase();
    const profile = [...this.state.profileTraits.values()].find(
      (t) => String(t.phone ?? '').toLowerCase() === key || String(t.email ?? '').toLowerCase() === key,
    );
    const zone = behaviour.timezone ?? (typeof profile?.timezone === 'string' ? profile.timezone : undefined);
    for (const tz of [zone, this.settings.defaultTimezone, 'UTC']) {
      if (!tz) continue;
      try {
        return localHour(this.state.clock.date(), tz);
      } catch {
        // not a zone: the next one
      }
    }
    return new Date(this.state.clock.now()).getUTCHours();
  }

  private engages(behaviour: ContactBehaviour, channel: SimulatedChannel, address: string): boolean {
    const byHour = behaviour.engageByHour?.[channel];
    const p = byHour ? (byHour[this.localHour(address, behaviour)] ?? 0) : (behaviour.engage?.[channel] ?? 0);
    return p > 0 && Math.random() < p;
  }

  /**
   * POSTs form parameters with an X-Twilio-Signature computed by the twilio
   * library over the URL as requested (without its fragment), honouring the
   * connection-override fragment's retry count and policy (#rc=…&rp=…).
   */
  async postTwilio(kind: string, url: string, params: Params): Promise<number | 'error'> {
    const [target, fragment = ''] = url.split('#');
    const overrides = new URLSearchParams(fragment);
    const retries = Math.min(5, Number(overrides.get('rc') ?? 0) || 0);
    const policy = new Set((overrides.get('rp') ?? 'ct').split(','));
    const signature = twilio.getExpectedTwilioSignature(this.settings.authToken, target, params);
    const headers = {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': signature,
      'User-Agent': 'TwilioProxy/1.1',
    };
    let status: number | 'error' = 'error';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * attempt));
      status = await this.post(kind, target, params, headers, new URLSearchParams(params).toString());
      const retryable =
        status === 'error'
          ? policy.has('ct') || policy.has('rt') || policy.has('all')
          : (status >= 500 && (policy.has('5xx') || policy.has('all'))) ||
            (status >= 400 && status < 500 && (policy.has('4xx') || policy.has('all')));
      if (!retryable) break;
    }
    return status;
  }

  private async post(
    kind: string,
    url: string,
    params: Record<string, unknown>,
    headers: Record<string, string>,
    body: string,
  ): Promise<number | 'error'> {
    let status: number | 'error';
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15000) });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 'error';
    }
    this.state.callbacks.push({ kind, url, params, status, at: this.state.clock.date().toISOString() });
    return status;
  }

  // ---- SMS and WhatsApp ----------------------------------------------------

  /**
   * A Message's status moves (with its error, when it failed), and its status callback says so, as
   * Twilio's does for an SMS or a WhatsApp message (which also carries ChannelPrefix).
   */
  private async messageStatus(
    m: Record<string, unknown>,
    status: string,
    callback: string | undefined,
    o: { kind: 'sms' | 'whatsapp'; from: string; error?: { code: number; message: string } },
  ): Promise<void> {
    m.status = status;
    m.date_updated = rfc2822(this.state.clock.now());
    if (o.error) {
      m.error_code = o.error.code;
      m.error_message = o.error.message;
    }
    if (!callback) return;
    const params: Params = {
      AccountSid: this.settings.accountSid,
      ApiVersion: '2010-04-01',
      ...(o.kind === 'whatsapp' ? { ChannelPrefix: 'whatsapp' } : {}),
      From: o.from,
      MessageSid: String(m.sid),
      MessageStatus: status,
      SmsSid: String(m.sid),
      SmsStatus: status,
      To: String(m.to),
    };
    if (m.messaging_service_sid) params.MessagingServiceSid = String(m.messaging_service_sid);
    if (o.error) params.ErrorCode = String(o.error.code);
    await this.postTwilio(`${o.kind}-status`, callback, params);
  }

  /** A message that goes out now: an SMS, or a WhatsApp message (its address says which). */
  deliverMessage(record: Recorded): void {
    if (String(record.resource.to).startsWith('whatsapp:')) this.deliverWhatsApp(record);
    else this.deliverSms(record);
  }

  /**
   * A WhatsApp message as WhatsApp treats it when it goes out (whatsapp.ts decides: the window, the
   * template's approval and length, whether the number has WhatsApp): sent, delivered and read, or
   * failed with WhatsApp's error; then the contact's reply or button press, when it engages.
   */
  deliverWhatsApp(record: Recorded): void {
    this.run(async () => {
      const m = record.resource as Record<string, unknown>;
      const to = String(m.to);
      const behaviour = this.state.contact(to);
      const req = record.request as Params;
      const callback = field(req, 'StatusCallback');
      const contentSid = field(req, 'ContentSid');
      const failure = this.state.whatsapp.outcome(
        { to, contentSid, body: String(m.body ?? '') },
        behaviour.whatsapp !== false,
      );
      const engaged = !failure && this.engages(behaviour, 'WHATSAPP', to);
      const read = !failure && (engaged || behaviour.whatsappRead !== false);
      const statuses: Array<[string, WhatsAppFailure?]> = failure
        ? [['failed', failure]]
        : [['sent'], ['delivered'], ...(read ? ([['read']] as Array<[string]>) : [])];
      for (const [status, error] of statuses)
        await this.messageStatus(m, status, callback, { kind: 'whatsapp', from: String(m.from), error });
      if (engaged) {
        const button = behaviour.pressButton
          ? buttonsOf(contentSid ? this.state.whatsapp.template(contentSid) : undefined)[0]
          : undefined;
        await this.inboundWhatsApp(to, button?.title ?? behaviour.reply ?? 'OK', String(m.from), button?.id);
      }
    });
  }

  /**
   * A WhatsApp message from a contact (`whatsapp:+E164`) to our sender: it opens the 24-hour window,
   * and goes where an SMS to the sender's number goes (the Messaging Service's inbound URL, or the
   * number's). A quick-reply button press carries ButtonPayload and ButtonText.
   */
  async inboundWhatsApp(
    from: string,
    body: string,
    to = `whatsapp:${this.settings.twilioPhoneNumber}`,
    buttonPayload?: string,
  ): Promise<number | 'error' | 'dropped'> {
    this.state.whatsapp.lastInbound.set(from, this.state.clock.now());
    const messageSid = sid('SM');
    const params: Params = {
      AccountSid: this.settings.accountSid,
      ApiVersion: '2010-04-01',
      Body: body,
      ChannelPrefix: 'whatsapp',
      From: from,
      MessageSid: messageSid,
      MessageType: buttonPayload ? 'button' : 'text',
      NumMedia: '0',
      NumSegments: '1',
      ProfileName: 'WhatsApp user',
      SmsMessageSid: messageSid,
      SmsSid: messageSid,
      SmsStatus: 'received',
      To: to,
      WaId: from.replace(/^whatsapp:\+/, ''),
    };
    if (buttonPayload) {
      params.ButtonPayload = buttonPayload;
      params.ButtonText = body;
    }
    return this.deliverInbound('whatsapp', to.replace(/^whatsapp:/, ''), from, params);
  }

  deliverSms(record: Recorded): void {
    this.run(async () => {
      const m = record.resource as Record<string, unknown>;
      const to = String(m.to);
      const behaviour = this.state.contact(to);
      const callback = field(record.request as Params, 'StatusCallback');
      const undelivered = behaviour.unreachable?.includes('SMS');
      const statuses: Array<[string, string?]> = undelivered
        ? [['sent'], ['undelivered', '30003']]
        : [['sent'], ['delivered']];
      for (const [status, errorCode] of statuses) {
        // charged once it leaves Twilio, delivered or not (the sandbox's own prices: pricing.ts)
        if (status === 'sent') m.price = smsCharge(to, Number(m.num_segments));
        const error = errorCode ? { code: Number(errorCode), message: 'Unreachable destination handset' } : undefined;
        await this.messageStatus(m, status, callback, {
          kind: 'sms',
          from: String(m.from ?? this.settings.twilioPhoneNumber),
          error,
        });
      }
      if (!undelivered && this.engages(behaviour, 'SMS', to)) {
        await this.inboundSms(
          to,
          behaviour.reply ?? 'OK',
          String(m.from ?? this.settings.twilioPhoneNumber),
          m.messaging_service_sid as string | null,
        );
      }
    });
  }

  /** An SMS from a contact to our number, as the "A message comes in" webhook. */
  async inboundSms(
    from: string,
    body: string,
    to = this.settings.twilioPhoneNumber,
    messagingServiceSid?: string | null,
  ): Promise<number | 'error' | 'dropped'> {
    const keyword = body.trim().toUpperCase();
    const messageSid = sid('SM');
    const params: Params = {
      AccountSid: this.settings.accountSid,
      ApiVersion: '2010-04-01',
      Body: body,
      From: from,
      MessageSid: messageSid,
      NumMedia: '0',
      NumSegments: '1',
      SmsMessageSid: messageSid,
      SmsSid: messageSid,
      SmsStatus: 'received',
      To: to,
    };
    if (messagingServiceSid) params.MessagingServiceSid = messagingServiceSid;
    // Advanced Opt-Out: Twilio maintains the opt-out list and tells the webhook.
    if (OPT_OUT.has(keyword)) {
      this.state.optedOut.add(from);
      params.OptOutType = 'STOP';
    } else if (OPT_IN.has(keyword)) {
      this.state.optedOut.delete(from);
      params.OptOutType = 'START';
    } else if (keyword === 'HELP' || keyword === 'INFO') {
      params.OptOutType = 'HELP';
    }
    return this.deliverInbound('sms', to, from, params);
  }

  /**
   * Where Twilio sends an incoming message (SMS, or WhatsApp to the sender's number) is the account's
   * wiring (account.ts): the service's URL or the number's; with none it is dropped and nobody is
   * told. A Studio flow's webhook starts an execution.
   */
  private async deliverInbound(
    kind: 'sms' | 'whatsapp',
    number: string,
    from: string,
    params: Params,
  ): Promise<number | 'error' | 'dropped'> {
    const route = this.state.account.inboundRoute(number);
    if (!route.url) {
      this.state.callbacks.push({
        kind: `${kind}-inbound-dropped`,
        url: route.via,
        params,
        status: 'dropped',
        at: this.state.clock.date().toISOString(),
      });
      return 'dropped';
    }
    const studio = STUDIO_WEBHOOK.exec(route.url.split('#')[0]);
    if (studio && this.studio) {
      const flow = this.studio.flows.find((f) => f.sid === studio[2] && f.status === 'published');
      if (!flow) return 404;
      this.studio.start(flow, from, params.To, { event: 'incomingMessage', data: params });
      return 200;
    }
    return this.postTwilio(`${kind}-inbound`, route.url, params);
  }

  // ---- Voice -------------------------------------------------------------

  placeCall(record: Recorded): void {
    this.run(async () => {
      const c = record.resource as Record<string, unknown>;
      const req = record.request as Params;
      const to = String(c.to);
      const behaviour = this.state.contact(to);
      const callback = field(req, 'StatusCallback');
      const events = new Set(fieldList(req, 'StatusCallbackEvent'));
      const amd = field(req, 'MachineDetection');
      const base: Params = {
        AccountSid: this.settings.accountSid,
        ApiVersion: '2010-04-01',
        CallSid: String(c.sid),
        Called: to,
        Caller: String(c.from),
        Direction: 'outbound-api',
        From: String(c.from),
        To: to,
      };
      let sequence = 0;
      const progress = async (event: string, status: string, extra: Params = {}) => {
        c.status = status;
        if (!callback || (event !== 'completed' && !events.has(event))) return;
        await this.postTwilio('call-status', callback, {
          ...base,
          ...extra,
          CallStatus: status,
          CallbackSource: 'call-progress-events',
          SequenceNumber: String(sequence++),
        });
      };
      await progress('initiated', 'initiated');
      await progress('ringing', 'ringing');
      const engaged = !behaviour.unreachable?.includes('CALL') && this.engages(behaviour, 'CALL', to);
      const machine = behaviour.answeredBy && behaviour.answeredBy !== 'human' ? behaviour.answeredBy : undefined;
      if (!engaged && !machine) {
        await progress('completed', behaviour.callOutcome ?? 'no-answer', { CallDuration: '0' });
        return;
      }
      const answeredBy: Params = amd ? { AnsweredBy: machine ?? 'human' } : {};
      c.answered_by = answeredBy.AnsweredBy ?? null;
      await progress('answered', 'in-progress', answeredBy);
      const action = this.gatherAction(field(req, 'Twiml'));
      if (engaged && !machine && action) {
        await this.postTwilio('call-gather', action, {
          ...base,
          CallStatus: 'in-progress',
          Digits: behaviour.digits ?? '1',
          FinishedOnKey: '',
        });
      }
      c.duration = '12';
      c.price = callCharge(to, 12);
      await progress('completed', 'completed', { ...answeredBy, CallDuration: '12' });
    });
  }

  /** The absolute action URL of the first <Gather> in inline TwiML, XML entities decoded. */
  private gatherAction(twiml: string | undefined): string | undefined {
    const m = twiml && /<Gather\b[^>]*\baction="([^"]+)"/.exec(twiml);
    return m
      ? m[1]
          .replace(/&amp;/g, '&')
          .replace(/&quot;/g, '"')
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
      : undefined;
  }

  // ---- Email -------------------------------------------------------------

  deliverEmail(record: Recorded): void {
    this.run(async () => {
      const body = record.request as Record<string, unknown>;
      const messageId = String((record.resource as Record<string, unknown>).message_id);
      const customArgs = (body.custom_args ?? {}) as Record<string, string>;
      const personalizations = body.personalizations as Array<{
        to: Array<{ email: string; name?: string }>;
        custom_args?: Record<string, string>;
      }>;
      const html =
        (body.content as Array<{ type: string; value: string }> | undefined)?.find((c) => c.type === 'text/html')
          ?.value ?? '';
      const link = /href="([^"]+)"/.exec(html)?.[1] ?? 'https://example.com/';
      const events: Array<Record<string, unknown>> = [];
      let t = Math.floor(this.state.clock.now() / 1000);
      for (const p of personalizations) {
        for (const { email, name } of p.to) {
          const behaviour = this.state.contact(email);
          const common = {
            ...customArgs,
            ...(p.custom_args ?? {}),
            email,
            'smtp-id': `<${messageId}@sandbox.sendgrid.net>`,
            category: [] as string[],
          };
          const ev = (event: string, extra: Record<string, unknown> = {}) =>
            events.push({
              ...common,
              event,
              timestamp: t++,
              sg_event_id: sendgridId(16),
              sg_message_id: `${messageId}.filter0001.sandbox.0`,
              ...extra,
            });
          // SendGrid accepts a recipient name with a comma or semicolon (202), then drops the mail
          if (name !== undefined && /[,;]/.test(name)) {
            ev('dropped', { reason: 'Invalid SMTPAPI header' });
            continue;
          }
          ev('processed');
          if (behaviour.unreachable?.includes('EMAIL')) {
            ev('bounce', {
              reason: '550 5.1.1 The email account that you tried to reach does not exist.',
              status: '5.1.1',
              type: 'bounce',
              bounce_classification: 'Invalid Address',
            });
            continue;
          }
          ev('delivered', { response: '250 OK', tls: 1 });
          if (behaviour.machineOpen) ev('open', { sg_machine_open: true, useragent: 'Mozilla/5.0', ip: '17.0.0.1' });
          if (this.engages(behaviour, 'EMAIL', email)) {
            ev('open', { sg_machine_open: false, useragent: 'Mozilla/5.0 (Windows NT 10.0)', ip: '203.0.113.7' });
            ev('click', {
              url: link,
              url_offset: { index: 0, type: 'html' },
              useragent: 'Mozilla/5.0 (Windows NT 10.0)',
              ip: '203.0.113.7',
            });
          }
        }
      }
      await this.postEmailEvents(events);
    });
  }

  /**
   * The Event Webhook after a campaign, as SendGrid posts it: for every email sent so far, the
   * given events (`processed`, `delivered`, `open`, `click`), gathered into JSON arrays of at most
   * 768 KB (SendGrid posts every 30 s or at 768 KB, whichever comes first).
   */
  campaignEvents(kinds: string[], limit = 768 * 1024): Array<Array<Record<string, unknown>>> {
    const batches: Array<Array<Record<string, unknown>>> = [[]];
    let bytes = 2;
    let t = Math.floor(this.state.clock.now() / 1000);
    for (const email of this.state.emails) {
      const body = email.request as Record<string, unknown>;
      const messageId = String((email.resource as Record<string, unknown>).message_id);
      const personalizations = body.personalizations as Array<{ to: Array<{ email: string }>; custom_args?: Params }>;
      for (const p of personalizations) {
        for (const { email: address } of p.to) {
          for (const event of kinds) {
            const e: Record<string, unknown> = {
              ...((body.custom_args ?? {}) as Params),
              ...(p.custom_args ?? {}),
              email: address,
              event,
              timestamp: t++,
              // SendGrid's delivery events carry the SMTP id; engagement events (open, click) do not
              ...(event === 'open' || event === 'click' ? {} : { 'smtp-id': `<${messageId}@ismtpd-555>` }),
              sg_event_id: sendgridId(16),
              sg_message_id: `${messageId}.filter0001.sandbox.0`,
              ...(event === 'delivered' ? { response: '250 OK' } : {}),
              ...(event === 'open' || event === 'click'
                ? { sg_machine_open: false, useragent: 'Mozilla/5.0', ip: '203.0.113.7' }
                : {}),
              ...(event === 'click' ? { url: 'https://example.com/r' } : {}),
            };
            const size = Buffer.byteLength(JSON.stringify(e)) + 1;
            if (bytes + size > limit) {
              batches.push([]);
              bytes = 2;
            }
            batches[batches.length - 1].push(e);
            bytes += size;
          }
        }
      }
    }
    return batches.filter((b) => b.length > 0);
  }

  /** POSTs one Event Webhook batch once (no retry): its status, the answer and the time it took. */
  async postEmailBatchOnce(
    events: Array<Record<string, unknown>>,
  ): Promise<{ status: number | 'error'; ms: number; answer?: unknown }> {
    const started = Date.now();
    const url = this.settings.emailEventsUrl;
    let status: number | 'error' = 'error';
    let answer: unknown;
    try {
      const { body, headers } = this.emailPost(events);
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(15000),
      });
      status = res.status;
      answer = await res.json().catch(() => undefined);
    } catch {
      // unreachable or timed out: 'error'
    }
    this.state.callbacks.push({
      kind: 'email-events',
      url,
      params: { events: events.length },
      status,
      at: this.state.clock.date().toISOString(),
    });
    return { status, ms: Date.now() - started, answer };
  }

  /**
   * A batch's body and headers as SendGrid posts them: the configured Basic credentials, and the
   * signature when the account's webhook posting to that URL has signing on (each post signed
   * when it is made: a resend carries a new timestamp and signature).
   */
  private emailPost(events: unknown[]): { body: string; headers: Record<string, string> } {
    const body = eventBatchBody(events);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json;charset=utf-8',
      'User-Agent': 'SendGrid Event API',
    };
    const { sendgridWebhookUsername: user, sendgridWebhookPassword: pass } = this.settings;
    if (user && pass) headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    const account = this.state.account;
    const withoutCredentials = (u: string) => u.replace(/\/\/[^/@]*@/, '//');
    const hook = account.eventWebhooks.find(
      (w) => w.enabled && withoutCredentials(w.url) === withoutCredentials(this.settings.emailEventsUrl),
    );
    const keys = hook && account.signingKeys.get(hook.id);
    if (keys) Object.assign(headers, signatureHeaders(keys, body, Math.floor(this.state.clock.now() / 1000)));
    return { body, headers };
  }

  /** POSTs an Event Webhook batch as SendGrid does (emailPost). */
  async postEmailEvents(events: Array<Record<string, unknown>>): Promise<number | 'error'> {
    // SendGrid retries any non-2xx answer (for up to 24 hours); the sandbox retries a few times at once.
    let status: number | 'error' = 'error';
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 50));
      const { body, headers } = this.emailPost(events);
      status = await this.post('email-events', this.settings.emailEventsUrl, { events }, headers, body);
      if (status !== 'error' && status >= 200 && status < 300) break;
    }
    return status;
  }

  // ---- Scheduler ---------------------------------------------------------

  /** Sends every scheduled message and email that the clock has made due. */
  releaseDue(): { messages: number; emails: number } {
    const now = this.state.clock.now();
    let messages = 0;
    let emails = 0;
    for (const record of this.state.messages) {
      if (record.resource.status === 'scheduled' && record.sendAt !== undefined && record.sendAt <= now) {
        record.resource.status = 'queued';
        messages++;
        this.deliverMessage(record);
      }
    }
    for (const email of this.state.emails) {
      const s = email.schedule;
      if (s.status !== 'scheduled' || s.sendAt === undefined || s.sendAt > now) continue;
      const batch = s.batchId ? this.state.sendgridBatches.get(s.batchId) : undefined;
      if (batch?.status === 'pause') continue;
      s.status = batch?.status === 'cancel' ? 'canceled' : 'sent';
      email.resource.status = s.status;
      if (s.status === 'sent') {
        emails++;
        this.deliverEmail(email);
      }
    }
    return { messages, emails };
  }
}
