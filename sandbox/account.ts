/**
 * The account's wiring as the vendors hold it, and the APIs that read and change it: Twilio's
 * IncomingPhoneNumbers (2010), Messaging Services and their PhoneNumbers (Messaging v1), Sync
 * Services (Sync v1), Serverless Services, Environments and Variables (Serverless v1); SendGrid's
 * Event Webhook and tracking settings; Segment's computed traits (Public API). Shapes, parameters
 * and error codes follow the vendors' OpenAPI documents.
 *
 * It also decides where an incoming SMS goes, as Twilio does: a number in a Messaging Service
 * uses the service's inbound request URL unless the service has UseInboundWebhookOnNumber, else
 * the number's own SMS URL; with no URL the message is dropped without a word.
 *
 * Two starting points (SANDBOX_ACCOUNT): `wired` (default: what `npm start` needs, the number in a
 * service pointing at the local functions) and `empty` (a bought number and a deployed service,
 * nothing else: what `npm run setup` starts from).
 */
import { randomBytes } from 'node:crypto';
import { bearer, field, isObject, type Json, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { sid } from './ids';
import { newSigningKeys, SANDBOX_SIGNING_KEYS, type SigningKeys } from './sendgrid-signing';
import type { SandboxSettings } from './settings';
import type { SandboxState } from './state';
import { twilioError, twilioGuard, twilioNotFound, v1Page } from './twilio-api';

export interface PhoneNumber {
  sid: string;
  phone_number: string;
  friendly_name: string;
  sms_url: string;
  sms_method: string;
  voice_url: string;
  [k: string]: unknown;
}
export interface MessagingService {
  sid: string;
  friendly_name: string;
  inbound_request_url: string | null;
  inbound_method: string;
  use_inbound_webhook_on_number: boolean;
  fallback_url: string | null;
  status_callback: string | null;
  numbers: string[];
  [k: string]: unknown;
}
export interface NamedService {
  sid: string;
  friendly_name: string;
  unique_name: string | null;
  [k: string]: unknown;
}
export interface ServerlessEnvironment {
  sid: string;
  service_sid: string;
  unique_name: string;
  domain_suffix: string | null;
  domain_name: string;
  variables: Array<{ sid: string; key: string; value: string }>;
}
export interface EventWebhook {
  id: string;
  url: string;
  enabled: boolean;
  friendly_name: string | null;
  [event: string]: unknown;
}
export interface ComputedTrait {
  id: string;
  spaceId: string;
  name: string;
  key: string;
  enabled: boolean;
  definition: { query: string; type: string };
}

/** The events a SendGrid Event Webhook can carry (webhook settings v3). */
export const SENDGRID_EVENTS = [
  'bounce',
  'click',
  'deferred',
  'delivered',
  'dropped',
  'group_resubscribe',
  'group_unsubscribe',
  'open',
  'processed',
  'spam_report',
  'unsubscribe',
] as const;

export const STUDIO_WEBHOOK = /^https:\/\/webhooks\.twilio\.com\/v1\/Accounts\/(AC\w{32})\/Flows\/(FW\w{32})$/;

export class AccountState {
  numbers: PhoneNumber[] = [];
  messagingServices: MessagingService[] = [];
  syncServices: NamedService[] = [];
  serverlessServices: NamedService[] = [];
  environments: ServerlessEnvironment[] = [];
  eventWebhooks: EventWebhook[] = [];
  /** each signed Event Webhook's key pair, by webhook id (its public half is in the webhook's view) */
  signingKeys = new Map<string, SigningKeys>();
  tracking = { open: false, click: false };
  computedTraits: ComputedTrait[] = [];

  constructor(
    private readonly settings: SandboxSettings,
    private readonly now: () => number,
  ) {
    this.seed(settings.account);
  }

  /**
   * account_sid and dates: those of `resource` when it has them, else now, written as the API writes
   * them: the 2010 API in RFC 2822, the v1/v2 APIs (Messaging, Sync, Serverless) in ISO 8601.
   */
  stampOf(api: '2010' | 'v1', resource?: Record<string, unknown>) {
    const write = (t: number) =>
      api === '2010'
        ? new Date(t).toUTCString().replace('GMT', '+0000')
        : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const when = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : this.now());
    return {
      account_sid: this.settings.accountSid,
      date_created: write(when(resource?.date_created)),
      date_updated: write(when(resource?.date_updated)),
    };
  }

  addNumber(phoneNumber: string): PhoneNumber {
    const n: PhoneNumber = {
      ...this.stampOf('2010'),
      sid: sid('PN'),
      phone_number: phoneNumber,
      friendly_name: phoneNumber,
      sms_url: '',
      sms_method: 'POST',
      sms_fallback_url: '',
      voice_url: '',
      voice_method: 'POST',
      status: 'in-use',
      capabilities: { sms: true, voice: true, mms: false, fax: false },
      api_version: '2010-04-01',
    };
    this.numbers.push(n);
    return n;
  }

  addMessagingService(friendlyName: string, fields: Partial<MessagingService> = {}): MessagingService {
    const s: MessagingService = {
      ...this.stampOf('v1'),
      sid: sid('MG'),
      friendly_name: friendlyName,
      inbound_request_url: null,
      inbound_method: 'POST',
      use_inbound_webhook_on_number: false,
      fallback_url: null,
      fallback_method: 'POST',
      status_callback: null,
      sticky_sender: true,
      smart_encoding: true,
      area_code_geomatch: true,
      fallback_to_long_code: true,
      mms_converter: true,
      validity_period: 14400,
      usecase: 'undeclared',
      us_app_to_person_registered: false,
      numbers: [],
      ...fields,
    };
    this.messagingServices.push(s);
    return s;
  }

  addServerless(uniqueName: string, domainHost: string): void {
    const service: NamedService = {
      ...this.stampOf('v1'),
      sid: sid('ZS'),
      unique_name: uniqueName,
      friendly_name: uniqueName,
    };
    this.serverlessServices.push(service);
    const suffix = randomBytes(2).toString('hex');
    this.environments.push({
      sid: sid('ZE'),
      service_sid: service.sid,
      unique_name: 'dev-environment',
      domain_suffix: 'dev',
      // a deployed service answers at <name>-<4 digits>-dev.twil.io; the sandbox's is the local functions
      domain_name: domainHost || `${uniqueName}-${suffix}-dev.twil.io`,
      variables: [],
    });
  }

  private seed(kind: 'wired' | 'empty'): void {
    const number = this.addNumber(this.settings.twilioPhoneNumber);
    this.addServerless(this.settings.serviceName, new URL(this.settings.functionsUrl).host);
    // every Twilio account has a default Sync Service (the `default` in a Sync URL)
    this.syncServices.push({ ...this.stampOf('v1'), sid: sid('IS'), unique_name: null, friendly_name: 'default' });
    if (kind === 'empty') return;
    const service = this.addMessagingService('Sandbox notifications', {
      sid: this.settings.messagingServiceSid,
      inbound_request_url: this.settings.inboundSmsUrl,
    });
    service.numbers.push(number.sid);
    const hookId = randomBytes(16).toString('hex');
    this.signingKeys.set(hookId, SANDBOX_SIGNING_KEYS);
    this.eventWebhooks.push({
      id: hookId,
      url: this.settings.emailEventsUrl,
      enabled: true,
      friendly_name: 'sandbox',
      ...Object.fromEntries(SENDGRID_EVENTS.map((e) => [e, true])),
    });
    this.tracking = { open: true, click: true };
    this.computedTraits.push({
      id: `ct_${randomBytes(8).toString('hex')}`,
      spaceId: this.settings.segmentSpaceId,
      name: this.settings.preferredChannelTrait,
      key: this.settings.preferredChannelTrait,
      enabled: true,
      definition: { query: 'sandbox', type: 'USERS' },
    });
  }

  serviceOfNumber(numberSid: string): MessagingService | undefined {
    return this.messagingServices.find((s) => s.numbers.includes(numberSid));
  }

  /** Where Twilio posts an SMS to `to`, and why; no url: it is dropped. */
  inboundRoute(to: string): { url?: string; via: string } {
    const number = this.numbers.find((n) => n.phone_number === to);
    if (!number) return { via: `${to} is not a number of this account` };
    const service = this.serviceOfNumber(number.sid);
    if (service && !service.use_inbound_webhook_on_number)
      return { url: service.inbound_request_url || undefined, via: `Messaging Service ${service.sid}` };
    return { url: number.sms_url || undefined, via: `phone number ${number.sid}` };
  }
}

