/**
 * WhatsApp, the fourth channel (issue 32), through the running functions against the sandbox:
 * a template outside the 24-hour window (by the name setup writes), free text within it, 400
 * template_required when neither may go, delivered and read (read is not engagement by default), a
 * quick-reply press as engagement, STOP opting out of WhatsApp only, and an escalation WhatsApp →
 * call → email.
 */
import { sandboxTemplateSid } from '../sandbox/whatsapp';
import { clientOf, ownStack, waitFor } from './helpers';

type Client = Awaited<ReturnType<typeof ownStack>>;
let stack: Client;
beforeAll(async () => {
  stack = await ownStack(() => ({ SANDBOX_CALLBACK_DELAY_MS: '20', RECOVERY_SWEEP_SECONDS: '0' }));
}, 120_000);
afterAll(() => stack?.stop());

let n = 0;
const person = (name: string) => {
  n += 1;
  return { userId: `${name}-${n}`, phone: `+8190${String(70_000_000 + n).slice(-8)}`, email: `${name}${n}@example.jp` };
};
const key = { Authorization: 'Bearer sandbox-notify-api-key' };
const REMINDER = sandboxTemplateSid('appointment_reminder');

type Message = {
  request: Record<string, string>;
  resource: { sid: string; status: string; body: string; error_code: number | null };
};
async function messageOf(c: ReturnType<typeof clientOf>, sid: string): Promise<Message> {
  await c.sandbox.settle();
  return ((await c.sandbox.messages()) as Message[]).find((m) => m.resource.sid === sid) as Message;
}
const tracked = async (c: ReturnType<typeof clientOf>, event: string, notificationId: string) =>
  (await c.sandbox.events({ type: 'track', event })).filter((e) => e.properties?.notification_id === notificationId);

test('outside the window: the template by name, delivered and read; no template is 400 template_required', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-template');
  const none = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-none',
    message: 'お知らせ',
  });
  expect(none.status).toBe(400);
  expect(none.body.error).toMatchObject({ code: 'template_required', field: 'template' });
  const sent = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-template',
    message: 'ご予約のお知らせです',
    template: 'appointment_reminder',
    variables: { 1: '山田', 2: '12月3日 10:00' },
  });
  expect(sent.status).toBe(200);
  expect(sent.body).toMatchObject({ channel: 'WHATSAPP', status: 'sent' });
  const m = await messageOf(c, sent.body.providerId);
  expect(m.request).toMatchObject({ To: `whatsapp:${u.phone}`, ContentSid: REMINDER });
  expect(m.resource).toMatchObject({
    status: 'read',
    body: '山田様、12月3日 10:00のご予約のお知らせです。ご確認ください。',
  });
  await waitFor(async () => (await tracked(c, 'Notification Read', 'wa-template')).length === 1);
  expect(await tracked(c, 'Notification Delivered', 'wa-template')).toHaveLength(1);
  // read is not engagement unless WHATSAPP_READ_ENGAGES says so
  expect(await tracked(c, 'Notification Engaged', 'wa-template')).toHaveLength(0);
  const sentEvent = (await tracked(c, 'Notification Sent', 'wa-template'))[0];
  expect(sentEvent.properties).toMatchObject({ channel: 'WHATSAPP' });
});

test('after the user writes on WhatsApp, free text goes for 24 hours; a button press is engagement', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-window');
  await c.sandbox.contact(u.phone, { engage: { WHATSAPP: 1 }, pressButton: true } as never);
  const first = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-first',
    message: 'ご予約のお知らせです',
    template: REMINDER,
  });
  expect(first.status).toBe(200);
  // the button press engages the notification, and opens the window
  await waitFor(async () => (await tracked(c, 'Notification Engaged', 'wa-first')).length === 1);
  const engaged = (await tracked(c, 'Notification Engaged', 'wa-first'))[0];
  expect(engaged.properties).toMatchObject({ channel: 'WHATSAPP', engagement: 'reply' });
  await c.sandbox.contact(u.phone, {});
  const text = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-text',
    message: '明日お待ちしております',
  });
  expect(text.status).toBe(200);
  const m = await messageOf(c, text.body.providerId);
  expect(m.request.ContentSid).toBeUndefined();
  expect(m.request.Body).toBe('明日お待ちしております');
  expect(m.resource.status).toBe('read');
});

