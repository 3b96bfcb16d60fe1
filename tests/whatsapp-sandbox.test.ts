/**
 * The sandbox's WhatsApp (issue 32's first step), through the official client pointed at it as the
 * functions point theirs: the Messaging Service's WhatsApp sender (ChannelSenders), templates and
 * their approval (the Content API), and what WhatsApp decides when a message goes out: free text
 * only within 24 hours of the user's last message (63016 outside it), an approved template at any
 * time, at most 1,024 characters with its variables (63021), no WhatsApp account (63003), `read`,
 * and a reply or a quick-reply button press coming back as a `whatsapp:` message.
 */
import type twilio from 'twilio';
import { twilioClient } from '../src/lib/clients/twilio';
import { loadConfig } from '../src/lib/config';
import { sandboxFunctionEnv } from '../sandbox/launch';
import { type Sandbox, startSandbox } from '../sandbox/server';
import { SANDBOX_DEFAULTS, settingsFromEnv } from '../sandbox/settings';

let sb: Sandbox;
let client: twilio.Twilio;
const MSS = SANDBOX_DEFAULTS.MESSAGING_SERVICE_SID;

beforeAll(async () => {
  sb = await startSandbox({ ...settingsFromEnv({}), port: 0 });
  client = twilioClient(loadConfig(sandboxFunctionEnv(sb.url)));
});
afterAll(() => sb.close());

const control = async (path: string, body?: unknown) => {
  const res = await fetch(`${sb.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
};
const settle = () => control('/sandbox/settle', {});

/** The message once WhatsApp has decided (its status no longer queued or sent). */
async function settled(sid: string) {
  await settle();
  return client.messages(sid).fetch();
}

async function templateSid(name: string) {
  const all = await client.content.v1.contentAndApprovals.list();
  const t = all.find((c) => c.friendlyName === name);
  if (!t) throw new Error(`no template ${name}`);
  return t.sid;
}

test('the Messaging Service holds a WhatsApp sender; the Content API lists templates with their approval', async () => {
  const senders = await client.messaging.v1.services(MSS).channelSenders.list();
  expect(senders.map((s) => [s.senderType, s.sender])).toEqual([
    ['WhatsApp', `whatsapp:${SANDBOX_DEFAULTS.TWILIO_PHONE_NUMBER}`],
  ]);
  const templates = await client.content.v1.contentAndApprovals.list();
  const status = Object.fromEntries(
    templates.map((t) => [t.friendlyName, (t.approvalRequests as unknown as { status: string }).status]),
  );
  expect(status).toMatchObject({ appointment_reminder: 'approved', spring_sale: 'rejected' });
  const one = await client.content.v1.contents(await templateSid('appointment_reminder')).fetch();
  expect(Object.keys(one.types)).toEqual(['twilio/quick-reply']);
  await expect(client.content.v1.contents(`HX${'0'.repeat(32)}`).fetch()).rejects.toMatchObject({ status: 404 });
});

test('outside the 24-hour window free text fails with 63016 and an approved template is delivered and read', async () => {
  const to = 'whatsapp:+819011110001';
  const text = await client.messages.create({ to, messagingServiceSid: MSS, body: 'ご予約のお知らせです' });
  expect(text.status).toBe('accepted');
  expect(await settled(text.sid)).toMatchObject({ status: 'failed', errorCode: 63016 });
  const template = await client.messages.create({
    to,
    messagingServiceSid: MSS,
    contentSid: await templateSid('appointment_reminder'),
    contentVariables: JSON.stringify({ 1: '佐藤', 2: '12月3日 10:00' }),
  });
  expect(template.body).toBe('佐藤様、12月3日 10:00のご予約のお知らせです。ご確認ください。');
  expect(await settled(template.sid)).toMatchObject({ status: 'read', errorCode: null });
  // a rejected template is free text as far as WhatsApp is concerned
  const rejected = await client.messages.create({
    to,
    messagingServiceSid: MSS,
    contentSid: await templateSid('spring_sale'),
  });
  expect(await settled(rejected.sid)).toMatchObject({ status: 'failed', errorCode: 63016 });
});

test('after the user writes, free text is allowed for 24 hours, then no longer', async () => {
  const to = 'whatsapp:+819011110002';
  await control('/sandbox/inbound-whatsapp', { from: to, body: 'こんにちは' });
  const within = await client.messages.create({ to, messagingServiceSid: MSS, body: 'ご返信ありがとうございます' });
  expect(await settled(within.sid)).toMatchObject({ status: 'read' });
  await control('/sandbox/clock/advance', { seconds: 24 * 3600 });
  const after = await client.messages.create({ to, messagingServiceSid: MSS, body: 'まだ大丈夫ですか' });
  expect(await settled(after.sid)).toMatchObject({ status: 'failed', errorCode: 63016 });
});

test('over 1,024 characters with its variables: 63021; a number without WhatsApp: 63003', async () => {
  const long = await client.messages.create({
    to: 'whatsapp:+819011110003',
    messagingServiceSid: MSS,
    contentSid: await templateSid('payment_due'),
    contentVariables: JSON.stringify({ 1: 'あ'.repeat(1020), 2: '明日' }),
  });
  expect(await settled(long.sid)).toMatchObject({ status: 'failed', errorCode: 63021 });
  await control('/sandbox/contacts/+819011110004', { whatsapp: false });
  const none = await client.messages.create({
    to: 'whatsapp:+819011110004',
    messagingServiceSid: MSS,
    contentSid: await templateSid('payment_due'),
  });
  expect(await settled(none.sid)).toMatchObject({ status: 'failed', errorCode: 63003 });
});

test('what the API refuses at once: an unknown ContentSid (21655), ContentVariables not an object (21656), a From that is no WhatsApp sender (63007)', async () => {
  const to = 'whatsapp:+819011110005';
  await expect(
    client.messages.create({ to, messagingServiceSid: MSS, contentSid: `HX${'1'.repeat(32)}` }),
  ).rejects.toMatchObject({ status: 400, code: 21655 });
  await expect(
    client.messages.create({
      to,
      messagingServiceSid: MSS,
      contentSid: await templateSid('payment_due'),
      contentVariables: '["a"]',
    }),
  ).rejects.toMatchObject({ status: 400, code: 21656 });
  await expect(client.messages.create({ to, from: 'whatsapp:+15005550009', body: 'hi' })).rejects.toMatchObject({
    status: 400,
    code: 63007,
  });
});

test("a contact who engages presses the template's quick-reply button: a whatsapp: message with ButtonPayload", async () => {
  const to = 'whatsapp:+819011110006';
  await control('/sandbox/contacts/+819011110006', { engage: { WHATSAPP: 1 }, pressButton: true });
  const m = await client.messages.create({
    to,
    messagingServiceSid: MSS,
    contentSid: await templateSid('appointment_reminder'),
  });
  await settled(m.sid);
  const callbacks: Array<{ kind: string; params: Record<string, string> }> = await control('/sandbox/callbacks');
  const reply = callbacks.find((c) => c.kind === 'whatsapp-inbound' && c.params.From === to);
  expect(reply?.params).toMatchObject({
    ButtonPayload: 'confirm',
    ButtonText: '確認しました',
    MessageType: 'button',
    To: `whatsapp:${SANDBOX_DEFAULTS.TWILIO_PHONE_NUMBER}`,
    WaId: '819011110006',
  });
});