const bool = (v: string | undefined) => (v === undefined ? undefined : v.toLowerCase() === 'true');
/** Twilio's side of the wiring: numbers, Messaging Services, Sync Services, Serverless. */
export function registerAccountApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  const account = state.account;
  const guard = twilioGuard(settings);
  const base = '/2010-04-01/Accounts/:AccountSid';
  const numberView = (n: PhoneNumber) => ({
    ...n,
    uri: `${base.replace(':AccountSid', settings.accountSid)}/IncomingPhoneNumbers/${n.sid}.json`,
  });

  // ---- IncomingPhoneNumbers (2010) ----
  router.on(
    'GET',
    `${base}/IncomingPhoneNumbers.json`,
    guard((req) => {
      const wanted = req.query.get('PhoneNumber');
      const found = account.numbers.filter((n) => !wanted || n.phone_number === wanted);
      return {
        status: 200,
        body: { incoming_phone_numbers: found.map(numberView), page: 0, page_size: 50, next_page_uri: null },
      };
    }),
  );
  const findNumber = (req: SandboxRequest) => account.numbers.find((n) => n.sid === req.params.Sid);
  router.on(
    'GET',
    `${base}/IncomingPhoneNumbers/:Sid.json`,
    guard((req) => {
      const n = findNumber(req);
      return n ? { status: 200, body: numberView(n) } : twilioNotFound(req.path);
    }),
  );
  router.on(
    'POST',
    `${base}/IncomingPhoneNumbers/:Sid.json`,
    guard((req) => {
      const n = findNumber(req);
      if (!n) return twilioNotFound(req.path);
      const updates: Array<[string, string]> = [
        ['SmsUrl', 'sms_url'],
        ['SmsMethod', 'sms_method'],
        ['SmsFallbackUrl', 'sms_fallback_url'],
        ['VoiceUrl', 'voice_url'],
        ['FriendlyName', 'friendly_name'],
      ];
      for (const [param, key] of updates) {
        const v = field(req.form, param);
        if (v === undefined) continue;
        if (param.endsWith('Url') && v !== '' && !/^https?:\/\//.test(v))
          return twilioError(400, 21502, `${param} is not valid: ${v}`);
        n[key] = v;
      }
      n.date_updated = new Date(state.clock.now()).toUTCString().replace('GMT', '+0000');
      return { status: 200, body: numberView(n) };
    }),
  );

  // ---- Messaging v1: Services and their PhoneNumbers ----
  const msView = ({ numbers: _n, ...s }: MessagingService) => ({
    ...s,
    url: `https://messaging.twilio.com/v1/Services/${s.sid}`,
    links: { phone_numbers: `https://messaging.twilio.com/v1/Services/${s.sid}/PhoneNumbers` },
  });
  const findMs = (sidValue: string) => account.messagingServices.find((s) => s.sid === sidValue);
  const applyMs = (s: MessagingService, req: SandboxRequest): SandboxResponse | undefined => {
    for (const [param, key] of [
      ['FriendlyName', 'friendly_name'],
      ['InboundRequestUrl', 'inbound_request_url'],
      ['InboundMethod', 'inbound_method'],
      ['FallbackUrl', 'fallback_url'],
      ['StatusCallback', 'status_callback'],
    ] as const) {
      const v = field(req.form, param);
      if (v === undefined) continue;
      if (param.endsWith('Url') || param === 'StatusCallback')
        if (v !== '' && !/^https?:\/\//.test(v)) return twilioError(400, 21502, `${param} is not valid: ${v}`);
      (s as Record<string, unknown>)[key] = v === '' ? null : v;
    }
    const onNumber = bool(field(req.form, 'UseInboundWebhookOnNumber'));
    if (onNumber !== undefined) s.use_inbound_webhook_on_number = onNumber;
    return undefined;
  };
  router.on(
    'GET',
    '/messaging/v1/Services',
    guard(() => ({ status: 200, body: v1Page('services', account.messagingServices.map(msView), '/v1/Services') })),
  );
  router.on(
    'POST',
    '/messaging/v1/Services',
    guard((req) => {
      const name = field(req.form, 'FriendlyName');
      if (!name) return twilioError(400, 20001, 'Missing required parameter FriendlyName in the post body');
      const s = account.addMessagingService(name);
      const bad = applyMs(s, req);
      if (bad) {
        account.messagingServices.pop();
        return bad;
      }
      return { status: 201, body: msView(s) };
    }),
  );
  router.on(
    'GET',
    '/messaging/v1/Services/:Sid',
    guard((req) => {
      const s = findMs(req.params.Sid);
      return s ? { status: 200, body: msView(s) } : twilioNotFound(req.path);
    }),
  );
  router.on(
    'POST',
    '/messaging/v1/Services/:Sid',
    guard((req) => {
      const s = findMs(req.params.Sid);
      if (!s) return twilioNotFound(req.path);
      return applyMs(s, req) ?? { status: 200, body: msView(s) };
    }),
  );
  const senderView = (s: MessagingService, n: PhoneNumber) => ({
    ...account.stampOf('v1', n),
    sid: n.sid,
    service_sid: s.sid,
    phone_number: n.phone_number,
    country_code: n.phone_number.startsWith('+81') ? 'JP' : 'US',
    capabilities: ['SMS', 'Voice'],
    url: `https://messaging.twilio.com/v1/Services/${s.sid}/PhoneNumbers/${n.sid}`,
  });
  router.on(
    'GET',
    '/messaging/v1/Services/:ServiceSid/PhoneNumbers',
    guard((req) => {
      const s = findMs(req.params.ServiceSid);
      if (!s) return twilioNotFound(req.path);
      const items = s.numbers.flatMap((n) => account.numbers.filter((x) => x.sid === n)).map((n) => senderView(s, n));
      return { status: 200, body: v1Page('phone_numbers', items, req.path.replace('/messaging', '')) };
    }),
  );
  router.on(
    'POST',
    '/messaging/v1/Services/:ServiceSid/PhoneNumbers',
    guard((req) => {
      const s = findMs(req.params.ServiceSid);
      if (!s) return twilioNotFound(req.path);
      const pn = field(req.form, 'PhoneNumberSid');
      if (!pn || !/^PN[0-9a-fA-F]{32}$/.test(pn))
        return twilioError(400, 20001, 'Missing required parameter PhoneNumberSid in the post body');
      const n = account.numbers.find((x) => x.sid === pn);
      if (!n) return twilioError(400, 21710, 'Phone Number not found');
      if (s.numbers.includes(pn))
        return twilioError(409, 21710, 'Phone Number or Short Code is already in the Messaging Service.');
      const holder = account.serviceOfNumber(pn);
      if (holder)
        return twilioError(
          409,
          21712,
          `Phone Number is associated with another Messaging Service (${holder.sid}); remove it from that service first`,
        );
      s.numbers.push(pn);
      return { status: 201, body: senderView(s, n) };
    }),
  );
  router.on(
    'DELETE',
    '/messaging/v1/Services/:ServiceSid/PhoneNumbers/:Sid',
    guard((req) => {
      const s = findMs(req.params.ServiceSid);
      if (!s?.numbers.includes(req.params.Sid)) return twilioNotFound(req.path);
      s.numbers = s.numbers.filter((n) => n !== req.params.Sid);
      return { status: 204 };
    }),
  );

  // ---- Sync v1: Services ----
  const syncView = (s: NamedService) => ({
    ...s,
    url: `https://sync.twilio.com/v1/Services/${s.sid}`,
    webhook_url: null,
    reachability_webhooks_enabled: false,
    acl_enabled: false,
    links: { documents: `https://sync.twilio.com/v1/Services/${s.sid}/Documents` },
  });
  router.on(
    'GET',
    '/v1/Services',
    guard(() => ({ status: 200, body: v1Page('services', account.syncServices.map(syncView), '/v1/Services') })),
  );
  router.on(
    'POST',
    '/v1/Services',
    guard((req) => {
      const s: NamedService = {
        ...account.stampOf('v1'),
        sid: sid('IS'),
        unique_name: null,
        friendly_name: field(req.form, 'FriendlyName') ?? '',
      };
      account.syncServices.push(s);
      return { status: 201, body: syncView(s) };
    }),
  );
  router.on(
    'GET',
    '/v1/Services/:Sid',
    guard((req) => {
      const s = account.syncServices.find((x) => x.sid === req.params.Sid || x.unique_name === req.params.Sid);
      return s ? { status: 200, body: syncView(s) } : twilioNotFound(req.path);
    }),
  );

  // ---- Serverless v1: Services, Environments, Variables ----
  const zsView = (s: NamedService) => ({
    ...s,
    include_credentials: true,
    ui_editable: false,
    url: `https://serverless.twilio.com/v1/Services/${s.sid}`,
  });
  const findZs = (key: string) => account.serverlessServices.find((s) => s.sid === key || s.unique_name === key);
  router.on(
    'GET',
    '/serverless/v1/Services',
    guard(() => ({
      status: 200,
      body: v1Page('services', account.serverlessServices.map(zsView), '/v1/Services'),
    })),
  );
  router.on(
    'GET',
    '/serverless/v1/Services/:Sid',
    guard((req) => {
      const s = findZs(req.params.Sid);
      return s ? { status: 200, body: zsView(s) } : twilioNotFound(req.path);
    }),
  );
  const envView = ({ variables: _v, ...e }: ServerlessEnvironment) => ({
    ...account.stampOf('v1'),
    ...e,
    build_sid: null,
    url: `https://serverless.twilio.com/v1/Services/${e.service_sid}/Environments/${e.sid}`,
  });
  const findEnv = (req: SandboxRequest) => {
    const s = findZs(req.params.ServiceSid);
    return s
      ? account.environments.find(
          (e) =>
            e.service_sid === s.sid &&
            (e.sid === req.params.EnvironmentSid || e.unique_name === req.params.EnvironmentSid),
        )
      : undefined;
  };
  router.on(
    'GET',
    '/serverless/v1/Services/:ServiceSid/Environments',
    guard((req) => {
      const s = findZs(req.params.ServiceSid);
      if (!s) return twilioNotFound(req.path);
      const envs = account.environments.filter((e) => e.service_sid === s.sid).map(envView);
      return { status: 200, body: v1Page('environments', envs, req.path.replace('/serverless', '')) };
    }),
  );
  const varView = (e: ServerlessEnvironment, v: { sid: string; key: string; value: string }) => ({
    ...account.stampOf('v1'),
    ...v,
    service_sid: e.service_sid,
    environment_sid: e.sid,
    url: `https://serverless.twilio.com/v1/Services/${e.service_sid}/Environments/${e.sid}/Variables/${v.sid}`,
  });
  router.on(
    'GET',
    '/serverless/v1/Services/:ServiceSid/Environments/:EnvironmentSid/Variables',
    guard((req) => {
      const e = findEnv(req);
      if (!e) return twilioNotFound(req.path);
      return {
        status: 200,
        body: v1Page(
          'variables',
          e.variables.map((v) => varView(e, v)),
          req.path.replace('/serverless', ''),
        ),
      };
    }),
  );
  router.on(
    'POST',
    '/serverless/v1/Services/:ServiceSid/Environments/:EnvironmentSid/Variables',
    guard((req) => {
      const e = findEnv(req);
      if (!e) return twilioNotFound(req.path);
      const key = field(req.form, 'Key');
      const value = field(req.form, 'Value');
      if (!key || value === undefined)
        return twilioError(400, 20001, 'Missing required parameter Key or Value in the post body');
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || key.length > 128)
        return twilioError(400, 20001, `Key is not a valid variable name: ${key}`);
      if (e.variables.some((v) => v.key === key))
        return twilioError(409, 20409, `Variable with key ${key} already exists in this environment`);
      if (value.length > 450) return twilioError(400, 20001, 'Value must be at most 450 characters');
      const v = { sid: sid('ZV'), key, value };
      e.variables.push(v);
      return { status: 201, body: varView(e, v) };
    }),
  );
  router.on(
    'POST',
    '/serverless/v1/Services/:ServiceSid/Environments/:EnvironmentSid/Variables/:Sid',
    guard((req) => {
      const e = findEnv(req);
      const v = e?.variables.find((x) => x.sid === req.params.Sid);
      if (!e || !v) return twilioNotFound(req.path);
      const value = field(req.form, 'Value');
      if (value !== undefined) {
        if (value.length > 450) return twilioError(400, 20001, 'Value must be at most 450 characters');
        v.value = value;
      }
      return { status: 200, body: varView(e, v) };
    }),
  );
  router.on(
    'DELETE',
    '/serverless/v1/Services/:ServiceSid/Environments/:EnvironmentSid/Variables/:Sid',
    guard((req) => {
      const e = findEnv(req);
      const i = e?.variables.findIndex((x) => x.sid === req.params.Sid) ?? -1;
      if (!e || i < 0) return twilioNotFound(req.path);
      e.variables.splice(i, 1);
      return { status: 204 };
    }),
  );
}

