/**
 * SendGrid's Event Webhook (posting every event the service acts on, signed) and open and click
 * tracking, without which no email engagement reaches the learner.
 */
import { type EnvValues, maskUrl } from '../env-file';
import { type Context, type Finding, resource, settingOf } from '../resource';

/** The SendGrid events the service acts on (channels/email.ts). */
export const SENDGRID_EVENTS = [
  'processed',
  'delivered',
  'bounce',
  'dropped',
  'open',
  'click',
  'spam_report',
  'unsubscribe',
  'group_unsubscribe',
  'group_resubscribe',
] as const;

const SETTINGS = '/v3/user/webhooks/event/settings';
const signingPath = (id: unknown) => `${SETTINGS}/signed/${id}`;
const withoutCredentials = (url: string) => url.replace(/\/\/[^/@]*@/, '//');
const SIGNING_KEY = "the Event Webhook's signing key";

/** The webhook's URL, with the Basic credentials the service checks. */
function wantedUrl(ctx: Context): string {
  const [user, pass] = ['SENDGRID_WEBHOOK_USERNAME', 'SENDGRID_WEBHOOK_PASSWORD'].map((k) =>
    encodeURIComponent(settingOf(ctx, k)),
  );
  return `${ctx.site.baseUrl.replace('://', `://${user}:${pass}@`)}/email/events`;
}
const bodyOf = (ctx: Context) => ({
  url: wantedUrl(ctx),
  enabled: true,
  friendly_name: ctx.opts.serviceName,
  ...Object.fromEntries(SENDGRID_EVENTS.map((e) => [e, true])),
});

/** SendGrid's Signed Event Webhook: the service verifies every batch with its public key, so the Basic credentials alone cannot post events. */
async function turnSigningOn(ctx: Context, id: unknown): Promise<void> {
  const signed = (await ctx.v.sendgrid('PATCH', signingPath(id), { enabled: true })) as { public_key?: string };
  if (signed.public_key) ctx.envUpdates.SENDGRID_WEBHOOK_PUBLIC_KEY = signed.public_key;
}

type Hook = Record<string, unknown>;

function signingFinding(env: EnvValues, hook: Hook, publicKey: string | undefined): Finding {
  if (!publicKey)
    return {
      resource: `SendGrid Event Webhook ${hook.id} signing`,
      status: 'update',
      detail:
        "off → on: unsigned, anyone holding the webhook's credentials can post events; the key is written to .env",
      fix: 'run npm run setup (or turn on Signed Event Webhook Requests under Settings → Mail Settings → Event Webhooks)',
      change: 'sign',
      produces: SIGNING_KEY,
    };
  if (env.SENDGRID_WEBHOOK_PUBLIC_KEY !== publicKey)
    return {
      resource: '.env SENDGRID_WEBHOOK_PUBLIC_KEY',
      status: 'update',
      detail: `${env.SENDGRID_WEBHOOK_PUBLIC_KEY ? 'differs from' : 'missing: unsigned batches are accepted, though'} the webhook's signing key`,
      fix: 'run npm run setup (it writes the key SendGrid shows to .env and deploys it)',
      remember: { SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey },
    };
  return { resource: `SendGrid Event Webhook ${hook.id} signing`, status: 'ok', detail: 'on, its key in .env' };
}

function settingsFinding(ctx: Context, hook: Hook): Finding {
  const wrong: string[] = [];
  if (hook.enabled !== true) wrong.push('disabled');
  const missing = SENDGRID_EVENTS.filter((e) => hook[e] !== true);
  if (missing.length) wrong.push(`missing events ${missing.join(', ')}`);
  if (String(hook.url) !== wantedUrl(ctx))
    wrong.push('credentials in its URL differ from .env (every batch would be refused 401)');
  if (wrong.length === 0)
    return { resource: `SendGrid Event Webhook ${hook.id}`, status: 'ok', detail: maskUrl(wantedUrl(ctx)) };
  return {
    resource: `SendGrid Event Webhook ${hook.id}`,
    status: 'update',
    detail: wrong.join('; '),
    fix: 'run npm run setup (or fix it under Settings → Mail Settings → Event Webhooks)',
    change: 'settings',
  };
}

export const eventWebhook = resource({
  about: "SendGrid's Event Webhook to /email/events: every event the service acts on, its credentials, signed",
  read: async (ctx) => {
    const all = ((await ctx.v.sendgrid('GET', `${SETTINGS}/all`)) as { webhooks?: Hook[] }).webhooks ?? [];
    const hook = all.find((h) => withoutCredentials(String(h.url)) === `${ctx.site.baseUrl}/email/events`);
    const publicKey = hook
      ? ((await ctx.v.sendgrid('GET', signingPath(hook.id))) as { public_key?: string }).public_key
      : undefined;
    return { hook, publicKey };
  },
  compare: (ctx, { hook, publicKey }): Finding[] => {
    if (!hook)
      return [
        {
          resource: 'SendGrid Event Webhook',
          status: 'create',
          detail: `${maskUrl(wantedUrl(ctx))} with ${SENDGRID_EVENTS.join(', ')}, signed (its key written to .env)`,
          fix: 'no Event Webhook posts to this service: run npm run setup',
          change: 'create',
          produces: SIGNING_KEY,
        },
      ];
    return [signingFinding(ctx.env, hook, publicKey), settingsFinding(ctx, hook)];
  },
  apply: async (ctx, { hook }, change) => {
    if (change === 'create') {
      const created = (await ctx.v.sendgrid('POST', SETTINGS, bodyOf(ctx))) as { id?: string };
      await turnSigningOn(ctx, created.id);
    } else if (change === 'sign') await turnSigningOn(ctx, hook?.id);
    else await ctx.v.sendgrid('PATCH', `${SETTINGS}/${hook?.id}`, bodyOf(ctx));
  },
});

const KINDS = ['open', 'click'] as const;

export const tracking = resource({
  about: "SendGrid's open and click tracking (account-wide: turned on only with --enable-tracking)",
  read: async ({ v }) =>
    Promise.all(
      KINDS.map(async (kind) => ({
        kind,
        enabled: ((await v.sendgrid('GET', `/v3/tracking_settings/${kind}`)) as { enabled?: boolean }).enabled,
      })),
    ),
  compare: ({ opts }, settings): Finding[] =>
    settings.map(({ kind, enabled }): Finding => {
      const resource = `SendGrid ${kind} tracking`;
      if (enabled) return { resource, status: 'ok', detail: 'on' };
      if (opts.enableTracking)
        return {
          resource,
          status: 'update',
          detail: 'off → on (--enable-tracking; it applies to every email of the account)',
          change: kind,
        };
      return {
        resource,
        status: 'problem',
        detail: `off: no ${kind} events reach the learner, so email engagement is never seen`,
        fix: `turn it on (Settings → Tracking → ${kind === 'open' ? 'Open' : 'Click'} Tracking), or run npm run setup -- --enable-tracking; it applies to every email of the account, which is why setup does not do it unasked`,
      };
    }),
  apply: async ({ v }, _settings, kind) => {
    await v.sendgrid('PATCH', `/v3/tracking_settings/${kind}`, { enabled: true });
  },
});
