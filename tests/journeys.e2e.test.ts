/**
 * Journeys end to end: scheduled sends and cancellation, quiet hours, and
 * escalation call → SMS → email until someone engages, with the sandbox's
 * clock standing in for time.
 */
import { bearer, call, eventNames, notify, sandbox, signedPost } from './helpers';

const PHONE = '+819012345678';
const EMAIL = 'hanako@example.jp';
let seq = 0;
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${seq++}`;
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000);
/** ISO 8601 in Tokyo time with its +09:00 offset, as a Japanese caller would send it. */
const tokyoIso = (d: Date) => new Date(d.getTime() + 9 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+09:00');

const record = async (notificationId: string) =>
  (await call('GET', `/notification?notificationId=${notificationId}`, { headers: bearer })).body;
const cancel = (notificationId: string) => call('POST', '/cancel', { json: { notificationId }, headers: bearer });
const statuses = async (notificationId: string) =>
  Object.fromEntries((await record(notificationId)).steps.map((s: any) => [s.channel, s.status]));

beforeEach(() => sandbox.reset(true));

describe('scheduled sends', () => {
  test('a reminder SMS is scheduled with Twilio, cancelled, and never sent', async () => {
    const userId = uid('remind');
    const sendAt = inMinutes(120);
    const res = await notify({
      userId,
      phone: PHONE,
      message: '明日のご予約のお知らせ',
      channel: 'sms',
      sendAt: tokyoIso(sendAt),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'scheduled',
      channel: 'SMS',
      sendAt: new Date(Math.floor(sendAt.getTime() / 1000) * 1000).toISOString(),
    });
    const [m] = await sandbox.messages();
    expect(m.request).toMatchObject({ ScheduleType: 'fixed', MessagingServiceSid: expect.stringMatching(/^MG/) });
    expect(m.resource.status).toBe('scheduled');
    expect(await eventNames({ userId })).toEqual(['Notification Scheduled']);
    expect((await record(res.body.notificationId)).steps).toEqual([
      expect.objectContaining({
        channel: 'SMS',
        status: 'SCHEDULED',
        providerId: m.resource.sid,
        scheduledAt: res.body.sendAt,
      }),
    ]);

    const first = await cancel(res.body.notificationId);
    expect(first.status).toBe(200);
    expect(first.body.steps).toEqual([
      expect.objectContaining({ channel: 'SMS', status: 'CANCELED', result: 'canceled' }),
    ]);
    expect((await sandbox.messages())[0].resource.status).toBe('canceled');
    const again = await cancel(res.body.notificationId);
    expect(again.status).toBe(200);
    expect(again.body.steps[0].result).toBe('already_canceled');
    expect(await eventNames({ userId })).toEqual(['Notification Scheduled', 'Notification Canceled']);

    await sandbox.advance(3 * 3600);
    expect((await sandbox.callbacks()).length).toBe(0);
  });

  test('a scheduled email uses send_at and a batch id, and its cancellation holds when the time comes', async () => {
    const userId = uid('remind-mail');
    const res = await notify({
      userId,
      email: EMAIL,
      message: 'm',
      channel: 'email',
      sendAt: inMinutes(90).toISOString(),
    });
    const [e] = await sandbox.emails();
    expect(e.request).toMatchObject({ send_at: expect.any(Number), batch_id: expect.any(String) });
    expect((await cancel(res.body.notificationId)).status).toBe(200);
    await sandbox.advance(2 * 3600);
    expect((await sandbox.emails())[0].resource.status).toBe('canceled');
    expect(await eventNames({ userId, event: 'Notification Delivered' })).toEqual([]);
  });

  test('an uncancelled reminder goes out when due and its callbacks advance the record', async () => {
    const userId = uid('due');
    const res = await notify({
      userId,
      phone: PHONE,
      message: 'm',
      channel: 'sms',
      sendAt: inMinutes(30).toISOString(),
    });
    await sandbox.advance(31 * 60);
    expect(await statuses(res.body.notificationId)).toEqual({ SMS: 'DELIVERED' });
    const late = await cancel(res.body.notificationId);
    expect(late.status).toBe(409);
    expect(late.body.steps).toEqual([
      expect.objectContaining({ channel: 'SMS', status: 'DELIVERED', result: 'not_pending' }),
    ]);
  });

  test('one clock: after the sandbox clock moves 40 days, a send 1 hour ahead of it is valid to the functions too', async () => {
    await sandbox.advance(40 * 24 * 3600);
    const sandboxNow = Date.parse((await sandbox.status()).clock);
    const sendAt = new Date(sandboxNow + 3600_000); // 40 days and an hour ahead of the real clock: past Twilio's 35
    const userId = uid('clock');
    const res = await notify({ userId, phone: PHONE, message: '一時間後', channel: 'sms', sendAt: tokyoIso(sendAt) });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('scheduled');
    expect(Date.parse((await record(res.body.notificationId)).steps[0].updatedAt)).toBeGreaterThanOrEqual(sandboxNow);
    await sandbox.advance(3600 + 60);
    await sandbox.settle();
    expect(await statuses(res.body.notificationId)).toEqual({ SMS: expect.stringMatching(/SENT|DELIVERED|COMPLETED/) });
  });

  test('times a provider cannot schedule are 422s that say what is possible', async () => {
    const userId = uid('bad-time');
    const callAt = await notify({
      userId,
      phone: PHONE,
      message: 'm',
      channel: 'call',
      sendAt: inMinutes(60).toISOString(),
    });
    expect(callAt.status).toBe(422);
    expect(callAt.body.error.message).toMatch(/calls cannot be scheduled/);
    expect(
      (await notify({ userId, phone: PHONE, message: 'm', channel: 'sms', sendAt: inMinutes(10).toISOString() })).body
        .error.message,
    ).toMatch(/more than 15 minutes and at most 35 days/);
    expect(
      (
        await notify({
          userId,
          email: EMAIL,
          message: 'm',
          channel: 'email',
          sendAt: inMinutes(4 * 24 * 60).toISOString(),
        })
      ).body.error.message,
    ).toMatch(/72 hours/);
    expect(
      (await notify({ userId, phone: PHONE, message: 'm', sendAt: '2026-12-01T09:00:00' })).body.error,
    ).toMatchObject({ field: 'sendAt' });
    expect((await sandbox.messages()).length + (await sandbox.calls()).length).toBe(0);
  });
});

describe('escalation', () => {
  test('call not answered → SMS now (scheduled copy cancelled); SMS replied → email cancelled', async () => {
    const userId = uid('journey1');
    await sandbox.contact(PHONE, { unreachable: ['CALL'], engage: { SMS: 1 }, reply: 'はい' });
    const res = await notify({
      userId,
      phone: PHONE,
      email: EMAIL,
      message: '至急ご連絡ください',
      locale: 'ja-JP',
      escalation: 'call,sms,email',
      escalateAfter: 60,
    });
    expect(res.body).toMatchObject({ channel: 'CALL', status: 'sent', reason: 'override' });
    expect(res.body.steps.map((s: any) => [s.channel, s.status])).toEqual([
      ['CALL', 'SENT'],
      ['SMS', 'SCHEDULED'],
      ['EMAIL', 'SCHEDULED'],
    ]);
    await sandbox.settle();

    const r = await record(res.body.notificationId);
    expect(r.state).toBe('completed');
    expect(r.steps.map((s: any) => [s.channel, s.status])).toEqual([
      ['CALL', 'FAILED'],
      ['SMS', 'COMPLETED'],
      ['EMAIL', 'CANCELED'],
    ]);
    expect(r.steps[1]).toMatchObject({ escalatedFrom: 'CALL', cause: 'no-answer' });
    const messages = await sandbox.messages();
    expect(messages.map((m: any) => [m.request.ScheduleType ?? 'now', m.resource.status])).toEqual([
      ['fixed', 'canceled'],
      ['now', 'delivered'],
    ]);
    expect(r.steps[1].providerId).toBe(messages[1].resource.sid);
    await sandbox.advance(3 * 3600);
    expect((await sandbox.emails())[0].resource.status).toBe('canceled');
    const escalated = await sandbox.events({ userId, event: 'Notification Escalated' });
    expect(escalated.map((e) => e.properties)).toEqual([
      expect.objectContaining({ from_channel: 'CALL', to_channel: 'SMS', cause: 'no-answer' }),
    ]);
    expect(await eventNames({ userId, event: 'Notification Engaged' })).toHaveLength(1);
  });

  test('call answered and confirmed → SMS and email cancelled', async () => {
    const userId = uid('journey2');
    await sandbox.contact(PHONE, { engage: { CALL: 1 } });
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'call,sms,email' });
    await sandbox.settle();
    expect(await statuses(res.body.notificationId)).toEqual({ CALL: 'COMPLETED', SMS: 'CANCELED', EMAIL: 'CANCELED' });
    expect((await sandbox.messages())[0].resource.status).toBe('canceled');
    await sandbox.advance(3 * 3600);
    expect((await sandbox.emails())[0].resource.status).toBe('canceled');
    expect((await sandbox.messages())[0].resource.status).toBe('canceled');
  });

  test('auto escalation starts with the routed channel and follows with the other reachable ones', async () => {
    const userId = uid('auto');
    await sandbox.traits(userId, { preferred_channel: 'EMAIL' });
    const res = await notify({
      userId,
      phone: PHONE,
      email: EMAIL,
      message: 'm',
      escalation: 'auto',
      escalateAfter: 30,
    });
    expect(res.body.reason).toBe('preference');
    expect(res.body.steps.map((s: any) => s.channel)).toEqual(['EMAIL', 'SMS', 'CALL']);
    expect(res.body.steps[2].status).toBe('PENDING'); // calls cannot be scheduled: placed only if the SMS fails outright
    const [m] = await sandbox.messages();
    expect(Date.parse(m.request.SendAt) - Date.now()).toBeGreaterThan(29 * 60_000);
  });

  test('an escalation step beyond what a provider can schedule is refused up front', async () => {
    const res = await notify({
      userId: uid('far'),
      phone: PHONE,
      email: EMAIL,
      message: 'm',
      escalation: 'sms,email',
      escalateAfter: 73 * 60,
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ field: 'escalation', message: expect.stringMatching(/72 hours/) });
    expect((await notify({ userId: 'u', phone: PHONE, message: 'm', escalation: 'sms,fax' })).body.error.field).toBe(
      'escalation',
    );
    expect(
      (await notify({ userId: 'u', phone: PHONE, message: 'm', escalation: 'sms', escalateAfter: 5 })).body.error.field,
    ).toBe('escalateAfter');
  });
});

describe('quiet hours', () => {
  /** "HH:MM:SS" in Tokyo */
  const tokyoClock = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Tokyo',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  /** "HH:MM" in Tokyo, `minutes` from now. */
  const tokyoIn = (minutes: number) => tokyoClock.format(inMinutes(minutes)).slice(0, 5);
  /**
   * A quiet window that began 5 minutes ago and ends `minutes` from now, whatever the time of day:
   * a window from the current minute to a fixed hour was empty, or already over when the request
   * arrived, in the minute before that hour and the minute of it (CI failed at about 08:00 in Tokyo).
   */
  const windowEndingIn = (minutes: number) => {
    const end = tokyoIn(minutes);
    return { text: `${tokyoIn(-5)}-${end}`, end };
  };

  /** An SMS to a user in Tokyo, with this quiet window. */
  const smsInQuietHours = async (userId: string, quietHours: string) => {
    await sandbox.traits(userId, { timezone: 'Asia/Tokyo' });
    return notify({ userId, phone: PHONE, message: 'おはようございます', channel: 'sms', quietHours });
  };

  test('an SMS that falls in quiet hours is scheduled for the end of the window, Tokyo time', async () => {
    const window = windowEndingIn(180);
    const res = await smsInQuietHours(uid('quiet'), window.text);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('scheduled');
    const at = new Date(res.body.sendAt);
    expect(tokyoClock.format(at)).toBe(`${window.end}:00`);
    expect(at.getTime() - Date.now()).toBeLessThanOrEqual(180 * 60_000);
    expect(res.body.quietHours).toMatchObject({ timezone: 'Asia/Tokyo', deferredUntil: res.body.sendAt });
    expect((await sandbox.messages())[0].request.SendAt).toBe(at.toISOString().replace('.000Z', 'Z'));
  });

  test("an SMS whose quiet window ends less than Twilio's 15 minutes away is sent now, and says so", async () => {
    const res = await smsInQuietHours(uid('quiet-soon'), windowEndingIn(10).text);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('sent');
    expect(res.body.quietHours.note).toMatch(/sent during quiet hours/);
  });

  test('calls are never placed in quiet hours unless urgent; a CALL preference says why it was skipped', async () => {
    const userId = uid('quiet-call');
    await sandbox.traits(userId, { timezone: 'Asia/Tokyo', preferred_channel: 'CALL' });
    const window = windowEndingIn(180).text;
    const forced = await notify({ userId, phone: PHONE, message: 'm', channel: 'call', quietHours: window });
    expect(forced.status).toBe(422);
    expect(forced.body.error.message).toMatch(/quiet hours/);
    const preferred = await notify({ userId, phone: PHONE, message: 'm', quietHours: window });
    expect(preferred.body).toMatchObject({ channel: 'SMS', reason: 'quiet_hours' });
    const asked = await call(
      'GET',
      `/channel?userId=${userId}&phone=${encodeURIComponent(PHONE)}&quietHours=${window}`,
      { headers: bearer },
    );
    expect(asked.body).toMatchObject({
      channel: 'SMS',
      reason: 'quiet_hours',
      reachable: ['SMS'],
      unreachable: { CALL: expect.stringMatching(/quiet hours/) },
    });
    const urgent = await notify({
      userId,
      phone: PHONE,
      message: '緊急',
      channel: 'call',
      quietHours: window,
      urgent: true,
    });
    expect(urgent.body).toMatchObject({ channel: 'CALL', status: 'sent' });
    expect(await sandbox.calls()).toHaveLength(1);
  });
});

describe('consistency under retries and races', () => {
  test('a failure callback delivered twice at once escalates once', async () => {
    await sandbox.reset(false);
    const userId = uid('dup');
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'call,sms,email' });
    const [c] = await sandbox.calls();
    const query = new URL(c.request.StatusCallback).search;
    const fields = { CallSid: c.resource.sid, CallStatus: 'busy', CallDuration: '0' };
    const answers = await Promise.all([
      signedPost(`/voice/status${query}`, fields),
      signedPost(`/voice/status${query}`, fields),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    await signedPost(`/voice/status${query}`, fields); // and once more, later
    const messages = await sandbox.messages();
    expect(messages.map((m: any) => m.resource.status)).toEqual(['canceled', 'accepted']);
    expect(await statuses(res.body.notificationId)).toEqual({ CALL: 'FAILED', SMS: 'SENT', EMAIL: 'SCHEDULED' });
    expect(await sandbox.events({ userId, event: 'Notification Escalated' })).toHaveLength(1);
  });

  test("callbacks of an escalation's send that beat its record write are kept, never moved back", async () => {
    await sandbox.reset(false);
    const userId = uid('early-escalation');
    const res = await notify({ userId, phone: PHONE, message: 'm', escalation: 'call,sms' });
    const id = res.body.notificationId;
    // the busy callback's claim and then the escalation's record write are each slowed by 1.5 s
    await sandbox.fault({
      api: 'sync',
      latencyMs: 1500,
      method: 'POST',
      path: `/Documents/notification-${id}`,
      count: 2,
    });
    const [c] = await sandbox.calls();
    const query = new URL(c.request.StatusCallback).search;
    const busy = signedPost(`/voice/status${query}`, {
      CallSid: c.resource.sid,
      CallStatus: 'busy',
      CallDuration: '0',
    });
    let sms: any;
    while (!sms) {
      await new Promise((r) => setTimeout(r, 50));
      sms = (await sandbox.messages()).find((m: any) => !m.request.ScheduleType);
    }
    // the escalated SMS is delivered and replied to while its record write is still on its way
    const smsQuery = new URL(sms.request.StatusCallback).search;
    const delivered = await signedPost(`/sms/status${smsQuery}`, {
      MessageSid: sms.resource.sid,
      MessageStatus: 'delivered',
    });
    const reply = { MessageSid: `SM${'c'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'はい' };
    expect([delivered.status, (await signedPost('/sms/inbound', reply)).status]).toEqual([200, 200]);
    expect((await busy).status).toBe(200);
    const r = await record(id);
    expect([r.state, r.steps.map((s: any) => [s.channel, s.status, s.providerId])]).toEqual([
      'completed',
      [
        ['CALL', 'FAILED', c.resource.sid],
        ['SMS', 'COMPLETED', sms.resource.sid],
      ],
    ]);
  });

  test('a /cancel racing an engagement leaves one consistent record', async () => {
    await sandbox.reset(false);
    for (let round = 0; round < 3; round++) {
      const userId = uid(`race${round}`);
      const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
      const [cancelled, replied] = await Promise.all([
        cancel(res.body.notificationId),
        signedPost('/sms/inbound', {
          MessageSid: `SM${String(round).padStart(32, 'e')}`,
          From: PHONE,
          To: '+15005550006',
          Body: 'OK',
        }),
      ]);
      expect([cancelled.status, replied.status]).toEqual([200, 200]);
      const r = await record(res.body.notificationId);
      expect(r.steps.map((s: any) => [s.channel, s.status])).toEqual([
        ['SMS', 'COMPLETED'],
        ['EMAIL', 'CANCELED'],
      ]);
      expect(r.state).toBe('completed');
    }
    await sandbox.advance(3 * 3600);
    expect((await sandbox.emails()).map((e: any) => e.resource.status)).toEqual(['canceled', 'canceled', 'canceled']);
  });
});
