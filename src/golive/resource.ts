/**
 * What `npm run setup` and `npm run doctor` plan over: resources, each read from its vendor,
 * compared with what the deployed service needs, and (by setup only) changed. In the spirit of
 * segmentio/action-destinations' `fields` + `perform`: a resource declares how it is read, judged
 * and changed; the planner (wiring.ts) runs the table in order and owns nothing else.
 */
import type { EnvValues } from './env-file';
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

export interface Plan {
  items: Item[];
  /** the deployed service's public base URL (empty when it was not found) */
  baseUrl: string;
  /** values setup writes to .env once it applied */
  envUpdates: EnvValues;
}

/** Where the deployed service answers: the first resource finds it, and every later one points to it. */
export interface Site {
  serviceSid: string;
  environmentSid: string;
  /** the environment's domain suffix ('' for production) */
  suffix: string;
  host: string;
  scheme: 'http' | 'https';
  baseUrl: string;
}

/** What the resources share while the plan is made and applied. */
export interface Context {
  v: Vendors;
  env: EnvValues;
  opts: WiringOptions;
  /** values setup writes to .env once it applied (a resource's apply may add the SID it created) */
  envUpdates: EnvValues;
  site: Site;
  /** the account's Messaging Services, and ours (its SID once setup created it) */
  messaging: { services: Array<{ sid: string }>; sid?: string; useInboundWebhookOnNumber?: boolean };
  /** what the planned changes produce that the deployed variables must get (a created service's SID) */
  produced: string[];
}

/** One line of the plan, before the planner gives it its resource's apply. */
export interface Finding extends Omit<Item, 'apply'> {
  /** the change setup makes for it, passed to the resource's apply */
  change?: string;
  /** values written to .env whatever is applied (a SID found, a secret generated) */
  remember?: EnvValues;
  /** what the change produces that the deployed variables need */
  produces?: string;
  /** nothing after it can be planned (no deployed service to point at) */
  halt?: boolean;
}

export interface Resource<S> {
  /** what it is (for the reader of the table) */
  about: string;
  /** whether the plan looks at it with these options (default: always) */
  wanted?: (ctx: Context) => boolean;
  /** what is there (nothing is written while the plan is made) */
  read: (ctx: Context) => Promise<S>;
  /** what is there against what the service needs */
  compare: (ctx: Context, state: S) => Finding[];
  /** makes a finding's change */
  apply?: (ctx: Context, state: S, change: string) => Promise<void>;
}

/** A resource as the planner runs it: its state kept inside, so the table holds resources of any state. */
export interface Planned {
  about: string;
  plan: (ctx: Context) => Promise<{ items: Item[]; halt: boolean }>;
}

export function resource<S>(r: Resource<S>): Planned {
  return {
    about: r.about,
    plan: async (ctx) => {
      if (r.wanted && !r.wanted(ctx)) return { items: [], halt: false };
      const state = await r.read(ctx);
      const items: Item[] = [];
      let halt = false;
      for (const { change, remember, produces, halt: stops, ...item } of r.compare(ctx, state)) {
        Object.assign(ctx.envUpdates, remember);
        if (produces) ctx.produced.push(produces);
        const apply = r.apply;
        items.push(change !== undefined && apply ? { ...item, apply: () => apply(ctx, state, change) } : item);
        halt ||= Boolean(stops);
      }
      return { items, halt };
    },
  };
}

/** What creating a service produces for the deployed variables (one line however many are created). */
export const SERVICE_CREATED = 'the SIDs of the services created above';

/** A service SID in .env that names no service of the account: a person decides (setup never guesses). */
export const unknownSid = (service: string, variable: string, sid: string, prefix: string): Finding => ({
  resource: `${service} ${sid}`,
  status: 'problem',
  detail: `${variable} names a service this account does not have`,
  fix: `unset ${variable} in .env to let setup create one, or set it to an existing ${prefix}… SID`,
});

/** A vendor's answer, or an error naming the vendor (what setup prints). */
export async function fromVendor<T>(vendor: string, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (err) {
    throw vendorError(vendor, err);
  }
}
export const fromTwilio = <T>(what: () => Promise<T>) => fromVendor('Twilio', what);

/** A variable's value as it will be once setup applied: its update, else .env's, else ''. */
export const settingOf = (ctx: Context, key: string) => ctx.envUpdates[key] ?? ctx.env[key] ?? '';
