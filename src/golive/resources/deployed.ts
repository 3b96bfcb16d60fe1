/**
 * What lives in the deployed environment besides the code: its variables (a deploy overwrites those
 * .env holds, so .env gets what setup set), the Studio flow that calls it, and whether it answers.
 */
import { type Context, type Finding, fromTwilio, resource, settingOf } from '../resource';

type Variable = { sid: string; key: string; value: string };

const variablesOf = ({ v, site }: Context) =>
  v.twilio.serverless.v1.services(site.serviceSid).environments(site.environmentSid).variables;
const environmentName = ({ site }: Context) => site.suffix || 'production';

/** The variables whose value setup will set: what the service reads, where .env (or setup) has another value. */
const pendingOf = (ctx: Context, deployed: Variable[]) =>
  ctx.opts.deployedKeys
    .map((key) => ({ key, want: settingOf(ctx, key), have: deployed.find((d) => d.key === key) }))
    .filter(({ want, have }) => want !== '' && have?.value !== want);

export const deployedVariables = resource({
  about: "the deployed environment's variables: what the service reads, as in .env, and nothing else",
  read: (ctx) => fromTwilio(() => variablesOf(ctx).list()) as Promise<Variable[]>,
  compare: (ctx, deployed): Finding[] => {
    const findings: Finding[] = [];
    // what the service does not read has no business in its environment: a setup-only token (the
    // workspace owner's SEGMENT_PUBLIC_API_TOKEN), a sandbox base URL that would redirect every call
    const foreign = deployed.filter((d) => !ctx.opts.deployedKeys.includes(d.key));
    if (foreign.length)
      findings.push({
        resource: `Deployed variables (${environmentName(ctx)}) not read by the service`,
        status: 'update',
        detail: `${foreign.map((d) => d.key).join(', ')}: removed (a deploy of .env's every line put them there)`,
        fix: 'run npm run setup (it removes them), and deploy with npm run deploy, which uploads only what the service reads',
        change: 'remove-foreign',
      });
    const shown = [
      ...pendingOf(ctx, deployed).map(({ key, have }) => `${key} ${have ? 'differs from .env' : 'missing'}`),
      ...new Set(ctx.produced),
    ];
    findings.push(
      shown.length === 0
        ? { resource: `Deployed variables (${environmentName(ctx)})`, status: 'ok', detail: 'as in .env' }
        : {
            resource: `Deployed variables (${environmentName(ctx)})`,
            status: 'update',
            detail: shown.join(', '),
            fix: 'run npm run setup (it sets them and writes them to .env, so the next deploy keeps them)',
            change: 'set',
          },
    );
    return findings;
  },
  apply: async (ctx, deployed, change) => {
    const variables = variablesOf(ctx);
    if (change === 'remove-foreign') {
      for (const d of deployed.filter((x) => !ctx.opts.deployedKeys.includes(x.key)))
        await fromTwilio(() => variables(d.sid).remove());
      return;
    }
    // what the changes above produced (a created service's SID, a signing key) is known only now
    for (const { key, want, have } of pendingOf(ctx, deployed))
      await fromTwilio(() =>
        have ? variables(have.sid).update({ value: want }) : variables.create({ key, value: want }),
      );
  },
});

export const STUDIO_FLOW_NAME = 'Channel-optimized notification';
/** how the committed flow names the service (importable as-is: the Console's user edits these) */
export const FLOW_PLACEHOLDER_ORIGIN = 'https://studio:YOUR_STUDIO_API_KEY@YOUR-SERVICE-DOMAIN';
const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );

/** The committed flow with this service's origin and Studio's own key (which may only call /notify and /notification: the flow keeps it in clear). */
function definitionOf(ctx: Context): unknown {
  const origin = `${ctx.site.scheme}://studio:${encodeURIComponent(settingOf(ctx, 'STUDIO_API_KEY'))}@${ctx.site.host}`;
  return JSON.parse((ctx.opts.studioFlow ?? '').split(FLOW_PLACEHOLDER_ORIGIN).join(origin));
}

export const studioFlow = resource({
  about: 'the Studio flow calling the service (--studio)',
  wanted: ({ opts }) => opts.studioFlow !== undefined,
  read: async ({ v }) =>
    (await fromTwilio(() => v.twilio.studio.v2.flows.list())).find((f) => f.friendlyName === STUDIO_FLOW_NAME),
  compare: (ctx, flow): Finding[] => {
    const same = flow && flow.status === 'published' && stable(flow.definition) === stable(definitionOf(ctx));
    if (flow && same)
      return [{ resource: `Studio flow ${flow.sid}`, status: 'ok', detail: `"${STUDIO_FLOW_NAME}", published` }];
    return [
      {
        resource: flow ? `Studio flow ${flow.sid}` : 'Studio flow',
        status: flow ? 'update' : 'create',
        detail: `"${STUDIO_FLOW_NAME}" calling ${ctx.site.baseUrl}, validated with Flows/Validate first, published`,
        fix: 'run npm run setup -- --studio',
        change: 'publish',
      },
    ];
  },
  apply: async (ctx, flow) => {
    const { studio } = ctx.v.twilio;
    const [definition, friendlyName, status] = [definitionOf(ctx), STUDIO_FLOW_NAME, 'published' as const];
    await fromTwilio(() => studio.v2.flowValidate.update({ friendlyName, status, definition }));
    const commitMessage = 'npm run setup --studio';
    await fromTwilio(() =>
      flow
        ? studio.v2.flows(flow.sid).update({ status, definition, commitMessage })
        : studio.v2.flows.create({ friendlyName, status, definition, commitMessage }),
    );
  },
});

export const health = resource({
  about: "the deployed service's /health answers 200 (doctor)",
  wanted: ({ opts }) => opts.checkHealth,
  read: (ctx) => ctx.v.httpStatus(`${ctx.site.baseUrl}/health`),
  compare: ({ site }, status): Finding[] => [
    status === 200
      ? { resource: `${site.baseUrl}/health`, status: 'ok', detail: 'answers 200' }
      : {
          resource: `${site.baseUrl}/health`,
          status: 'problem',
          detail: status ? `answers ${status}` : 'does not answer',
          fix: "deploy again (npm run deploy) and look at the service's logs in the Console (Functions → Services → Logs)",
        },
  ],
});
