/**
 * The channel modules by name. Each is bound to its own address type here, so
 * callers that only know a channel name hand over the recipient's addresses
 * and the module takes the one it needs.
 */
import type { Config } from '../config';
import { callProvider } from './call';
import { CHANNEL_ADDRESS, type Channel } from '../channel-list';
import { emailProvider } from './email';
import {
  type Addresses,
  type CancelResult,
  type ChannelProvider,
  ChannelRefused,
  type ProviderDeps,
  type ScheduledCopy,
  type SendRequest,
  type Sent,
} from './provider';
import { smsProvider } from './sms';
import { whatsappProvider } from './whatsapp';

export interface ChannelOps {
  send(deps: ProviderDeps, to: Addresses, req: SendRequest): Promise<Sent>;
  cancel(deps: ProviderDeps, copy: ScheduledCopy): Promise<CancelResult | undefined>;
  cannotSchedule(at: Date, now: Date, config: Config): string | undefined;
  /** the earliest time the provider schedules (now, when it has no minimum) */
  earliestSchedule(now: Date): Date;
}

function bind<A>(provider: ChannelProvider<A>): ChannelOps {
  return {
    send: (deps, to, req) => {
      const address = provider.addressOf(to);
      if (!address) {
        const why = CHANNEL_ADDRESS[provider.channel].missing;
        return Promise.reject(new ChannelRefused(provider.channel, why, 'no-address', {}));
      }
      return provider.send(deps, address, req);
    },
    cancel: (deps, copy) => provider.cancel(deps, copy),
    cannotSchedule: (at, now, config) => provider.cannotSchedule(at, now, config),
    earliestSchedule: (now) => provider.earliestSchedule?.(now) ?? now,
  };
}

export const CHANNEL_OPS: Record<Channel, ChannelOps> = {
  SMS: bind(smsProvider),
  CALL: bind(callProvider),
  EMAIL: bind(emailProvider),
  WHATSAPP: bind(whatsappProvider),
};
