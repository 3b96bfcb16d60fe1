/**
 * The frequency cap (FREQUENCY_CAP=2/1h here): at most two non-urgent notifications per user in
 * any hour, exactly, however many requests race; urgent ones and an escalation's later steps are
 * never capped; a suppressed notification is answered, recorded and tracked, never sent.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientOf, ownStack } from './helpers';

type Client = Awaited<ReturnType<typeof ownStack>>;
let stack: Client;
beforeAll(async () => {
  stack = await ownStack(() => ({
    SANDBOX_CALLBACK_DELAY_MS: '20',
    RECOVERY_SWEEP_SECONDS: '0',
    FREQUENCY_CAP: '2/1h',
  }));
}, 120_000);
afterAll(() => stack?.stop());

const person = (name: string, i = 0) => ({
  userId: `${name}-${i}`,
  phone: `+8170${String(50_000_000 + i + name.length * 1000).slice(-8)}`,
  email: `${name}${i}@example.jp`,
});

test('the third notification within the hour is suppressed (answered, recorded, tracked, not sent); urgent ones pass; an hour later a slot is free', async () => {
  const c = clientOf(stack.urls);
  const u = person('capped');
  const send = (n: number, extra: Record<string, unknown> = {}) =>
    c.notify({ ...u, channel: 'sms', notificationId: `cap-${n}`, message: `お知らせ ${n}`, ...extra });
  expect((await send(1)).body.status).toBe('sent');
  expect((await send(2)).body.status).toBe('sent');
  const third = await send(3);
  expect(third.status).toBe(200);
  expect(third.body).toMatchObject({ status: 'suppressed', reason: 'frequency_cap', cap: '2/1h', group: 'override' });
  expect(Date.parse(third.body.nextSlotAt)).toBeGreaterThan(Date.now() - 3_600_000);
  // not sent: the sandbox got two messages for this number
  const to = (await c.sandbox.messages()).filter((m: { request: { To: string } }) => m.request.To === u.phone);
  expect(to).toHaveLength(2);
  const suppressed = await c.sandbox.events({ type: 'track', event: 'Notification Suppressed' });
  expect(suppressed.map((e) => e.properties)).toEqual([
    expect.objectContaining({ notification_id: 'cap-3', reason: 'frequency_cap', cap: '2/1h', group: 'override' }),
  ]);
  // the record says so, and a retry of the id stays suppressed (not a send, not a duplicate send)
  const record = await c.call('GET', '/notification?notificationId=cap-3', {
    headers: { Authorization: 'Bearer sandbox-notify-api-key' },
  });
  expect(record.body).toMatchObject({ state: 'suppressed', outcome: 'suppressed' });
  expect((await send(3)).body).toMatchObject({ status: 'suppressed', reason: 'frequency_cap' });
  // /insights counts it as Segment does (over this stack's notifications so far, whichever test sent them)
  const insights = await c.call('GET', '/insights', { headers: { Authorization: 'Bearer sandbox-notify-api-key' } });
  const tracked = await c.sandbox.events({ type: 'track', event: 'Notification Suppressed' });
  expect(insights.body.groups.override.suppressed).toBe(tracked.length);
  // urgent notifications are never capped, and take no slot
  expect((await send(4, { urgent: true })).body.status).toBe('sent');
  expect((await send(5)).body.status).toBe('suppressed');
  // an hour and ten seconds later both slots' windows have passed (Sync has not expired them yet)
  await c.sandbox.advance(3610);
  expect((await send(6)).body.status).toBe('sent');
  expect((await send(7)).body.status).toBe('sent');
  expect((await send(8)).body.status).toBe('suppressed');
  expect(
    (await c.sandbox.messages()).filter((m: { request: { To: string } }) => m.request.To === u.phone),
  ).toHaveLength(5);
});

test('when the slots cannot be read nothing is sent, and the id is free for the retry', async () => {
  const c = clientOf(stack.urls);
  const u = person('unreadable');
  for (const n of [1, 2]) await c.notify({ ...u, channel: 'sms', notificationId: `unreadable-${n}`, message: 'x' });
  // every slot is held, and reading them (to find one whose window has passed) fails
  await c.sandbox.fault({ api: 'sync', status: 503, method: 'GET', path: '/Documents/cap-', count: 100 });
  const failed = await c.notify({ ...u, channel: 'sms', notificationId: 'unreadable-3', message: 'x' });
  await c.sandbox.fault({ api: 'sync', count: 0 });
  expect(failed.status).toBe(503);
  const sent = (await c.sandbox.messages()).filter((m: { request: { To: string } }) => m.request.To === u.phone);
  expect(sent).toHaveLength(2);
  // the retry of the same id is decided afresh (not held up by a lock left behind)
  expect((await c.notify({ ...u, channel: 'sms', notificationId: 'unreadable-3', message: 'x' })).body).toMatchObject({
    status: 'suppressed',
  });
});

test('requests racing for a user’s last slot send one', async () => {
  const c = clientOf(stack.urls);
  const USERS = 6;
  const RACERS = 5;
  const users = Array.from({ length: USERS }, (_, i) => person('racer', i));
  // each user has one slot left
  for (const u of users) {
    expect((await c.notify({ ...u, channel: 'email', notificationId: `${u.userId}-0`, message: 'a' })).status).toBe(
      200,
    );
  }
  const answers = await Promise.all(
    users.flatMap((u) =>
      Array.from({ length: RACERS }, (_, r) =>
        c.notify({ ...u, channel: 'email', notificationId: `${u.userId}-race-${r}`, message: 'b' }),
      ),
    ),
  );
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
  for (const u of users) {
    const mine = answers.filter((a) => a.body.userId === u.userId).map((a) => a.body.status);
    expect([u.userId, mine.filter((s) => s === 'sent').length]).toEqual([u.userId, 1]);
    expect(mine.filter((s) => s === 'suppressed')).toHaveLength(RACERS - 1);
  }
  const emails = await c.sandbox.emails();
  for (const u of users)
    expect(emails.filter((e: any) => JSON.stringify(e.request.personalizations).includes(u.email))).toHaveLength(2);
});

test('a burst to a user with every slot free sends at most the cap, and slots a racer took and did not use are freed', async () => {
  const c = clientOf(stack.urls);
  const u = person('burst');
  const send = (id: string) => c.notify({ ...u, channel: 'sms', notificationId: id, message: id });
  const burst = await Promise.all(Array.from({ length: 4 }, (_, r) => send(`burst-${r}`)));
  const sent = burst.filter((a) => a.body.status === 'sent').length;
  expect(sent).toBeGreaterThanOrEqual(1);
  expect(sent).toBeLessThanOrEqual(2);
  // one at a time now: the hour takes exactly two, whatever the burst's racers grabbed and let go
  const after: string[] = [];
  for (let r = 0; r < 3; r++) after.push((await send(`after-${r}`)).body.status);
  expect(sent + after.filter((s) => s === 'sent').length).toBe(2);
  expect(after.at(-1)).toBe('suppressed');
});

test('an escalation under way is not capped: its later step goes out though its first took the last slot', async () => {
  const c = clientOf(stack.urls);
  const u = person('escalating');
  await c.sandbox.contact(u.phone, { unreachable: ['SMS'] });
  expect((await c.notify({ ...u, channel: 'email', notificationId: 'esc-0', message: 'a' })).body.status).toBe('sent');
  const journey = await c.notify({ ...u, escalation: 'sms,email', notificationId: 'esc-1', message: 'b' });
  expect(journey.body).toMatchObject({ status: 'sent', channel: 'SMS', group: 'escalation' });
  await c.sandbox.settle(); // the SMS fails: the journey moves on to email at once
  const emails = await c.sandbox.emails();
  // sent now (its scheduled copy, made when the journey began, is cancelled)
  const sentNow = emails.filter((e: any) => e.resource.status === 'sent' && e.request.custom_args.user_id === u.userId);
  expect(sentNow.map((e: any) => e.request.custom_args.notification_id)).toEqual(['esc-0', 'esc-1']);
  // and the cap is full for anything new
  expect((await c.notify({ ...u, channel: 'email', notificationId: 'esc-2', message: 'c' })).body.status).toBe(
    'suppressed',
  );
});

test('npm run campaign reports rows over the cap as suppressed, in its summary and its results file', async () => {
  const c = clientOf(stack.urls);
  const root = join(__dirname, '..');
  execFileSync(process.execPath, [join(root, 'scripts/campaign.mjs'), '--help'], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'cap-campaign-'));
  const full = person('full');
  for (const n of [1, 2]) await c.notify({ ...full, channel: 'sms', notificationId: `full-${n}`, message: 'x' });
  const others = [person('free', 1), person('free', 2)];
  const rows = [full, ...others].map((u) => `${u.userId},${u.phone},${u.email}`);
  writeFileSync(join(dir, 'list.csv'), ['userId,phone,email', ...rows].join('\n'));
  const out = execFileSync(
    process.execPath,
    [
      join(root, '.build/campaign/cli.cjs'),
      'send',
      'list.csv',
      '--id',
      'capped',
      '--message',
      'ご案内',
      '--url',
      stack.urls.functionsUrl,
      '--key',
      'sandbox-notify-api-key',
    ],
    { cwd: dir, env: { ...process.env, NOTIFY_URL: '', NOTIFY_API_KEY: '' }, encoding: 'utf8' },
  );
  expect(out).toMatch(/suppressed: 1 rows over the service's FREQUENCY_CAP/);
  const csvText = readFileSync(join(dir, 'capped.results.csv'), 'utf8');
  const line = csvText.split('\n').find((l) => l.includes(full.userId));
  expect(line).toMatch(/frequency_cap,suppressed/);
  expect(csvText.split('\n').filter((l) => /,sent,/.test(l))).toHaveLength(2);
});

test('a scheduled send counts from its send time, and /cancel gives its slot back (issue 29)', async () => {
  const c = clientOf(stack.urls);
  const u = person('ahead');
  const at = async (hoursAhead: number) => {
    const now = Date.parse((await c.sandbox.status()).clock);
    return new Date(now + hoursAhead * 3_600_000).toISOString();
  };
  const send = (n: string, extra: Record<string, unknown> = {}) =>
    c.notify({ ...u, channel: 'email', notificationId: `ahead-${n}`, message: `お知らせ ${n}`, ...extra });
  // two emails 70 hours ahead take nothing from now
  expect((await send('later-1', { sendAt: await at(70) })).body.status).toBe('scheduled');
  expect((await send('later-2', { sendAt: await at(70) })).body.status).toBe('scheduled');
  expect((await send('now-1')).body.status).toBe('sent');
  // … but they fill the hour around 70 h: a third then is suppressed
  expect((await send('later-3', { sendAt: await at(70.5) })).body.status).toBe('suppressed');
  // two reminders in 30 minutes fill this hour; cancelling one gives its slot back at once
  expect((await send('soon-1', { sendAt: await at(0.5) })).body.status).toBe('scheduled');
  expect((await send('now-2')).body.status).toBe('suppressed');
  const bearer = { Authorization: 'Bearer sandbox-notify-api-key' };
  expect((await c.call('POST', '/cancel', { json: { notificationId: 'ahead-soon-1' }, headers: bearer })).status).toBe(
    200,
  );
  expect((await send('now-3')).body.status).toBe('sent');
});

test('a sendAt in the past, or beyond any channel, is a 400 naming sendAt (not a 502 from Sync)', async () => {
  const c = clientOf(stack.urls);
  const now = Date.parse((await c.sandbox.status()).clock);
  for (const sendAt of [new Date(now - 3_600_000), new Date(now + 36 * 86_400_000)]) {
    const res = await c.notify({ ...person('when'), channel: 'email', message: 'x', sendAt: sendAt.toISOString() });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('sendAt');
  }
});
