/**
 * The one list of channels, in the upper-case form Segment's computed trait holds. Every channel fact
 * (the learner's keys and kinds, the tallies, the sandbox's dashboard) is derived from it. A new
 * channel is appended: stored tallies place counts by this order (insights/tally.ts).
 */
export const CHANNELS = ['SMS', 'CALL', 'EMAIL', 'WHATSAPP'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The address a channel reaches a user at. */
export type AddressKind = 'phone' | 'email' | 'whatsapp';

/** What each channel needs of a recipient, and how its absence is said. */
export const CHANNEL_ADDRESS: Record<Channel, { kind: AddressKind; missing: string }> = {
  SMS: { kind: 'phone', missing: 'no phone number' },
  CALL: { kind: 'phone', missing: 'no phone number' },
  EMAIL: { kind: 'email', missing: 'no email address' },
  WHATSAPP: { kind: 'whatsapp', missing: 'no WhatsApp number' },
};

/** The profile trait that says a user opted out of a channel (`sms_opted_out`); calls have none. */
export const optOutTrait = (c: Channel): string | undefined =>
  c === 'CALL' ? undefined : `${c.toLowerCase()}_opted_out`;

export function parseChannel(value: unknown): Channel | undefined {
  if (typeof value !== 'string') return undefined;
  const upper = value.trim().toUpperCase();
  return (CHANNELS as readonly string[]).includes(upper) ? (upper as Channel) : undefined;
}
