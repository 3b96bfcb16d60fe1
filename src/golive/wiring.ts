/**
 * What a live account must look like for the deployed service, read from the vendors and compared
 * with it, as a list of items: each resource either is right, or will be created or changed (with
 * the change it takes), or has a problem a person must solve (with what to do). `npm run setup`
 * prints the list and applies it; `npm run doctor` prints it as problems and applies nothing. One
 * planner for both, so the two can never disagree about what "wired" means.
 *
 * The account is a table of resources (resources/*.ts), each declaring how it is read, compared
 * and changed (resource.ts); they are planned in the table's order, because later ones point to
 * what earlier ones found (the service's domain, the Messaging Service's SID). Reading is all done
 * first; nothing is written until the plan is complete and shown.
 */
import type { EnvValues } from './env-file';
import type { Context, Plan, Planned, WiringOptions } from './resource';
import { deployedVariables, health, studioFlow } from './resources/deployed';
import { deployment, secrets } from './resources/deployment';
import { messagingService, phoneNumber } from './resources/messaging';
import { computedTrait } from './resources/segment';
import { eventWebhook, tracking } from './resources/sendgrid';
import { syncService } from './resources/sync';
import { whatsappSender, whatsappTemplates } from './resources/whatsapp';
import type { Vendors } from './vendors';

export type { Item, ItemStatus, Plan, WiringOptions } from './resource';

/** Every resource of a wired account, in the order they are planned and applied. */
export const RESOURCES: readonly Planned[] = [
  deployment,
  secrets,
  syncService,
  messagingService,
  phoneNumber,
  whatsappSender,
  whatsappTemplates,
  eventWebhook,
  tracking,
  computedTrait,
  // after every resource whose change produces a value the deployed service reads
  deployedVariables,
  studioFlow,
  health,
];

export async function planWiring(v: Vendors, env: EnvValues, opts: WiringOptions): Promise<Plan> {
  const ctx: Context = {
    v,
    env,
    opts,
    envUpdates: {},
    site: { serviceSid: '', environmentSid: '', suffix: '', host: '', scheme: 'https', baseUrl: '' },
    messaging: { services: [] },
    produced: [],
  };
  const items: Plan['items'] = [];
  for (const r of RESOURCES) {
    const planned = await r.plan(ctx);
    items.push(...planned.items);
    if (planned.halt) break;
  }
  return { items, baseUrl: ctx.site.baseUrl, envUpdates: ctx.envUpdates };
}
