/**
 * The Messaging Service and the phone number. A Messaging Service with no inbound request URL drops
 * every incoming SMS without a word, and a number outside the service cannot send scheduled SMS.
 */
import { maskUrl } from '../env-file';
import { type Context, type Finding, fromTwilio, resource, SERVICE_CREATED, unknownSid } from '../resource';

const inboundUrlOf = ({ site }: Context) => `${site.baseUrl}/sms/inbound#rc=3&rp=5xx,ct,rt`;

export const messagingService = resource({
  about: 'the Messaging Service (MESSAGING_SERVICE_SID, or the one named after the service) and its inbound URL',
  read: async ({ v, env, opts, messaging }) => {
    const sid = env.MESSAGING_SERVICE_SID || undefined;
    const services = await fromTwilio(() => v.twilio.messaging.v1.services.list());
    const ours = services.find((s) => (sid ? s.sid === sid : s.friendlyName === opts.serviceName));
    Object.assign(messaging, {
      services,
      sid: ours?.sid,
      useInboundWebhookOnNumber: ours?.useInboundWebhookOnNumber,
    });
    return { sid, ours };
  },
  compare: (ctx, { sid, ours }): Finding[] => {
    const inboundUrl = inboundUrlOf(ctx);
    if (sid && !ours) return [unknownSid('Messaging Service', 'MESSAGING_SERVICE_SID', sid, 'MG')];
    if (!ours)
      return [
        {
          resource: 'Messaging Service',
          status: 'create',
          detail: `"${ctx.opts.serviceName}", inbound request URL ${inboundUrl}`,
          change: 'create',
          produces: SERVICE_CREATED,
        },
      ];
    const remember = ctx.env.MESSAGING_SERVICE_SID !== ours.sid ? { MESSAGING_SERVICE_SID: ours.sid } : undefined;
    if (ours.inboundRequestUrl === inboundUrl)
      return [
        {
          resource: `Messaging Service ${ours.sid}`,
          status: 'ok',
          detail: `inbound request URL ${inboundUrl}`,
          remember,
        },
      ];
    return [
      {
        resource: `Messaging Service ${ours.sid}`,
        status: 'update',
        detail: ours.inboundRequestUrl
          ? `inbound request URL points elsewhere: ${maskUrl(ours.inboundRequestUrl)} → ${inboundUrl}`
          : `no inbound request URL: every incoming SMS is dropped without a word → ${inboundUrl}`,
        fix: 'run npm run setup (or set the service\'s "Send a webhook" URL in the Console)',
        remember,
        change: 'inbound-url',
      },
    ];
  },
  apply: async (ctx, { ours }, change) => {
    const inboundUrl = inboundUrlOf(ctx);
    const services = ctx.v.twilio.messaging.v1.services;
    if (change === 'inbound-url' && ours) {
      await fromTwilio(() => services(ours.sid).update({ inboundRequestUrl: inboundUrl, inboundMethod: 'POST' }));
      return;
    }
    const created = await fromTwilio(() =>
      services.create({
        friendlyName: ctx.opts.serviceName,
        inboundRequestUrl: inboundUrl,
        inboundMethod: 'POST',
        // the service's URL governs its numbers: one place to look
        useInboundWebhookOnNumber: false,
      }),
    );
    ctx.messaging.sid = created.sid;
    ctx.envUpdates.MESSAGING_SERVICE_SID = created.sid;
  },
});

type Number = { sid: string; smsUrl: string | null };

/** Where the number is a sender, against the service setup keeps its senders in. */
function senderFinding(ctx: Context, phone: string, holders: string[]): Finding {
  const ours = ctx.messaging.sid;
  const other = holders.find((h) => h !== ours);
  if (ours !== undefined && holders.includes(ours))
    return { resource: `Phone number ${phone}`, status: 'ok', detail: `a sender of ${ours}` };
  if (other && !ctx.opts.moveNumber)
    return {
      resource: `Phone number ${phone}`,
      status: 'problem',
      detail: `held by another Messaging Service (${other}): not a sender of ours, so scheduled SMS would go out at once`,
      fix: 'move it with npm run setup -- --move-number (the other service loses it), or set MESSAGING_SERVICE_SID to that service',
    };
  return {
    resource: `Phone number ${phone}`,
    status: 'update',
    detail: `${other ? `moved from ${other} and ` : ''}added as a sender of ${ours ?? 'the new Messaging Service'}`,
    fix: 'not in the Messaging Service (scheduled SMS would go out at once): run npm run setup',
    change: 'sender',
  };
}

/** The number's own SMS URL: it governs only where the service defers to its numbers. */
function smsUrlFinding(ctx: Context, phone: string, number: Number): Finding[] {
  const inboundUrl = inboundUrlOf(ctx);
  const resource = `Phone number ${phone} SMS URL`;
  if (!ctx.messaging.useInboundWebhookOnNumber)
    return number.smsUrl && number.smsUrl !== inboundUrl
      ? [
          {
            resource,
            status: 'ok',
            detail: `${maskUrl(number.smsUrl)}, ignored while the number is in the service (left as it is)`,
          },
        ]
      : [];
  if (number.smsUrl === inboundUrl)
    return [{ resource, status: 'ok', detail: `${inboundUrl} (the service uses its numbers' URLs)` }];
  return [
    {
      resource,
      status: 'update',
      detail: `${number.smsUrl ? `points elsewhere: ${maskUrl(number.smsUrl)}` : 'empty: incoming SMS are dropped'} → ${inboundUrl} (the service has UseInboundWebhookOnNumber)`,
      fix: 'run npm run setup',
      change: 'sms-url',
    },
  ];
}

export const phoneNumber = resource({
  about: 'TWILIO_PHONE_NUMBER: a number of the account, a sender of our Messaging Service',
  read: async ({ v, env, messaging }) => {
    const phone = env.TWILIO_PHONE_NUMBER;
    const numbers = phone ? await fromTwilio(() => v.twilio.incomingPhoneNumbers.list({ phoneNumber: phone })) : [];
    const number: Number | undefined = numbers[0];
    const holders: string[] = [];
    if (number)
      for (const s of messaging.services) {
        const held = await fromTwilio(() => v.twilio.messaging.v1.services(s.sid).phoneNumbers.list());
        if (held.some((p) => p.sid === number.sid)) holders.push(s.sid);
      }
    return { phone, number, holders };
  },
  compare: (ctx, { phone, number, holders }): Finding[] => {
    if (!number)
      return [
        {
          resource: `Phone number ${phone || '(TWILIO_PHONE_NUMBER unset)'}`,
          status: 'problem',
          detail: 'not a number of this account',
          fix: 'buy a number in the Console (Phone Numbers → Buy a number) and set TWILIO_PHONE_NUMBER in .env',
        },
      ];
    return [senderFinding(ctx, phone, holders), ...smsUrlFinding(ctx, phone, number)];
  },
  apply: async (ctx, { number, holders }, change) => {
    if (!number) return;
    const services = ctx.v.twilio.messaging.v1.services;
    if (change === 'sms-url') {
      const smsUrl = inboundUrlOf(ctx);
      await fromTwilio(() => ctx.v.twilio.incomingPhoneNumbers(number.sid).update({ smsUrl, smsMethod: 'POST' }));
      return;
    }
    // the SID of a service created by this same setup is known only now
    const ours = ctx.messaging.sid as string;
    const other = holders.find((h) => h !== ours);
    if (other) await fromTwilio(() => services(other).phoneNumbers(number.sid).remove());
    await fromTwilio(() => services(ours).phoneNumbers.create({ phoneNumberSid: number.sid }));
  },
});
