/**
 * What a live account must look like for the deployed service, read from the vendors and compared
 * with it, as a list of items: each resource either is right, or will be created or changed (with
 * the change it takes), or has a problem a person must solve (with what to do). `npm run setup`
 * prints the list and applies it; `npm run doctor` prints it as problems and applies nothing. One
 * planner for both, so the two can never disagree about what "wired" means.
 *
 * Reading is all done first; nothing is written until the plan is complete and shown.
 */
import { weakSecret } from '../lib/config';
import { DEAD_LETTERS_DOCUMENT, type DeadLetter } from '../lib/store/dead-letters';
import { type EnvValues, maskSecret, maskUrl, newSecret } from './env-file';
import { type Vendors, vendorError } from './vendors';

export type ItemStatus = 'ok' | 'create' | 'update' | 'problem' | 'manual';

export interface Item {
  resource: string;
  status: ItemStatus;
  /** what is there, what would change (no secret in full) */
  detail: string;
  /** for a problem: what to do */
  fix?: string;
  /** setup's change; run in order, after the plan was shown */
  apply?: () => Promise<void>;
}

export interface WiringOptions {
  serviceName: string;
  /** the Serverless environment's domain suffix (`dev` for a plain `twilio serverless:deploy`; '' for production) */
  environment: string;
  moveNumber: boolean;
  enableTracking: boolean;
  /** the Studio flow's definition with placeholders, when --studio */
  studioFlow?: string;
  /** the variables a deployed service reads (.env.example) */
  deployedKeys: string[];
  /** check the deployed /health too (doctor) */
  checkHealth: boolean;
}

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
export const STUDIO_FLOW_NAME = 'Channel-optimized notification';
/** how the committed flow names the service (importable as-is: the Console's user edits these) */
export const FLOW_PLACEHOLDER_ORIGIN = 'https://studio:YOUR_STUDIO_API_KEY@YOUR-SERVICE-DOMAIN';
const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
/** Segment's "most frequent" computed trait over what the service tracks (Public API query language) */
export const TRAIT_QUERY = "event('Notification Engaged').within(90 days).mostFrequent(property('channel'), 3)";

export interface Plan {
  items: Item[];
  /** the deployed service's public base URL (empty when it was not found) */
  baseUrl: string;
  /** values setup writes to .env once it applied */
  envUpdates: EnvValues;
}

const withoutCredentials = (url: string) => url.replace(/\/\/[^/@]*@/, '//');
const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );

