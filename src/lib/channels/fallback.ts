/**
 * The fallback strategy (after notifme-sdk's): a small loop over the
 * channels routing offers, kept apart from the channel modules. The first
 * channel is tried; when its provider refuses this recipient the refusal is
 * remembered and routing is asked again without that channel, until a send
 * succeeds or routing has nothing left (and throws why).
 */
import type { Channel } from '../channel-list';
import { ChannelRefused } from './provider';

export interface FallbackResult<R, S> {
  choice: R;
  sent: S;
  /** the refusals met on the way, in order */
  refusals: ChannelRefused[];
}

export async function sendWithFallback<R extends { channel: Channel }, S>(opts: {
  /** the next choice, given the refusals so far (throws when nothing is left) */
  pick: (refusals: ChannelRefused[]) => R;
  send: (choice: R) => Promise<S>;
  /** false: a refusal is final (the caller asked for that channel) */
  fallback: boolean;
  onRefused?: (refusal: ChannelRefused) => void;
}): Promise<FallbackResult<R, S>> {
  const refusals: ChannelRefused[] = [];
  for (;;) {
    const choice = opts.pick(refusals);
    try {
      return { choice, sent: await opts.send(choice), refusals };
    } catch (err) {
      if (!(err instanceof ChannelRefused) || !opts.fallback) throw err;
      opts.onRefused?.(err);
      refusals.push(err);
    }
  }
}
