/** The pure parts of WhatsApp (issue 32): what goes out, and what its callbacks and replies mean. */
import { inboundSmsEvents, inboundSmsOf, smsStatusEvents } from '../src/lib/channels/sms';

describe('WhatsApp: what goes out', () => {
  const { whatsappPayload, MAX_TEMPLATE_CHARS } = require('../src/lib/channels/whatsapp');
  const content = (variables?: Record<string, string>) => ({
    message: 'お知らせ',
    locale: 'ja-JP',
    whatsapp: { template: `HX${'a'.repeat(32)}`, ...(variables ? { variables } : {}) },
  });
  const now = Date.UTC(2026, 11, 6, 3);

  test('free text within the window (judged at the send time), the template outside it', () => {
    expect(whatsappPayload(content(), now + 60_000, now)).toEqual({ body: 'お知らせ' });
    // a send scheduled after the window closes goes as the template
    expect(whatsappPayload(content({ 1: '山田' }), now + 60_000, now + 120_000)).toEqual({
      contentSid: `HX${'a'.repeat(32)}`,
      contentVariables: JSON.stringify({ 1: '山田' }),
    });
  });

  test('no template outside the window is template_required; Japanese variables are counted by character against 1,024', () => {
    expect(() => whatsappPayload({ message: 'x', locale: 'ja-JP' }, undefined, now)).toThrow(
      expect.objectContaining({ providerCode: 'template_required' }),
    );
    // 1,024 Japanese characters are 3,072 UTF-8 bytes: WhatsApp counts characters
    expect(() => whatsappPayload(content({ 1: 'あ'.repeat(MAX_TEMPLATE_CHARS) }), undefined, now)).not.toThrow();
    expect(() => whatsappPayload(content({ 1: 'あ'.repeat(MAX_TEMPLATE_CHARS), 2: 'い' }), undefined, now)).toThrow(
      expect.objectContaining({ providerCode: 'template-too-long' }),
    );
  });
});

describe('WhatsApp: callbacks and replies', () => {
  const sid = `SM${'2'.repeat(32)}`;
  const status = (MessageStatus: string) => ({
    MessageSid: sid,
    MessageStatus,
    To: 'whatsapp:+819012345678',
    notificationId: 'n1',
    userId: 'u1',
    channel: 'whatsapp',
  });

  test('read is told, and engagement only with WHATSAPP_READ_ENGAGES', () => {
    expect(smsStatusEvents(status('read')).events.map((e) => [e.channel, e.kind])).toEqual([['WHATSAPP', 'read']]);
    expect(smsStatusEvents(status('read'), { readEngages: true }).events.map((e) => e.kind)).toEqual(['read_engaged']);
    expect(smsStatusEvents(status('delivered')).events.map((e) => [e.channel, e.kind])).toEqual([
      ['WHATSAPP', 'delivered'],
    ]);
  });

  test('a button press is a reply naming its payload; STOP and 配信停止 opt out of WhatsApp only', () => {
    const from = 'whatsapp:+819012345678';
    const contact = { userId: 'u1', notificationId: 'n1' };
    const press = inboundSmsOf({ MessageSid: sid, From: from, Body: '確認しました', ButtonPayload: 'confirm' });
    expect(press).toMatchObject({ channel: 'WHATSAPP', from: '+819012345678', buttonPayload: 'confirm' });
    const [reply] = inboundSmsEvents(press, contact, { identityKey: 'k' });
    expect(reply).toMatchObject({ kind: 'replied', channel: 'WHATSAPP', details: { button: 'confirm' } });
    for (const word of ['STOP', '配信停止']) {
      const [stop] = inboundSmsEvents(inboundSmsOf({ MessageSid: sid, From: from, Body: word }), contact, {
        identityKey: 'k',
      });
      expect(stop).toMatchObject({ kind: 'opted_out', channel: 'WHATSAPP', traits: { whatsapp_opted_out: true } });
    }
  });
});
