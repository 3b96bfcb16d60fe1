/**
 * One CSV row as a /notify request: its notification id (derived, so that a
 * re-run sends nothing twice), the rendered content, and every problem the
 * service would refuse it for, found before sending (the same parser /notify
 * runs, plus what the providers refuse: the scheduling windows).
 */
import { createHash } from 'node:crypto';
import { CHANNEL_ADDRESS, type Channel, CHANNELS } from '../lib/channel-list';
import { SCHEDULING } from '../lib/channels/windows';
import { ApiError } from '../lib/http/errors';
import { ID_PATTERN } from '../lib/http/params';
import { parseNotifyInput } from '../lib/app/notify/input';
import { placeholdersOf, render } from './template';

/** Columns with a meaning of their own; any other column is only a placeholder value. */
export const ROW_FIELDS = [
  'userId',
  'phone',
  'email',
  'whatsapp',
  'firstName',
  'lastName',
  'locale',
  'channel',
  'sendAt',
] as const;

export interface Templates {
  message: string;
  subject?: string;
  html?: string;
}

export interface CampaignSpec {
  campaignId: string;
  templates: Templates;
  /** WhatsApp outside the 24-hour window: the template (a name setup wrote, or a Content SID) and its variables, each with {{column}} */
  whatsapp?: { template: string; variables: Record<string, string> };
  /** the column whose value identifies a row's notification (default userId) */
  keyColumn: string;
  /** schedules every row without a sendAt of its own (a time, or `best`: the learner picks each row's time) */
  sendAt?: string;
  /** with sendAt=best: the window it picks the time in (ISO 8601 duration; the service's default PT24H) */
  within?: string;
  /** the locale of rows without one: sent with them, and used to read their phone numbers */
  locale?: string;
  /** the service's DEFAULT_LOCALE as far as known here: how it reads a row sent without a locale */
  serviceLocale: string;
}

export interface Problem {
  field: string;
  message: string;
}

export interface RowRequest {
  /** 1 = the first row after the header */
  row: number;
  userId?: string;
  notificationId?: string;
  params: Record<string, string>;
  problems: Problem[];
}

/** A campaign id leaves room in /notify's 64 characters for the row's key (or its hash). */
const CAMPAIGN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,31}$/;

export function campaignIdProblem(campaignId: string): string | undefined {
  return CAMPAIGN_ID.test(campaignId)
    ? undefined
    : '--id must be 1–32 letters, digits or _.:@- (it prefixes every notification id)';
}

/** `<campaign>.<key>`, or `<campaign>.<hash of the key>` when the key is too long or has other characters. */
export function notificationIdOf(campaignId: string, key: string): string {
  const id = `${campaignId}.${key}`;
  if (ID_PATTERN.test(id)) return id;
  return `${campaignId}.${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

/** Placeholders of the templates that name no column of the header. */
export function unknownPlaceholders(
  templates: Templates,
  header: string[],
  whatsapp?: CampaignSpec['whatsapp'],
): string[] {
  const texts = [templates.message, templates.subject, templates.html, ...Object.values(whatsapp?.variables ?? {})];
  const used = texts.flatMap((t) => (t ? placeholdersOf(t) : []));
  return [...new Set(used)].filter((p) => !header.includes(p));
}

const MINUTE = 60_000;

/** Whether a provider that could carry this row can schedule it then (SMS 15 min–35 days, email ≤ 72 h ahead). */
/**
 * Why /notify would refuse the row's sendAt: no channel it may take (the one named, else any the row
 * reaches) schedules that far ahead (channels/windows.ts's SCHEDULING, one row per channel).
 */
function sendAtProblem(at: Date, channel: string | undefined, reach: Channel[], now: number) {
  const ahead = at.getTime() - now;
  const fits = (c: Channel) => {
    const w = SCHEDULING[c];
    return w !== undefined && ahead > 0 && ahead >= w.minMs && ahead <= w.maxMs;
  };
  if (reach.filter((c) => !channel || c === channel.toUpperCase()).some(fits)) return undefined;
  const minutes = Math.round(ahead / MINUTE);
  return `sendAt is ${minutes} minutes ahead: Twilio schedules SMS and WhatsApp 15 minutes to 35 days ahead, SendGrid email at most 72 hours (and calls cannot be scheduled)`;
}

export function requestOf(
  values: Record<string, string | undefined>,
  row: number,
  spec: CampaignSpec,
  now = Date.now(),
): RowRequest {
  const problems: Problem[] = [];
  const cell = (name: string) => {
    const v = values[name]?.trim();
    return v ? v : undefined;
  };
  const userId = cell('userId');
  const key = cell(spec.keyColumn);
  if (!userId) problems.push({ field: 'userId', message: 'userId is required' });
  else if (!key) problems.push({ field: spec.keyColumn, message: `${spec.keyColumn} is empty` });
  const notificationId = key ? notificationIdOf(spec.campaignId, key) : undefined;

  const params: Record<string, string> = {};
  for (const f of ROW_FIELDS) {
    const v = cell(f);
    if (v !== undefined) params[f] = f === 'channel' ? v.toLowerCase() : v;
  }
  if (spec.sendAt && !params.sendAt) params.sendAt = spec.sendAt;
  if (params.sendAt === 'best' && spec.within) params.within = spec.within;
  if (spec.locale && !params.locale) params.locale = spec.locale;
  if (notificationId) params.notificationId = notificationId;
  for (const [name, template] of Object.entries(spec.templates) as Array<[keyof Templates, string | undefined]>) {
    if (template === undefined) continue;
    const { text, missing } = render(template, values, { html: name === 'html' });
    // an empty cell would leave a hole in the message: the row is refused, never sent half-filled
    const empty = placeholdersOf(template).filter((p) => !missing.includes(p) && !values[p]?.trim());
    for (const p of [...missing, ...empty]) problems.push({ field: p, message: `{{${p}}} has no value in this row` });
    params[name] = text;
  }
  if (spec.whatsapp) {
    params.template = spec.whatsapp.template;
    const variables: Record<string, string> = {};
    for (const [k, template] of Object.entries(spec.whatsapp.variables)) {
      const { text, missing } = render(template, values);
      const empty = placeholdersOf(template).filter((p) => !missing.includes(p) && !values[p]?.trim());
      for (const p of [...missing, ...empty]) problems.push({ field: p, message: `{{${p}}} has no value in this row` });
      variables[k] = text;
    }
    if (Object.keys(variables).length) params.variables = JSON.stringify(variables);
  }
  if (!params.phone && !params.email && !params.whatsapp)
    problems.push({ field: 'phone', message: 'the row has neither phone, email nor whatsapp' });

  // what /notify would refuse, found beside the problems above (parsing stops at its first)
  if (userId) {
    try {
      const input = parseNotifyInput(params, { defaultLocale: spec.serviceLocale });
      if (input.sendAt) {
        const address = { phone: input.phone, email: input.email, whatsapp: params.whatsapp };
        const reach = CHANNELS.filter((c) => address[CHANNEL_ADDRESS[c].kind]);
        const why = sendAtProblem(input.sendAt, params.channel, reach, now);
        if (why) problems.push({ field: 'sendAt', message: why });
      }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (!problems.some((p) => p.field === err.field))
        problems.push({ field: err.field ?? 'row', message: err.message });
    }
  }
  return { row, userId, notificationId, params, problems };
}