export async function planWiring(v: Vendors, env: EnvValues, opts: WiringOptions): Promise<Plan> {
  const items: Item[] = [];
  const envUpdates: EnvValues = {};
  const add = (item: Item) => items.push(item);
  const read = async <T>(vendor: string, what: () => Promise<T>): Promise<T> => {
    try {
      return await what();
    } catch (err) {
      throw vendorError(vendor, err);
    }
  };

  // 1. the deployed service: its domain is where everything points
  const services = await read('Twilio', () => v.twilio.serverless.v1.services.list());
  const service = services.find((s) => s.uniqueName === opts.serviceName);
  if (!service) {
    add({
      resource: `Serverless service ${opts.serviceName}`,
      status: 'problem',
      detail: 'not deployed in this account',
      fix: 'deploy first (npm run deploy), then run this again',
    });
    return { items, baseUrl: '', envUpdates };
  }
  const environments = await read('Twilio', () => v.twilio.serverless.v1.services(service.sid).environments.list());
  const environment = environments.find((e) => (e.domainSuffix ?? '') === opts.environment);
  if (!environment) {
    add({
      resource: `Serverless environment "${opts.environment}" of ${opts.serviceName}`,
      status: 'problem',
      detail: `not found (environments: ${environments.map((e) => e.domainSuffix || '(production)').join(', ') || 'none'})`,
      fix: `deploy to it, or pass --environment ${environments[0]?.domainSuffix ?? 'dev'}`,
    });
    return { items, baseUrl: '', envUpdates };
  }
  const host = environment.domainName;
  // https on Twilio; the local sandbox's functions answer plain http on loopback
  const scheme = LOOPBACK.test(host) ? 'http' : 'https';
  const baseUrl = `${scheme}://${host}`;
  add({ resource: `Serverless service ${opts.serviceName}`, status: 'ok', detail: `deployed at ${baseUrl}` });

  // 2. secrets the service needs: generated when absent, kept in .env so the next deploy keeps them
  const value = (key: string) => envUpdates[key] ?? env[key] ?? '';
  for (const [key, make] of [
    ['NOTIFY_API_KEY', newSecret],
    ['STUDIO_API_KEY', newSecret],
    ['INSIGHTS_API_KEY', newSecret],
    ['SENDGRID_WEBHOOK_USERNAME', () => 'sendgrid'],
    ['SENDGRID_WEBHOOK_PASSWORD', newSecret],
  ] as const) {
    // a key the service would refuse with this account (config.ts: the sandbox's, or short) is replaced
    const weak = key.endsWith('USERNAME') ? undefined : weakSecret(env.ACCOUNT_SID, env[key] || undefined);
    if (env[key] && !weak) continue;
    envUpdates[key] = make();
    add({
      resource: `.env ${key}`,
      status: weak ? 'update' : 'create',
      detail: `${weak ? `${weak.replace(/ \(.*\)$/, '')}: replaced by one ` : ''}generated (${key.endsWith('USERNAME') ? envUpdates[key] : maskSecret(envUpdates[key])}), written to .env`,
    });
  }

  // 3. the Sync service
  const syncSid = env.SYNC_SERVICE_SID && env.SYNC_SERVICE_SID !== 'default' ? env.SYNC_SERVICE_SID : undefined;
  const syncServices = await read('Twilio', () => v.twilio.sync.v1.services.list());
  const namedSync = syncServices.find((s) => (syncSid ? s.sid === syncSid : s.friendlyName === opts.serviceName));
  if (syncSid && !namedSync) {
    add({
      resource: `Sync service ${syncSid}`,
      status: 'problem',
      detail: 'SYNC_SERVICE_SID names a service this account does not have',
      fix: 'unset SYNC_SERVICE_SID in .env to let setup create one, or set it to an existing IS… SID',
    });
  } else if (namedSync) {
    add({ resource: `Sync service ${namedSync.sid}`, status: 'ok', detail: `"${namedSync.friendlyName}"` });
    if (env.SYNC_SERVICE_SID !== namedSync.sid) envUpdates.SYNC_SERVICE_SID = namedSync.sid;
    // parcels recovery gave up on (src/lib/store/dead-letters.ts): work an operator must retry or drop
    const dead = await read('Twilio', () =>
      v.twilio.sync.v1
        .services(namedSync.sid)
        .documents(DEAD_LETTERS_DOCUMENT)
        .fetch()
        .then((d) => ((d.data as { entries?: DeadLetter[] }).entries ?? []) as DeadLetter[])
        .catch((err: { status?: number }) => (err.status === 404 ? [] : Promise.reject(err))),
    );
    if (dead.length)
      add({
        resource: 'Dead letters',
        status: 'problem',
        detail: `${dead.length} parcel${dead.length > 1 ? 's' : ''} recovery gave up on (${dead.map((d) => `${d.kind} ×${d.items}: ${d.error}`).join('; ')})`,
        fix: 'npm run dead-letters (against the deployed service: --url) lists them; retry or drop them with npm run dead-letters -- retry | drop',
      });
  } else {
    add({
      resource: 'Sync service',
      status: 'create',
      detail: `"${opts.serviceName}"`,
      fix: 'no Sync service: run npm run setup',
      apply: async () => {
        const created = await read('Twilio', () =>
          v.twilio.sync.v1.services.create({ friendlyName: opts.serviceName }),
        );
        envUpdates.SYNC_SERVICE_SID = created.sid;
      },
    });
  }

  // 4. the Messaging Service and its inbound request URL
  const inboundUrl = `${baseUrl}/sms/inbound#rc=3&rp=5xx,ct,rt`;
  const msSid = env.MESSAGING_SERVICE_SID || undefined;
  const messaging = await read('Twilio', () => v.twilio.messaging.v1.services.list());
  const ms = messaging.find((s) => (msSid ? s.sid === msSid : s.friendlyName === opts.serviceName));
  const msRef = { sid: ms?.sid };
  if (msSid && !ms) {
    add({
      resource: `Messaging Service ${msSid}`,
      status: 'problem',
      detail: 'MESSAGING_SERVICE_SID names a service this account does not have',
      fix: 'unset MESSAGING_SERVICE_SID in .env to let setup create one, or set it to an existing MG… SID',
    });
  } else if (!ms) {
    add({
      resource: 'Messaging Service',
      status: 'create',
      detail: `"${opts.serviceName}", inbound request URL ${inboundUrl}`,
      apply: async () => {
        const created = await read('Twilio', () =>
          v.twilio.messaging.v1.services.create({
            friendlyName: opts.serviceName,
            inboundRequestUrl: inboundUrl,
            inboundMethod: 'POST',
            // the service's URL governs its numbers: one place to look
            useInboundWebhookOnNumber: false,
          }),
        );
        msRef.sid = created.sid;
        envUpdates.MESSAGING_SERVICE_SID = created.sid;
      },
    });
  } else {
    if (env.MESSAGING_SERVICE_SID !== ms.sid) envUpdates.MESSAGING_SERVICE_SID = ms.sid;
    if (ms.inboundRequestUrl === inboundUrl) {
      add({ resource: `Messaging Service ${ms.sid}`, status: 'ok', detail: `inbound request URL ${inboundUrl}` });
    } else {
      add({
        resource: `Messaging Service ${ms.sid}`,
        status: 'update',
        detail: ms.inboundRequestUrl
          ? `inbound request URL points elsewhere: ${maskUrl(ms.inboundRequestUrl)} → ${inboundUrl}`
          : `no inbound request URL: every incoming SMS is dropped without a word → ${inboundUrl}`,
        fix: 'run npm run setup (or set the service\'s "Send a webhook" URL in the Console)',
        apply: async () => {
          await read('Twilio', () =>
            v.twilio.messaging.v1.services(ms.sid).update({ inboundRequestUrl: inboundUrl, inboundMethod: 'POST' }),
          );
        },
      });
    }
  }

  // 5. the phone number: in the service, and its own SMS URL where the service defers to it
  const phone = env.TWILIO_PHONE_NUMBER;
  const numbers = phone ? await read('Twilio', () => v.twilio.incomingPhoneNumbers.list({ phoneNumber: phone })) : [];
  const number = numbers[0];
  if (!number) {
    add({
      resource: `Phone number ${phone || '(TWILIO_PHONE_NUMBER unset)'}`,
      status: 'problem',
      detail: 'not a number of this account',
      fix: 'buy a number in the Console (Phone Numbers → Buy a number) and set TWILIO_PHONE_NUMBER in .env',
    });
  } else {
    const holders: string[] = [];
    for (const s of messaging) {
      const held = await read('Twilio', () => v.twilio.messaging.v1.services(s.sid).phoneNumbers.list());
      if (held.some((p) => p.sid === number.sid)) holders.push(s.sid);
    }
    const other = holders.find((h) => h !== msRef.sid);
    const inService = msRef.sid !== undefined && holders.includes(msRef.sid);
    if (inService) {
      add({ resource: `Phone number ${phone}`, status: 'ok', detail: `a sender of ${msRef.sid}` });
    } else if (other && !opts.moveNumber) {
      add({
        resource: `Phone number ${phone}`,
        status: 'problem',
        detail: `held by another Messaging Service (${other}): not a sender of ours, so scheduled SMS would go out at once`,
        fix: 'move it with npm run setup -- --move-number (the other service loses it), or set MESSAGING_SERVICE_SID to that service',
      });
    } else {
      add({
        resource: `Phone number ${phone}`,
        status: 'update',
        detail: `${other ? `moved from ${other} and ` : ''}added as a sender of ${msRef.sid ?? 'the new Messaging Service'}`,
        fix: 'not in the Messaging Service (scheduled SMS would go out at once): run npm run setup',
        apply: async () => {
          if (other)
            await read('Twilio', () => v.twilio.messaging.v1.services(other).phoneNumbers(number.sid).remove());
          await read('Twilio', () =>
            v.twilio.messaging.v1.services(msRef.sid as string).phoneNumbers.create({ phoneNumberSid: number.sid }),
          );
        },
      });
    }
    if (ms?.useInboundWebhookOnNumber) {
      // the service defers to its numbers' own URLs: the number's must point here too
      if (number.smsUrl === inboundUrl)
        add({
          resource: `Phone number ${phone} SMS URL`,
          status: 'ok',
          detail: `${inboundUrl} (the service uses its numbers' URLs)`,
        });
      else
        add({
          resource: `Phone number ${phone} SMS URL`,
          status: 'update',
          detail: `${number.smsUrl ? `points elsewhere: ${maskUrl(number.smsUrl)}` : 'empty: incoming SMS are dropped'} → ${inboundUrl} (the service has UseInboundWebhookOnNumber)`,
          fix: 'run npm run setup',
          apply: async () => {
            await read('Twilio', () =>
              v.twilio.incomingPhoneNumbers(number.sid).update({ smsUrl: inboundUrl, smsMethod: 'POST' }),
            );
          },
        });
    } else if (number.smsUrl && number.smsUrl !== inboundUrl) {
      add({
        resource: `Phone number ${phone} SMS URL`,
        status: 'ok',
        detail: `${maskUrl(number.smsUrl)}, ignored while the number is in the service (left as it is)`,
      });
    }
  }

  // 6. SendGrid's Event Webhook and tracking
  const user = value('SENDGRID_WEBHOOK_USERNAME');
  const hookUrl = (pass: string) =>
    `${baseUrl.replace('://', `://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@`)}/email/events`;
  const wantedHook = hookUrl(value('SENDGRID_WEBHOOK_PASSWORD'));
  const hooks =
    (
      (await v.sendgrid('GET', '/v3/user/webhooks/event/settings/all')) as {
        webhooks?: Array<Record<string, unknown>>;
      }
    ).webhooks ?? [];
  const hook = hooks.find((h) => withoutCredentials(String(h.url)) === `${baseUrl}/email/events`);
  const hookBody = {
    url: wantedHook,
    enabled: true,
    friendly_name: opts.serviceName,
    ...Object.fromEntries(SENDGRID_EVENTS.map((e) => [e, true])),
  };
  // SendGrid's Signed Event Webhook: the service verifies every batch with its public key, so that
  // the webhook's Basic credentials alone cannot post events
  const signingPath = (id: unknown) => `/v3/user/webhooks/event/settings/signed/${id}`;
  const turnSigningOn = async (id: unknown) => {
    const signed = (await v.sendgrid('PATCH', signingPath(id), { enabled: true })) as { public_key?: string };
    if (signed.public_key) envUpdates.SENDGRID_WEBHOOK_PUBLIC_KEY = signed.public_key;
  };
  let signingPending = false;
  if (!hook) {
    signingPending = true;
    add({
      resource: 'SendGrid Event Webhook',
      status: 'create',
      detail: `${maskUrl(wantedHook)} with ${SENDGRID_EVENTS.join(', ')}, signed (its key written to .env)`,
      fix: 'no Event Webhook posts to this service: run npm run setup',
      apply: async () => {
        const created = (await v.sendgrid('POST', '/v3/user/webhooks/event/settings', hookBody)) as { id?: string };
        await turnSigningOn(created.id);
      },
    });
  } else {
    const { public_key: publicKey } = (await v.sendgrid('GET', signingPath(hook.id))) as { public_key?: string };
    if (!publicKey) {
      signingPending = true;
      add({
        resource: `SendGrid Event Webhook ${hook.id} signing`,
        status: 'update',
        detail:
          "off → on: unsigned, anyone holding the webhook's credentials can post events; the key is written to .env",
        fix: 'run npm run setup (or turn on Signed Event Webhook Requests under Settings → Mail Settings → Event Webhooks)',
        apply: () => turnSigningOn(hook.id),
      });
    } else if (env.SENDGRID_WEBHOOK_PUBLIC_KEY !== publicKey) {
      envUpdates.SENDGRID_WEBHOOK_PUBLIC_KEY = publicKey;
      add({
        resource: '.env SENDGRID_WEBHOOK_PUBLIC_KEY',
        status: 'update',
        detail: `${env.SENDGRID_WEBHOOK_PUBLIC_KEY ? 'differs from' : 'missing: unsigned batches are accepted, though'} the webhook's signing key`,
        fix: 'run npm run setup (it writes the key SendGrid shows to .env and deploys it)',
      });
    } else {
      add({ resource: `SendGrid Event Webhook ${hook.id} signing`, status: 'ok', detail: 'on, its key in .env' });
    }
  }
  if (hook) {
    const wrong: string[] = [];
    if (hook.enabled !== true) wrong.push('disabled');
    const missing = SENDGRID_EVENTS.filter((e) => hook[e] !== true);
    if (missing.length) wrong.push(`missing events ${missing.join(', ')}`);
    if (String(hook.url) !== wantedHook)
      wrong.push('credentials in its URL differ from .env (every batch would be refused 401)');
    add(
      wrong.length === 0
        ? { resource: `SendGrid Event Webhook ${hook.id}`, status: 'ok', detail: maskUrl(wantedHook) }
        : {
            resource: `SendGrid Event Webhook ${hook.id}`,
            status: 'update',
            detail: wrong.join('; '),
            fix: 'run npm run setup (or fix it under Settings → Mail Settings → Event Webhooks)',
            apply: async () => {
              await v.sendgrid('PATCH', `/v3/user/webhooks/event/settings/${hook.id}`, hookBody);
            },
          },
    );
  }
  for (const kind of ['open', 'click'] as const) {
    const tracking = (await v.sendgrid('GET', `/v3/tracking_settings/${kind}`)) as { enabled?: boolean };
    if (tracking.enabled) {
      add({ resource: `SendGrid ${kind} tracking`, status: 'ok', detail: 'on' });
    } else if (opts.enableTracking) {
      add({
        resource: `SendGrid ${kind} tracking`,
        status: 'update',
        detail: 'off → on (--enable-tracking; it applies to every email of the account)',
        apply: async () => {
          await v.sendgrid('PATCH', `/v3/tracking_settings/${kind}`, { enabled: true });
        },
      });
    } else {
      add({
        resource: `SendGrid ${kind} tracking`,
        status: 'problem',
        detail: `off: no ${kind} events reach the learner, so email engagement is never seen`,
        fix: `turn it on (Settings → Tracking → ${kind === 'open' ? 'Open' : 'Click'} Tracking), or run npm run setup -- --enable-tracking; it applies to every email of the account, which is why setup does not do it unasked`,
      });
    }
  }

  // 7. Segment's computed trait (the "trait" routing policy and the holdout's baseline read it)
  const trait = env.PREFERRED_CHANNEL_TRAIT || 'preferred_channel';
  const uiSteps = `Unify → Traits → Create computed trait → Most frequent → event "Notification Engaged", property "channel", minimum frequency 3 → name it ${trait} (needs Segment's Unify plan)`;
  if (!v.segment || !env.SEGMENT_SPACE_ID) {
    add({
      resource: `Segment computed trait ${trait}`,
      status: 'manual',
      detail: `not checked (set SEGMENT_PUBLIC_API_TOKEN and SEGMENT_SPACE_ID to let setup create it). In Segment: ${uiSteps}`,
    });
  } else {
    const segment = v.segment;
    const path = `/spaces/${encodeURIComponent(env.SEGMENT_SPACE_ID)}/computed-traits`;
    const listed = (await segment('GET', path)) as {
      data?: { computedTraits?: Array<{ key?: string; name?: string; enabled?: boolean }> };
    };
    const found = listed.data?.computedTraits?.find((t) => t.key === trait || t.name === trait);
    add(
      found
        ? {
            resource: `Segment computed trait ${trait}`,
            status: found.enabled === false ? 'problem' : 'ok',
            detail: found.enabled === false ? 'disabled' : 'defined',
            fix: 'enable it in Segment (Unify → Traits)',
          }
        : {
            resource: `Segment computed trait ${trait}`,
            status: 'create',
            detail: 'most frequent channel of Notification Engaged',
            fix: `not defined: run npm run setup, or in Segment: ${uiSteps}`,
            apply: async () => {
              await segment('POST', path, {
                name: trait,
                enabled: true,
                definition: { query: TRAIT_QUERY, type: 'USERS' },
              });
            },
          },
    );
  }

  // 8. the deployed environment's variables (a deploy overwrites those .env holds: .env gets what setup set)
  const variables = v.twilio.serverless.v1.services(service.sid).environments(environment.sid).variables;
  const deployed = await read('Twilio', () => variables.list());
  const pending = () =>
    opts.deployedKeys
      .map((key) => ({ key, want: value(key), have: deployed.find((d) => d.key === key) }))
      .filter(({ want, have }) => want !== '' && have?.value !== want);
  const differing = pending();
  // what the service does not read has no business in its environment: a setup-only token (the
  // workspace owner's SEGMENT_PUBLIC_API_TOKEN), a sandbox base URL that would redirect every call
  const foreign = deployed.filter((d) => !opts.deployedKeys.includes(d.key));
  if (foreign.length)
    add({
      resource: `Deployed variables (${environment.domainSuffix || 'production'}) not read by the service`,
      status: 'update',
      detail: `${foreign.map((d) => d.key).join(', ')}: removed (a deploy of .env's every line put them there)`,
      fix: 'run npm run setup (it removes them), and deploy with npm run deploy, which uploads only what the service reads',
      apply: async () => {
        for (const d of foreign) await read('Twilio', () => variables(d.sid).remove());
      },
    });
  const servicesToCreate = items.some((i) => i.status === 'create' && /^(Sync|Messaging) Service$/.test(i.resource));
  const toBeKnown = servicesToCreate || signingPending;
  if (differing.length === 0 && !toBeKnown) {
    add({
      resource: `Deployed variables (${environment.domainSuffix || 'production'})`,
      status: 'ok',
      detail: 'as in .env',
    });
  } else {
    const shown = differing.map(({ key, have }) => `${key} ${have ? 'differs from .env' : 'missing'}`);
    if (servicesToCreate) shown.push('the SIDs of the services created above');
    if (signingPending) shown.push("the Event Webhook's signing key");
    add({
      resource: `Deployed variables (${environment.domainSuffix || 'production'})`,
      status: 'update',
      detail: shown.join(', '),
      fix: 'run npm run setup (it sets them and writes them to .env, so the next deploy keeps them)',
      apply: async () => {
        for (const { key, want, have } of pending()) {
          await read('Twilio', () =>
            have ? variables(have.sid).update({ value: want }) : variables.create({ key, value: want }),
          );
        }
      },
    });
  }

  // 9. the Studio flow (--studio)
  if (opts.studioFlow !== undefined) {
    // Studio's own key, which may only call /notify and /notification: the flow keeps it in clear
    const origin = `${scheme}://studio:${encodeURIComponent(value('STUDIO_API_KEY'))}@${host}`;
    const definition = JSON.parse(opts.studioFlow.split(FLOW_PLACEHOLDER_ORIGIN).join(origin));
    const validate = () =>
      read('Twilio', () =>
        v.twilio.studio.v2.flowValidate.update({ friendlyName: STUDIO_FLOW_NAME, status: 'published', definition }),
      );
    const flows = await read('Twilio', () => v.twilio.studio.v2.flows.list());
    const flow = flows.find((f) => f.friendlyName === STUDIO_FLOW_NAME);
    const same = flow && flow.status === 'published' && stable(flow.definition) === stable(definition);
    add(
      same
        ? { resource: `Studio flow ${flow.sid}`, status: 'ok', detail: `"${STUDIO_FLOW_NAME}", published` }
        : {
            resource: flow ? `Studio flow ${flow.sid}` : 'Studio flow',
            status: flow ? 'update' : 'create',
            detail: `"${STUDIO_FLOW_NAME}" calling ${baseUrl}, validated with Flows/Validate first, published`,
            fix: 'run npm run setup -- --studio',
            apply: async () => {
              await validate();
              const commitMessage = 'npm run setup --studio';
              await read('Twilio', () =>
                flow
                  ? v.twilio.studio.v2.flows(flow.sid).update({ status: 'published', definition, commitMessage })
                  : v.twilio.studio.v2.flows.create({
                      friendlyName: STUDIO_FLOW_NAME,
                      status: 'published',
                      definition,
                      commitMessage,
                    }),
              );
            },
          },
    );
  }

  // 10. the deployed service answers (doctor)
  if (opts.checkHealth) {
    const status = await v.httpStatus(`${baseUrl}/health`);
    add(
      status === 200
        ? { resource: `${baseUrl}/health`, status: 'ok', detail: 'answers 200' }
        : {
            resource: `${baseUrl}/health`,
            status: 'problem',
            detail: status ? `answers ${status}` : 'does not answer',
            fix: "deploy again (npm run deploy) and look at the service's logs in the Console (Functions → Services → Logs)",
          },
    );
  }
  return { items, baseUrl, envUpdates };
}
