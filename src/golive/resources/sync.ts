/** The Sync service the service stores in, and the dead letters recovery left in it. */
import { DEAD_LETTERS_DOCUMENT, type DeadLetter } from '../../lib/store/dead-letters';
import { type Finding, fromTwilio, resource, SERVICE_CREATED, unknownSid } from '../resource';

export const syncService = resource({
  about: 'the Sync service (SYNC_SERVICE_SID, or the one named after the service)',
  read: async ({ v, env, opts }) => {
    const sid = env.SYNC_SERVICE_SID && env.SYNC_SERVICE_SID !== 'default' ? env.SYNC_SERVICE_SID : undefined;
    const services = await fromTwilio(() => v.twilio.sync.v1.services.list());
    const named = services.find((s) => (sid ? s.sid === sid : s.friendlyName === opts.serviceName));
    // parcels recovery gave up on (src/lib/store/dead-letters.ts): work an operator must retry or drop
    const dead = named
      ? await fromTwilio(() =>
          v.twilio.sync.v1
            .services(named.sid)
            .documents(DEAD_LETTERS_DOCUMENT)
            .fetch()
            .then((d) => ((d.data as { entries?: DeadLetter[] }).entries ?? []) as DeadLetter[])
            .catch((err: { status?: number }) => (err.status === 404 ? [] : Promise.reject(err))),
        )
      : [];
    return { sid, named, dead };
  },
  compare: ({ env, opts }, { sid, named, dead }): Finding[] => {
    if (sid && !named) return [unknownSid('Sync service', 'SYNC_SERVICE_SID', sid, 'IS')];
    if (!named)
      return [
        {
          resource: 'Sync service',
          status: 'create',
          detail: `"${opts.serviceName}"`,
          fix: 'no Sync service: run npm run setup',
          change: 'create',
          produces: SERVICE_CREATED,
        },
      ];
    const found: Finding = {
      resource: `Sync service ${named.sid}`,
      status: 'ok',
      detail: `"${named.friendlyName}"`,
      remember: env.SYNC_SERVICE_SID !== named.sid ? { SYNC_SERVICE_SID: named.sid } : undefined,
    };
    if (!dead.length) return [found];
    return [
      found,
      {
        resource: 'Dead letters',
        status: 'problem',
        detail: `${dead.length} parcel${dead.length > 1 ? 's' : ''} recovery gave up on (${dead.map((d) => `${d.kind} ×${d.items}: ${d.error}`).join('; ')})`,
        fix: 'npm run dead-letters (against the deployed service: --url) lists them; retry or drop them with npm run dead-letters -- retry | drop',
      },
    ];
  },
  apply: async ({ v, opts, envUpdates }) => {
    const created = await fromTwilio(() => v.twilio.sync.v1.services.create({ friendlyName: opts.serviceName }));
    envUpdates.SYNC_SERVICE_SID = created.sid;
  },
});
