/**
 * The channel-optimization loop end to end: the functions under twilio-run,
 * the sandbox as Twilio, SendGrid and Segment, and its simulated recipients.
 */
import { call, emailEvents, eventNames, notify, sandbox, type SegmentEvent, signedPost } from './helpers';

const PHONE = '+819012345678';
const EMAIL = 'taro@example.jp';
let seq = 0;
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${seq++}`;

beforeEach(() => sandbox.reset(true));

describe('routing', () => {
  test('a user with no trait is routed randomly among reachable channels only', async () => {
    await sandbox.reset(false);
    const userId = uid('random');
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await notify({ userId, phone: '090-1234-5678', locale: 'ja-JP', message: 'テスト' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ userId, reason: 'random', status: 'sent' });
      seen.add(res.body.channel);
    }
    for (let i = 0; i < 16; i++)
      seen.add(
        (
          await call('GET', `/channel?userId=${userId}&phone=${encodeURIComponent(PHONE)}`, {
            headers: { Authorization: 'Bearer sandbox-notify-api-key' },
          })
        ).body.channel,
      );
    expect(seen).toEqual(new Set(['SMS', 'CALL']));
    expect((await sandbox.emails()).length).toBe(0);
  });

  test('after three engaged notifications on one channel, the computed trait routes the next one', async () => {
    const userId = uid('learn');
    await sandbox.contact(EMAIL, { engage: { EMAIL: 1 } });
    const channelNow = async () =>
      (
        await call('POST', '/channel', {
          json: { userId, phone: PHONE, email: EMAIL },
          headers: { Authorization: 'Bearer sandbox-notify-api-key' },
        })
      ).body;
    for (let i = 0; i < 3; i++) {
      expect((await channelNow()).reason).toBe('random');
      expect((await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', channel: 'email' })).body.reason).toBe(
        'override',
      );
      await sandbox.settle();
    }
    expect(await eventNames({ userId, event: 'Notification Engaged' })).toHaveLength(3);
    expect(await channelNow()).toMatchObject({
      channel: 'EMAIL',
      reason: 'preference',
      preferred: 'EMAIL',
      reachable: ['SMS', 'CALL', 'EMAIL'],
    });
    const next = await notify({ userId, message: 'routed by the trait' });
    expect(next.body).toMatchObject({ channel: 'EMAIL', reason: 'preference' });
  });

  test('a preferred channel that is unreachable falls back; addresses come from the profile', async () => {
    const userId = uid('fallback');
    await sandbox.traits(userId, { preferred_channel: 'EMAIL', phone: '090-1111-2222' });
    const res = await notify({ userId, message: 'm', locale: 'ja-JP' });
    expect(res.body).toMatchObject({ reason: 'fallback' });
    expect(['SMS', 'CALL']).toContain(res.body.channel);
    const sent = [...(await sandbox.messages()), ...(await sandbox.calls())];
    expect(sent[0].request.To).toBe('+819011112222');
  });

  test('no reachable channel is a 422 naming why; bad addresses are 400s naming the field', async () => {
    const none = await notify({ userId: uid('none'), message: 'm' });
    expect(none.status).toBe(422);
    expect(none.body.error.message).toMatch(/no reachable channel/);
    expect((await notify({ userId: 'u', message: 'm', phone: '090-12' })).body.error).toMatchObject({ field: 'phone' });
    expect((await notify({ userId: 'u', message: 'm', email: 'nope@' })).body.error).toMatchObject({ field: 'email' });
    expect((await notify({ userId: 'u', email: EMAIL })).body.error).toMatchObject({ field: 'message' });
    expect((await notify({ userId: 'u', email: EMAIL, message: 'm', channel: 'fax' })).body.error).toMatchObject({
      field: 'channel',
    });
    expect(await sandbox.emails()).toHaveLength(0);
  });
});

describe('senders', () => {
  test('Japanese works on all three channels, with callbacks carrying the context', async () => {
    const userId = uid('ja');
    const message = '明日10時のご予約を承っております。';
    const sms = await notify({ userId, phone: '090-1234-5678', locale: 'ja-JP', message, channel: 'sms' });
    const voice = await notify({ userId, phone: '090-1234-5678', locale: 'ja-JP', message, channel: 'call' });
    const mail = await notify({
      userId,
      email: EMAIL,
      locale: 'ja-JP',
      message,
      subject: 'ご予約の確認',
      channel: 'email',
      firstName: '太郎',
      lastName: '山田',
    });
    const [m] = await sandbox.messages();
    expect(m.request).toMatchObject({
      To: '+819012345678',
      Body: message,
      MessagingServiceSid: expect.stringMatching(/^MG/),
    });
    expect(m.request.StatusCallback).toBe(
      `${new URL(m.request.StatusCallback).origin}/sms/status?notificationId=${sms.body.notificationId}&userId=${userId}&channel=SMS#rc=3&rp=5xx,ct,rt`,
    );
    expect(sms.body.providerId).toBe(m.resource.sid);
    const [c] = await sandbox.calls();
    expect(c.request.Twiml).toContain(`<Say language="ja-JP" voice="Polly.Mizuki">${message}</Say>`);
    expect(c.request.Twiml).toMatch(/<Gather numDigits="1" action="[^"]*\/voice\/gather\?notificationId=/);
    expect(c.request.StatusCallbackEvent).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(c.request.MachineDetection).toBe('Enable');
    expect(voice.body.providerId).toBe(c.resource.sid);
    const [e] = await sandbox.emails();
    expect(e.request).toMatchObject({
      subject: 'ご予約の確認',
      personalizations: [{ to: [{ email: EMAIL, name: '太郎 山田' }] }],
      custom_args: { notification_id: mail.body.notificationId, user_id: userId },
      tracking_settings: { open_tracking: { enable: true }, click_tracking: { enable: true } },
    });
    expect(e.request.content[0]).toEqual({ type: 'text/plain', value: message });
    expect(mail.body.providerId).toBe(e.resource.message_id);
  });

  test('SMS cost: segments and encoding in the answer and in Notification Sent; long bodies warned', async () => {
    await sandbox.reset(false);
    const userId = uid('segments');
    const short = await notify({ userId, phone: PHONE, locale: 'ja-JP', message: 'あ'.repeat(70), channel: 'sms' });
    expect(short.body).toMatchObject({ segments: 1, encoding: 'UCS-2' });
    expect(short.body.warnings).toBeUndefined();
    const split = await notify({ userId, phone: PHONE, locale: 'ja-JP', message: 'あ'.repeat(71), channel: 'sms' });
    expect(split.body).toMatchObject({ segments: 2, encoding: 'UCS-2' });
    const ascii = await notify({ userId, phone: PHONE, message: 'a'.repeat(160), channel: 'sms' });
    expect(ascii.body).toMatchObject({ segments: 1, encoding: 'GSM-7' });
    // 4 segments of 67 UCS-2 characters hold 268; one more needs a fifth (SMS_MAX_SEGMENTS defaults to 4)
    const long = await notify({ userId, phone: PHONE, locale: 'ja-JP', message: 'あ'.repeat(269), channel: 'sms' });
    expect(long.status).toBe(200);
    expect(long.body).toMatchObject({
      segments: 5,
      warnings: [expect.stringMatching(/5 segments.*SMS_MAX_SEGMENTS is 4/)],
    });
    const sent = await sandbox.events({ userId, event: 'Notification Sent' });
    expect(sent.map((e) => [e.properties?.segments, e.properties?.encoding])).toEqual([
      [1, 'UCS-2'],
      [2, 'UCS-2'],
      [1, 'GSM-7'],
      [5, 'UCS-2'],
    ]);
    const mail = await notify({ userId, email: EMAIL, message: 'あ'.repeat(300), channel: 'email' });
    expect(mail.body.segments).toBeUndefined();
  });

  test('VOICE_EN / VOICE_JA choose the <Say> voice per language; unset keeps the built-in voice', async () => {
    // the test stack sets VOICE_EN only
    await sandbox.reset(false);
    await notify({ userId: uid('voice'), phone: PHONE, locale: 'en-US', message: 'Hello', channel: 'call' });
    await notify({ userId: uid('voice'), phone: PHONE, locale: 'ja-JP', message: 'こんにちは', channel: 'call' });
    const [en, ja] = await sandbox.calls();
    expect(en.request.Twiml).toContain('<Say language="en-US" voice="Google.en-US-Neural2-F">Hello</Say>');
    expect(ja.request.Twiml).toContain('<Say language="ja-JP" voice="Polly.Mizuki">こんにちは</Say>');
  });

  test('a sent notification is tracked with identify traits and recorded in Sync', async () => {
    const userId = uid('track');
    const res = await notify({
      userId,
      email: EMAIL,
      message: 'm',
      channel: 'email',
      firstName: 'Taro',
      lastName: 'Yamada',
      locale: 'ja-JP',
    });
    const events = await sandbox.events({ userId });
    expect(events.find((e) => e.type === 'identify')!.traits).toEqual({
      email: EMAIL,
      firstName: 'Taro',
      lastName: 'Yamada',
      language: 'ja-JP',
    });
    expect(events.find((e) => e.event === 'Notification Sent')!.properties).toMatchObject({
      channel: 'EMAIL',
      reason: 'override',
      notification_id: res.body.notificationId,
      provider_id: res.body.providerId,
    });
    const doc = (await sandbox.documents()).find(
      (d: any) => d.unique_name === `notification-${res.body.notificationId}`,
    );
    expect(doc.data).toMatchObject({
      userId,
      state: 'done',
      steps: [{ channel: 'EMAIL', status: 'SENT', providerId: res.body.providerId }],
    });
    expect(doc.date_expires).not.toBeNull();
  });
});

