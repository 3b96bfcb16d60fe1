/**
 * Twilio REST 2010 (Messages, Calls) as the sandbox serves it: parameter
 * rules, error bodies and resource shapes follow the official OpenAPI document.
 */
import { segmentsOf } from '../src/lib/channels/sms';
import { rfc2822 } from './clock';
import { basicAuth, field, fieldList, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { E164, sid } from './ids';
import type { SandboxSettings } from './settings';
import type { Recorded, SandboxState } from './state';
import type { Simulator } from './simulator';
import { checkWhatsAppCreate } from './whatsapp';

export function twilioError(status: number, code: number, message: string): SandboxResponse {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

/** A page of a Twilio v1 list answer (the sandbox serves every list in one page). */
export const v1Page = (key: string, items: unknown[], url: string) => ({
  [key]: items,
  meta: { page: 0, page_size: 50, first_page_url: url, previous_page_url: null, url, next_page_url: null, key },
});

/** Twilio's 404 for a resource that does not exist. */
export const twilioNotFound = (path: string) => twilioError(404, 20404, `The requested resource ${path} was not found`);

const MIN_SCHEDULE_S = 15 * 60;
const MAX_SCHEDULE_S = 35 * 24 * 3600;

export function twilioAuthError(req: SandboxRequest, settings: SandboxSettings): SandboxResponse | undefined {
  const creds = basicAuth(req);
  if (!creds || creds.user !== settings.accountSid || creds.pass !== settings.authToken) {
    return twilioError(401, 20003, 'Authenticate');
  }
  if (req.params.AccountSid && req.params.AccountSid !== settings.accountSid) {
    return twilioNotFound(req.path);
  }
  return undefined;
}

/** A route's handler behind Twilio's Basic authentication (20003) and account check (20404). */
export const twilioGuard =
  (settings: SandboxSettings) =>
  (h: (req: SandboxRequest) => SandboxResponse) =>
  (req: SandboxRequest): SandboxResponse =>
    twilioAuthError(req, settings) ?? h(req);

export function registerTwilioApi(
  router: Router,
  state: SandboxState,
  settings: SandboxSettings,
  sim: Simulator,
): void {
  const base = '/2010-04-01/Accounts/:AccountSid';
  const guard = twilioGuard(settings);

  const findMessage = (messageSid: string) => state.messages.find((m) => m.resource.sid === messageSid);
  const findCall = (callSid: string) => state.calls.find((c) => c.resource.sid === callSid);

  router.on(
    'POST',
    `${base}/Messages.json`,
    guard((req) => {
      const f = req.form;
      const to = field(f, 'To');
      const from = field(f, 'From');
      const mss = field(f, 'MessagingServiceSid') ?? (from?.startsWith('MG') ? from : undefined);
      const scheduleType = field(f, 'ScheduleType');
      const sendAt = field(f, 'SendAt');
      if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
      if (!from && !mss) return twilioError(400, 21603, "A 'From' phone number is required.");
      // WhatsApp: its own addresses, senders and templates (whatsapp.ts)
      const wa = to.startsWith('whatsapp:') ? checkWhatsAppCreate(state.whatsapp, f, to) : undefined;
      if (wa && 'status' in wa) return wa;
      const body = wa ? wa.body : field(f, 'Body');
      if (!wa) {
        if (!body && fieldList(f, 'MediaUrl').length === 0) return twilioError(400, 21602, 'Message body is required.');
        if (!E164.test(to)) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
        if (from && !from.startsWith('MG') && !E164.test(from))
          return twilioError(400, 21212, `Invalid 'From' Phone Number: ${from}`);
        if (body && body.length > 1600)
          return twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
      }
      const behaviour = state.contact(to);
      let sendAtMs: number | undefined;
      if (scheduleType !== undefined) {
        if (scheduleType !== 'fixed') return twilioError(400, 35110, `Invalid ScheduleType: ${scheduleType}`);
        if (!mss) return twilioError(400, 35118, 'MessagingServiceSid is required to schedule a message');
        if (!sendAt) return twilioError(400, 35111, 'SendAt timestamp is missing');
        sendAtMs = Date.parse(sendAt);
        const ahead = (sendAtMs - state.clock.now()) / 1000;
        if (Number.isNaN(sendAtMs) || ahead < MIN_SCHEDULE_S || ahead > MAX_SCHEDULE_S) {
          return twilioError(
            400,
            35114,
            'Scheduling does not support this timestamp: SendAt must be between 900 seconds and 35 days (3024000 seconds) in the future',
          );
        }
      }
      if (!wa && (state.optedOut.has(to) || behaviour.optedOut))
        return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');
      if (!wa && behaviour.invalidNumber) {
        return twilioError(400, 21614, `'To' number ${to} is not a valid mobile number`);
      }
      const now = rfc2822(state.clock.now());
      const messageSid = sid('SM');
      const resource = {
        account_sid: settings.accountSid,
        api_version: '2010-04-01',
        body: body ?? '',
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: wa ? wa.sender.sender : mss && !from ? null : from,
        messaging_service_sid: mss ?? null,
        num_media: String(fieldList(f, 'MediaUrl').length),
        // counted as carriers count them: GSM-7 160/153, UCS-2 (Japanese) 70/67 characters
        num_segments: wa ? '1' : String(segmentsOf(body ?? '').segments),
        price: null,
        price_unit: 'USD',
        sid: messageSid,
        status: sendAtMs !== undefined ? 'scheduled' : mss ? 'accepted' : 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${settings.accountSid}/Messages/${messageSid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${settings.accountSid}/Messages/${messageSid}.json`,
      };
      const record: Recorded = { request: { ...f }, resource };
      state.messages.push(record);
      if (sendAtMs === undefined) sim.deliverMessage(record);
      else record.sendAt = sendAtMs;
      return { status: 201, body: resource };
    }),
  );

  router.on(
    'GET',
    `${base}/Messages/:Sid.json`,
    guard((req) => {
      const m = findMessage(req.params.Sid);
      return m ? { status: 200, body: m.resource } : twilioNotFound(req.path);
    }),
  );

  router.on(
    'POST',
    `${base}/Messages/:Sid.json`,
    guard((req) => {
      const m = findMessage(req.params.Sid);
      if (!m) return twilioNotFound(req.path);
      const status = field(req.form, 'Status');
      const body = field(req.form, 'Body');
      if (status !== undefined) {
        if (status !== 'canceled') return twilioError(400, 21218, `Invalid Status: ${status}`);
        if (m.resource.status !== 'scheduled') {
          return twilioError(
            400,
            30409,
            `Message ${m.resource.sid} cannot be canceled: its status is ${m.resource.status}`,
          );
        }
        m.resource.status = 'canceled';
      }
      if (body === '') m.resource.body = '';
      m.resource.date_updated = rfc2822(state.clock.now());
      return { status: 200, body: m.resource };
    }),
  );

  router.on(
    'POST',
    `${base}/Calls.json`,
    guard((req) => {
      const f = req.form;
      const to = field(f, 'To');
      const from = field(f, 'From');
      const url = field(f, 'Url');
      const twiml = field(f, 'Twiml');
      if (!to) return twilioError(400, 21201, "No 'To' number is specified");
      if (!from) return twilioError(400, 21213, "No 'From' number is specified");
      if (!url && !twiml && !field(f, 'ApplicationSid')) return twilioError(400, 21205, 'Url parameter is required.');
      if (!E164.test(to)) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
      if (!E164.test(from)) return twilioError(400, 21212, `Invalid 'From' Phone Number: ${from}`);
      if (twiml && twiml.length > 4000) return twilioError(400, 21232, 'Twiml parameter exceeds 4000 characters');
      const events = fieldList(f, 'StatusCallbackEvent');
      const bad = events.find((e) => !['initiated', 'ringing', 'answered', 'completed'].includes(e));
      if (bad) return twilioError(400, 21626, `Invalid StatusCallbackEvent: ${bad}`);
      const amd = field(f, 'MachineDetection');
      if (amd && !['Enable', 'DetectMessageEnd'].includes(amd))
        return twilioError(400, 21626, `Invalid MachineDetection: ${amd}`);
      const now = rfc2822(state.clock.now());
      const callSid = sid('CA');
      const resource = {
        account_sid: settings.accountSid,
        annotation: null,
        answered_by: null,
        api_version: '2010-04-01',
        caller_name: null,
        date_created: now,
        date_updated: now,
        direction: 'outbound-api',
        duration: null,
        end_time: null,
        forwarded_from: null,
        from,
        from_formatted: from,
        group_sid: null,
        parent_call_sid: null,
        phone_number_sid: sid('PN'),
        price: null,
        price_unit: 'USD',
        queue_time: '0',
        sid: callSid,
        start_time: null,
        status: 'queued',
        subresource_uris: {
          notifications: `/2010-04-01/Accounts/${settings.accountSid}/Calls/${callSid}/Notifications.json`,
        },
        to,
        to_formatted: to,
        trunk_sid: null,
        uri: `/2010-04-01/Accounts/${settings.accountSid}/Calls/${callSid}.json`,
      };
      const record: Recorded = { request: { ...f }, resource };
      state.calls.push(record);
      sim.placeCall(record);
      return { status: 201, body: resource };
    }),
  );

  router.on(
    'GET',
    `${base}/Calls/:Sid.json`,
    guard((req) => {
      const c = findCall(req.params.Sid);
      return c ? { status: 200, body: c.resource } : twilioNotFound(req.path);
    }),
  );
}