test('STOP on WhatsApp opts the user out of WhatsApp only', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-stop');
  const sent = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-stop',
    message: 'x',
    template: REMINDER,
  });
  expect(sent.status).toBe(200);
  await c.sandbox.settle();
  await fetch(`${stack.urls.sandboxUrl}/sandbox/inbound-whatsapp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: `whatsapp:${u.phone}`, body: 'STOP' }),
  });
  await waitFor(async () => (await tracked(c, 'Notification Opted Out', 'wa-stop')).length === 1);
  const identify = (await c.sandbox.events({ type: 'identify' })).filter(
    (e) =>
      (e as { userId?: string }).userId === u.userId &&
      'whatsapp_opted_out' in ((e as { traits?: object }).traits ?? {}),
  );
  expect(identify.map((e) => (e as { traits: Record<string, unknown> }).traits)).toEqual([
    { whatsapp_opted_out: true },
  ]);
});

test('an escalation WhatsApp → call → email: a number without WhatsApp fails the first step, the call goes', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-escalate');
  await c.sandbox.contact(u.phone, { whatsapp: false, engage: { CALL: 1 } } as never);
  const r = await c.notify({
    ...u,
    whatsapp: true,
    notificationId: 'wa-escalate',
    message: 'ご予約の確認です',
    template: REMINDER,
    escalation: 'whatsapp,call,email',
  });
  expect(r.status).toBe(200);
  expect(r.body.steps.map((s: { channel: string }) => s.channel)).toEqual(['WHATSAPP', 'CALL', 'EMAIL']);
  await waitFor(async () => {
    const record = await c.call('GET', '/notification?notificationId=wa-escalate', { headers: key });
    const steps = record.body.steps as Array<{ channel: string; status: string }>;
    // the webhook tells Segment after its record writes: wait for its events too, not only the record
    const told = await Promise.all(
      ['Notification Failed', 'Notification Escalated'].map((e) => tracked(c, e, 'wa-escalate')),
    );
    return steps[0].status === 'FAILED' && steps[1].status !== 'PENDING' && told.every((x) => x.length > 0);
  });
  const failed = await tracked(c, 'Notification Failed', 'wa-escalate');
  expect(failed[0].properties).toMatchObject({ channel: 'WHATSAPP', error_code: '63003' });
  const escalated = await tracked(c, 'Notification Escalated', 'wa-escalate');
  expect(escalated[0].properties).toMatchObject({ from_channel: 'WHATSAPP', to_channel: 'CALL' });
  // outside the window the WhatsApp step went as the template
  const first = await messageOf(c, r.body.providerId);
  expect(first.request).toMatchObject({ ContentSid: REMINDER });
});

test('a number WhatsApp says has no account (63003) is named in a trait, and WhatsApp is not tried on it again', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-incapable');
  await c.sandbox.contact(u.phone, { whatsapp: false } as never);
  const base = { ...u, whatsapp: true, message: 'ご予約の確認です', template: REMINDER };
  const first = await c.notify({ ...base, channel: 'whatsapp', notificationId: 'wa-incapable-1' });
  expect(first.status).toBe(200);
  expect(first.body.channel).toBe('WHATSAPP');
  // WhatsApp tells it when the message goes out: the status callback fails it with 63003
  await waitFor(async () => (await tracked(c, 'Notification Failed', 'wa-incapable-1')).length === 1);
  const traits = async () =>
    (await c.sandbox.events({ type: 'identify' }))
      .filter((e) => (e as { userId?: string }).userId === u.userId)
      .map((e) => (e as { traits: Record<string, unknown> }).traits)
      .filter((t) => 'whatsapp_incapable_phone' in t);
  await waitFor(async () => (await traits()).length > 0);
  expect(await traits()).toEqual([{ whatsapp_incapable_phone: u.phone }]);
  // routed now, the number's other channels are tried; asked for WhatsApp alone, it is unreachable
  const next = await c.notify({ ...base, notificationId: 'wa-incapable-2' });
  expect(next.status).toBe(200);
  expect(['SMS', 'CALL', 'EMAIL']).toContain(next.body.channel);
  const forced = await c.notify({ ...base, channel: 'whatsapp', notificationId: 'wa-incapable-3' });
  expect(forced.body.error).toMatchObject({ code: 'unreachable' });
  expect(JSON.stringify(forced.body.error)).toContain('63003');
});

test('the same escalation inside the window: the WhatsApp step goes as free text, and its reply ends the journey', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-escalate-window');
  // an earlier notification, answered on WhatsApp: the window is open
  await c.sandbox.contact(u.phone, { engage: { WHATSAPP: 1 } } as never);
  await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-open',
    message: 'x',
    template: REMINDER,
  });
  await waitFor(async () => (await tracked(c, 'Notification Engaged', 'wa-open')).length === 1);
  const r = await c.notify({
    ...u,
    whatsapp: true,
    notificationId: 'wa-escalate-window',
    message: 'ご予約の確認です',
    template: REMINDER,
    escalation: 'whatsapp,call,email',
  });
  expect(r.status).toBe(200);
  const m = await messageOf(c, r.body.providerId);
  expect(m.request.ContentSid).toBeUndefined();
  expect(m.request.Body).toBe('ご予約の確認です');
  // the reply completes the journey: the later steps are canceled, the call never placed
  await waitFor(async () => {
    const record = await c.call('GET', '/notification?notificationId=wa-escalate-window', { headers: key });
    return record.body.steps.slice(1).every((s: { status: string }) => s.status === 'CANCELED');
  });
});

test('a number that wrote first, before any notification, has its window kept: its first notification may be free text', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-wrote-first');
  await fetch(`${stack.urls.sandboxUrl}/sandbox/inbound-whatsapp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: `whatsapp:${u.phone}`, body: '予約を変更したいです' }),
  });
  // nobody to credit it to: no engagement is counted
  expect(
    (await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })).filter((e) => e.userId === u.userId),
  ).toEqual([]);
  const r = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-wrote-first',
    message: '担当者からご連絡します',
  });
  expect(r.status).toBe(200);
  const m = await messageOf(c, r.body.providerId);
  expect(m.request.Body).toBe('担当者からご連絡します');
  expect(m.resource.status).toBe('read');
});

test('in quiet hours a WhatsApp notification waits for their end, scheduled through the Messaging Service as the template', async () => {
  const c = clientOf(stack.urls);
  const u = person('wa-quiet');
  // quiet from an hour before the sandbox's now to three hours after, in the user's zone (UTC)
  await c.sandbox.traits(u.userId, { timezone: 'UTC' });
  const hour = new Date((await c.sandbox.status()).clock).getUTCHours();
  const hh = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
  const r = await c.notify({
    ...u,
    whatsapp: true,
    channel: 'whatsapp',
    notificationId: 'wa-quiet',
    message: 'ご予約のお知らせです',
    template: REMINDER,
    quietHours: `${hh(hour - 1)}-${hh(hour + 3)}`,
  });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ channel: 'WHATSAPP', status: 'scheduled' });
  const m = await messageOf(c, r.body.providerId);
  expect(m.request).toMatchObject({
    ScheduleType: 'fixed',
    ContentSid: REMINDER,
    MessagingServiceSid: expect.stringMatching(/^MG/),
  });
  expect(m.resource.status).toBe('scheduled');
  expect(Date.parse(r.body.sendAt)).toBeGreaterThan(Date.parse((await c.sandbox.status()).clock) + 2 * 3_600_000);
});
