/** The deployed service, which everything else points to, and the secrets it needs. */
import { weakSecret } from '../../lib/config';
import { maskSecret, newSecret } from '../env-file';
import { type Finding, fromTwilio, resource } from '../resource';

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/** The Serverless service and environment: found, it sets where every later resource points; missing, the plan stops. */
export const deployment = resource({
  about: 'the deployed Serverless service and environment',
  read: async ({ v, opts, site }) => {
    const services = await fromTwilio(() => v.twilio.serverless.v1.services.list());
    const service = services.find((s) => s.uniqueName === opts.serviceName);
    if (!service) return { service };
    const environments = await fromTwilio(() => v.twilio.serverless.v1.services(service.sid).environments.list());
    const environment = environments.find((e) => (e.domainSuffix ?? '') === opts.environment);
    if (environment) {
      const host = environment.domainName;
      // https on Twilio; the local sandbox's functions answer plain http on loopback
      const scheme = LOOPBACK.test(host) ? 'http' : 'https';
      Object.assign(site, {
        serviceSid: service.sid,
        environmentSid: environment.sid,
        suffix: environment.domainSuffix ?? '',
        host,
        scheme,
        baseUrl: `${scheme}://${host}`,
      });
    }
    return { service, environment, suffixes: environments.map((e) => e.domainSuffix) };
  },
  compare: ({ opts, site }, { service, environment, suffixes = [] }): Finding[] => {
    if (!service)
      return [
        {
          resource: `Serverless service ${opts.serviceName}`,
          status: 'problem',
          detail: 'not deployed in this account',
          fix: 'deploy first (npm run deploy), then run this again',
          halt: true,
        },
      ];
    if (!environment)
      return [
        {
          resource: `Serverless environment "${opts.environment}" of ${opts.serviceName}`,
          status: 'problem',
          detail: `not found (environments: ${suffixes.map((s) => s || '(production)').join(', ') || 'none'})`,
          fix: `deploy to it, or pass --environment ${suffixes[0] ?? 'dev'}`,
          halt: true,
        },
      ];
    return [
      { resource: `Serverless service ${opts.serviceName}`, status: 'ok', detail: `deployed at ${site.baseUrl}` },
    ];
  },
});

const SECRETS = [
  ['NOTIFY_API_KEY', newSecret],
  ['STUDIO_API_KEY', newSecret],
  ['INSIGHTS_API_KEY', newSecret],
  ['SENDGRID_WEBHOOK_USERNAME', () => 'sendgrid'],
  ['SENDGRID_WEBHOOK_PASSWORD', newSecret],
] as const;

/** Secrets the service needs: generated when absent or weak, kept in .env so the next deploy keeps them. */
export const secrets = resource({
  about: "the service's keys and the webhook's credentials, in .env",
  read: async () => undefined,
  compare: ({ env }): Finding[] =>
    SECRETS.flatMap(([key, make]): Finding[] => {
      // a key the service would refuse with this account (config.ts: the sandbox's, or short) is replaced
      const weak = key.endsWith('USERNAME') ? undefined : weakSecret(env.ACCOUNT_SID, env[key] || undefined);
      if (env[key] && !weak) return [];
      const made = make();
      return [
        {
          resource: `.env ${key}`,
          status: weak ? 'update' : 'create',
          detail: `${weak ? `${weak.replace(/ \(.*\)$/, '')}: replaced by one ` : ''}generated (${key.endsWith('USERNAME') ? made : maskSecret(made)}), written to .env`,
          remember: { [key]: made },
        },
      ];
    }),
});
