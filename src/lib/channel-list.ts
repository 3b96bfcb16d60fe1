/**
 * The one list of channels, in the upper-case form Segment's computed trait holds. Every channel fact
 * (the learner's keys and kinds, the tallies, the sandbox's dashboard) is derived from it. A new
 * channel is appended: stored tallies place counts by this order (insights/tally.ts).
 */
export const CHANNELS = ['SMS', 'CALL', 'EMAIL'] as const;
export type Channel = (typeof CHANNELS)[number];

export function parseChannel(value: unknown): Channel | undefined {
  if (typeof value !== 'string') return undefined;
  const upper = value.trim().toUpperCase();
  return (CHANNELS as readonly string[]).includes(upper) ? (upper as Channel) : undefined;
}
