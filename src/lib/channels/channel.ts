/** The three channels, in the upper-case form Segment's computed trait holds. */
export const CHANNELS = ['SMS', 'CALL', 'EMAIL'] as const;
export type Channel = (typeof CHANNELS)[number];

export function parseChannel(value: unknown): Channel | undefined {
  if (typeof value !== 'string') return undefined;
  const upper = value.trim().toUpperCase();
  return (CHANNELS as readonly string[]).includes(upper) ? (upper as Channel) : undefined;
}