// ---- SendGrid: Event Webhook settings (webhooks v3) and tracking settings ----

const sgError = (status: number, message: string, fieldName: string | null = null): SandboxResponse => ({
  status,
  body: { errors: [{ message, field: fieldName }] },
});

export function registerSendgridSettingsApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  const account = state.account;
  const guard = (h: (req: SandboxRequest) => SandboxResponse) => (req: SandboxRequest) =>
    bearer(req) === settings.sendgridApiKey
      ? h(req)
      : sgError(401, 'The provided authorization grant is invalid, expired, or revoked');
  const MAX_WEBHOOKS = 5;
  const publicKeyOf = (w: EventWebhook) => account.signingKeys.get(w.id)?.publicKey ?? '';
  const view = (w: EventWebhook) => ({
    ...w,
    account_status_change: false,
    oauth_client_id: '',
    oauth_token_url: '',
    public_key: publicKeyOf(w),
  });
  const apply = (w: EventWebhook, body: Json): SandboxResponse | undefined => {
    if (body.url !== undefined) {
      if (typeof body.url !== 'string' || !/^https?:\/\//.test(body.url)) return sgError(400, 'invalid url', 'url');
      w.url = body.url;
    }
    if (typeof body.enabled === 'boolean') w.enabled = body.enabled;
    if (typeof body.friendly_name === 'string') w.friendly_name = body.friendly_name;
    for (const e of SENDGRID_EVENTS) if (typeof body[e] === 'boolean') w[e] = body[e];
    return undefined;
  };
  const signedView = (w: EventWebhook) => ({ id: w.id, public_key: publicKeyOf(w) });
  const jsonBody = (req: SandboxRequest) => (isObject(req.json) ? (req.json as Json) : undefined);
  /** a route on the webhook `:id` names: 404 as SendGrid answers when there is none */
  const withWebhook = (h: (w: EventWebhook, req: SandboxRequest) => SandboxResponse) =>
    guard((req) => {
      const w = account.eventWebhooks.find((x) => x.id === req.params.id);
      return w ? h(w, req) : sgError(404, 'webhook not found', 'id');
    });

  router.on(
    'GET',
    '/v3/user/webhooks/event/settings/all',
    guard(() => ({ status: 200, body: { max_allowed: MAX_WEBHOOKS, webhooks: account.eventWebhooks.map(view) } })),
  );
  router.on(
    'POST',
    '/v3/user/webhooks/event/settings',
    guard((req) => {
      const body = jsonBody(req);
      if (!body) return sgError(400, 'request body must be JSON');
      if (typeof body.url !== 'string') return sgError(400, 'url is required', 'url');
      if (account.eventWebhooks.length >= MAX_WEBHOOKS)
        return sgError(400, `you have reached the maximum number of Event Webhooks (${MAX_WEBHOOKS})`);
      const w: EventWebhook = {
        id: randomBytes(16).toString('hex'),
        url: '',
        enabled: false,
        friendly_name: null,
        ...Object.fromEntries(SENDGRID_EVENTS.map((e) => [e, false])),
      };
      const bad = apply(w, body);
      if (bad) return bad;
      account.eventWebhooks.push(w);
      return { status: 201, body: view(w) };
    }),
  );
  router.on(
    'GET',
    '/v3/user/webhooks/event/settings/:id',
    withWebhook((w) => ({ status: 200, body: view(w) })),
  );
  router.on(
    'PATCH',
    '/v3/user/webhooks/event/settings/:id',
    withWebhook((w, req) => {
      const body = jsonBody(req);
      if (!body) return sgError(400, 'request body must be JSON');
      // SendGrid documents `url` as required on an update too (tsg_webhooks_v3 EventWebhookRequest)
      if (typeof body.url !== 'string') return sgError(400, 'url is required', 'url');
      return apply(w, body) ?? { status: 200, body: view(w) };
    }),
  );
  // Signed Event Webhook: turning signing on gives the webhook a key pair (its public key answered)
  router.on(
    'GET',
    '/v3/user/webhooks/event/settings/signed/:id',
    withWebhook((w) => ({ status: 200, body: signedView(w) })),
  );
  router.on(
    'PATCH',
    '/v3/user/webhooks/event/settings/signed/:id',
    withWebhook((w, req) => {
      const body = jsonBody(req);
      if (!body || typeof body.enabled !== 'boolean') return sgError(400, 'enabled must be a boolean', 'enabled');
      if (!body.enabled) account.signingKeys.delete(w.id);
      else if (!account.signingKeys.has(w.id)) account.signingKeys.set(w.id, newSigningKeys());
      return { status: 200, body: signedView(w) };
    }),
  );
  for (const kind of ['open', 'click'] as const) {
    const shape = () =>
      kind === 'open' ? { enabled: account.tracking.open } : { enabled: account.tracking.click, enable_text: false };
    router.on(
      'GET',
      `/v3/tracking_settings/${kind}`,
      guard(() => ({ status: 200, body: shape() })),
    );
    router.on(
      'PATCH',
      `/v3/tracking_settings/${kind}`,
      guard((req) => {
        const body = jsonBody(req);
        if (!body || typeof body.enabled !== 'boolean') return sgError(400, 'enabled must be a boolean', 'enabled');
        account.tracking[kind] = body.enabled;
        return { status: 200, body: shape() };
      }),
    );
  }
}