describe('engagement webhooks', () => {
  async function smsNotification(userId: string) {
    await sandbox.reset(false); // drive the webhooks ourselves
    const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    const [m] = await sandbox.messages();
    return {
      notificationId: res.body.notificationId as string,
      sid: m.resource.sid as string,
      query: new URL(m.request.StatusCallback).search,
    };
  }
  const tracked = async (userId: string) =>
    (await sandbox.events({ userId, type: 'track' })).filter((e) => e.event !== 'Notification Sent');

  test('SMS status: delivered, failed with its error code, and 21610 as an opt-out', async () => {
    const userId = uid('smsstatus');
    const n = await smsNotification(userId);
    const status = (MessageStatus: string, extra: Record<string, string> = {}) =>
      signedPost(`/sms/status${n.query}`, {
        MessageSid: n.sid,
        MessageStatus,
        AccountSid: 'AC00000000000000000000000000000000',
        To: PHONE,
        ...extra,
      });
    expect((await status('sent')).status).toBe(200);
    expect((await status('delivered')).status).toBe(200);
    expect((await status('failed', { ErrorCode: '21610' })).status).toBe(200);
    const events = await tracked(userId);
    expect(events.map((e) => e.event)).toEqual([
      'Notification Delivered',
      'Notification Failed',
      'Notification Opted Out',
    ]);
    expect(events[1].properties).toMatchObject({
      channel: 'SMS',
      error_code: '21610',
      notification_id: n.notificationId,
    });
    expect(events.every((e) => e.messageId.length <= 100)).toBe(true);
    expect((await sandbox.events({ userId, type: 'identify' })).pop()!.traits).toEqual({ sms_opted_out: true });
  });

  test('an SMS reply is attributed through the contact record: Replied + Engaged, step COMPLETED', async () => {
    const userId = uid('reply');
    const n = await smsNotification(userId);
    const res = await signedPost('/sms/inbound', {
      MessageSid: `SM${'a'.repeat(32)}`,
      From: PHONE,
      To: '+15005550006',
      Body: 'はい、伺います',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/xml/);
    expect(res.text).toMatch(/<Response\/>/);
    const events = await tracked(userId);
    expect(events.map((e) => e.event)).toEqual(['Notification Replied', 'Notification Engaged']);
    expect(events[1]).toMatchObject({
      messageId: `engaged:${n.notificationId}:SMS`,
      properties: { channel: 'SMS', engagement: 'reply', notification_id: n.notificationId },
    });
    const doc = (await sandbox.documents()).find((d: any) => d.unique_name === `notification-${n.notificationId}`);
    expect(doc.data.steps[0].status).toBe('COMPLETED');
  });

  test('STOP and START become opt-out / opt-in events and the sms_opted_out trait; routing respects it', async () => {
    const userId = uid('stop');
    await smsNotification(userId);
    await signedPost('/sms/inbound', {
      MessageSid: `SM${'b'.repeat(32)}`,
      From: PHONE,
      To: '+15005550006',
      Body: 'STOP',
      OptOutType: 'STOP',
    });
    expect(await eventNames({ userId })).toContain('Notification Opted Out');
    const routed = await call('GET', `/channel?userId=${userId}&phone=${encodeURIComponent(PHONE)}`, {
      headers: { Authorization: 'Bearer sandbox-notify-api-key' },
    });
    expect(routed.body.reachable).toEqual(['CALL']);
    await signedPost('/sms/inbound', {
      MessageSid: `SM${'c'.repeat(32)}`,
      From: PHONE,
      To: '+15005550006',
      Body: 'START',
      OptOutType: 'START',
    });
    expect(
      (await sandbox.events({ userId, type: 'identify' }))
        .map((e) => e.traits!.sms_opted_out)
        .filter((v) => v !== undefined),
    ).toEqual([true, false]);
  });

  test('a reply from an unknown number is tracked anonymously with the phone as external id', async () => {
    await sandbox.reset(false);
    await signedPost('/sms/inbound', {
      MessageSid: `SM${'d'.repeat(32)}`,
      From: '+819099998888',
      To: '+15005550006',
      Body: 'hello',
    });
    const [e] = await sandbox.events({ type: 'track' });
    expect(e).toMatchObject({
      event: 'Notification Replied',
      anonymousId: expect.stringMatching(/^phone-/),
      context: { externalIds: [{ id: '+819099998888', type: 'phone' }] },
    });
    expect(e.userId).toBeUndefined();
  });

  test('calls: a person answering and pressing 1 engages once; machines and no-answers do not', async () => {
    await sandbox.reset(false);
    const userId = uid('voice');
    const res = await notify({ userId, phone: PHONE, message: 'お知らせ', locale: 'ja-JP', channel: 'call' });
    const [c] = await sandbox.calls();
    const query = new URL(c.request.StatusCallback).search;
    const status = (CallStatus: string, extra: Record<string, string> = {}) =>
      signedPost(`/voice/status${query}`, { CallSid: c.resource.sid, CallStatus, ...extra });
    await status('ringing');
    await status('in-progress', { AnsweredBy: 'human' });
    const gatherUrl = new URL(/action="([^"]+)"/.exec(c.request.Twiml)![1].replace(/&amp;/g, '&'));
    const gather = await signedPost(`/voice/gather${gatherUrl.search}`, { CallSid: c.resource.sid, Digits: '1' });
    expect(gather.text).toContain(
      '<Say language="ja-JP" voice="Polly.Mizuki">ご確認ありがとうございました。失礼いたします。</Say>',
    );
    await status('completed', { AnsweredBy: 'human', CallDuration: '14' });
    expect(await eventNames({ userId })).toEqual([
      'Notification Sent',
      'Notification Answered',
      'Notification Engaged',
      'Notification Confirmed',
      'Notification Delivered',
    ]);
    const dupes = (await sandbox.rejected())
      .filter((r) => r.reason === 'duplicate messageId')
      .map((r) => r.payload.messageId);
    expect(dupes).toEqual([`engaged:${res.body.notificationId}:CALL`]); // the confirm's Engaged counted once

    const machineUser = uid('machine');
    await notify({ userId: machineUser, phone: PHONE, message: 'x', channel: 'call' });
    const m = (await sandbox.calls()).pop();
    await signedPost(`/voice/status${new URL(m.request.StatusCallback).search}`, {
      CallSid: m.resource.sid,
      CallStatus: 'in-progress',
      AnsweredBy: 'machine_start',
    });
    await signedPost(`/voice/status${new URL(m.request.StatusCallback).search}`, {
      CallSid: m.resource.sid,
      CallStatus: 'no-answer',
    });
    const failed = await sandbox.events({ userId: machineUser, event: 'Notification Failed' });
    expect(failed.map((e) => e.properties!.cause)).toEqual(['machine', 'no-answer']);
    expect(await eventNames({ userId: machineUser, event: 'Notification Engaged' })).toEqual([]);
  });

  test('a SendGrid batch of many events produces all of them, in one Segment request', async () => {
    await sandbox.reset(false);
    const batch: Record<string, unknown>[] = [];
    const users = Array.from({ length: 5 }, () => uid('mail'));
    users.forEach((userId, i) => {
      const base = {
        notification_id: `n-${userId}`,
        user_id: userId,
        email: EMAIL,
        timestamp: 1763800000 + i,
        sg_message_id: `msg${i}.filter`,
      };
      for (const [event, extra] of [
        ['processed', {}],
        ['delivered', {}],
        ['open', { sg_machine_open: true }],
        ['open', { sg_machine_open: false }],
        ['click', { url: 'https://example.com/r' }],
        ['open', { sg_machine_open: false }],
      ] as const) {
        batch.push({ ...base, event, sg_event_id: `ev-${userId}-${batch.length}`, ...extra });
      }
    });
    batch.push(
      { event: 'delivered', sg_event_id: 'foreign-1', email: 'x@example.com' },
      { event: 'brand_new', sg_event_id: 'u-1', notification_id: 'n', user_id: 'u' },
    );
    await sandbox.emailRecords(users.map((userId) => [`n-${userId}`, userId]));
    const before = (await sandbox.requests()).segment ?? 0;
    const res = await emailEvents(batch);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      received: 32,
      tracked: 5 * 8,
      skipped: { not_ours: 1, unbound: 0, unknown_type: 1, invalid: 0, ignored: 5, mismatched: 0 },
    });
    expect((await sandbox.requests()).segment - before).toBe(1);
    for (const userId of users) {
      expect(await eventNames({ userId })).toEqual([
        'Notification Delivered',
        'Notification Opened',
        'Notification Opened',
        'Notification Engaged',
        'Notification Clicked',
        'Notification Opened',
      ]);
      const opens = await sandbox.events({ userId, event: 'Notification Opened' });
      expect(opens.map((e) => e.properties!.machine_open)).toEqual([true, false, false]);
    }
  });

  test('a machine-only open never produces engagement', async () => {
    await sandbox.reset(true);
    const userId = uid('mpp');
    await sandbox.contact(EMAIL, { machineOpen: true });
    await notify({ userId, email: EMAIL, message: 'm', channel: 'email' });
    await sandbox.settle();
    expect(await eventNames({ userId })).toEqual([
      'Notification Sent',
      'Notification Delivered',
      'Notification Opened',
    ]);
  });

  test('a webhook delivered twice produces identical messageIds (Segment keeps one)', async () => {
    const userId = uid('twice');
    const n = await smsNotification(userId);
    const fields = { MessageSid: n.sid, MessageStatus: 'delivered', To: PHONE };
    await signedPost(`/sms/status${n.query}`, fields);
    await signedPost(`/sms/status${n.query}`, fields);
    const kept = await sandbox.events({ userId, event: 'Notification Delivered' });
    const dropped = (await sandbox.rejected())
      .filter((r) => r.reason === 'duplicate messageId')
      .map((r) => r.payload.messageId);
    expect(kept).toHaveLength(1);
    expect(dropped).toEqual([kept[0].messageId]);
    const mail = {
      event: 'click',
      sg_event_id: 'same-event',
      notification_id: n.notificationId,
      user_id: userId,
      url: 'https://x',
    };
    await emailEvents([mail]);
    await emailEvents([mail]);
    expect(await eventNames({ userId, event: 'Notification Clicked' })).toHaveLength(1);
  });

  test('the simulated recipients drive the whole loop: every callback accepted', async () => {
    const userId = uid('sim');
    await sandbox.contact(PHONE, { engage: { SMS: 1, CALL: 1 } });
    await sandbox.contact(EMAIL, { engage: { EMAIL: 1 } });
    for (const channel of ['sms', 'call', 'email'])
      await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', channel });
    await sandbox.settle();
    const callbacks = await sandbox.callbacks();
    expect(callbacks.length).toBeGreaterThan(8);
    expect(callbacks.filter((c: any) => c.status !== 200)).toEqual([]);
    const engaged: SegmentEvent[] = await sandbox.events({ userId, event: 'Notification Engaged' });
    expect(engaged.map((e) => e.properties!.channel).sort()).toEqual(['CALL', 'EMAIL', 'SMS']);
  });
});