// ---- Segment Public API: computed traits ----

export function registerSegmentPublicApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  const account = state.account;
  const error = (status: number, message: string): SandboxResponse => ({
    status,
    body: { errors: [{ type: status === 401 ? 'unauthorized' : 'validation', message }] },
  });
  const guard = (h: (req: SandboxRequest) => SandboxResponse) => (req: SandboxRequest) => {
    if (bearer(req) !== settings.segmentPublicApiToken) return error(401, 'Unauthorized');
    if (req.params.spaceId !== settings.segmentSpaceId) return error(404, `Space ${req.params.spaceId} not found`);
    return h(req);
  };
  router.on(
    'GET',
    '/spaces/:spaceId/computed-traits',
    guard((req) => ({
      status: 200,
      body: {
        data: {
          computedTraits: account.computedTraits.filter((t) => t.spaceId === req.params.spaceId),
          pagination: { current: 'MA==', totalEntries: account.computedTraits.length },
        },
      },
    })),
  );
  router.on(
    'POST',
    '/spaces/:spaceId/computed-traits',
    guard((req) => {
      const body = isObject(req.json) ? (req.json as Json) : {};
      const definition = isObject(body.definition) ? (body.definition as Json) : undefined;
      if (typeof body.name !== 'string' || body.name === '') return error(422, 'name is required');
      if (!definition || typeof definition.query !== 'string' || definition.query === '')
        return error(422, 'definition.query is required');
      const key = body.name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
      if (account.computedTraits.some((t) => t.key === key))
        return error(422, `a computed trait with key ${key} exists`);
      const trait: ComputedTrait = {
        id: `ct_${randomBytes(8).toString('hex')}`,
        spaceId: req.params.spaceId,
        name: body.name,
        key,
        enabled: body.enabled !== false,
        definition: { query: definition.query, type: typeof definition.type === 'string' ? definition.type : 'USERS' },
      };
      account.computedTraits.push(trait);
      return { status: 200, body: { data: { computedTrait: trait } } };
    }),
  );
}
