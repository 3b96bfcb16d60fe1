/**
 * The experiment: which users the learner routes and which a baseline routes
 * (the holdout), and which group each notification is counted in.
 *
 * A user's bucket is a hash of the user id in [0, 100): the holdout is the
 * users below HOLDOUT_PERCENT. The same user always falls in the same bucket,
 * so the group never changes while the percentage stays the same, and raising
 * the percentage only moves users from learned to holdout, never back.
 *
 * A notification is counted in its user's group unless the request chose its
 * channels itself (an explicit `channel`: override) or is an escalation: those
 * are routed differently from both arms and would blur the comparison, so
 * they are counted apart.
 */
import { createHash } from 'node:crypto';

/** The experiment's settings (the configuration's ROUTING_POLICY and HOLDOUT_PERCENT; a Config fits). */
export interface Experiment {
  routingPolicy: 'learned' | 'trait';
  holdoutPercent: number;
}

export type Group = 'learned' | 'holdout' | 'trait' | 'override' | 'escalation';
export const GROUPS: readonly Group[] = ['learned', 'holdout', 'trait', 'override', 'escalation'];

/** The user's bucket, 0 ≤ bucket < 100, in hundredths. */
export function bucketOf(userId: string): number {
  return (createHash('sha256').update(`holdout:${userId}`).digest().readUInt32BE(0) % 10_000) / 100;
}

export const inHoldout = (userId: string, config: Experiment) =>
  config.routingPolicy === 'learned' && config.holdoutPercent > 0 && bucketOf(userId) < config.holdoutPercent;

/** How a notification is counted, and how its first channel is routed. */
export interface Assignment {
  group: Group;
  /** the user is in the holdout (routed by the baseline whatever the group) */
  holdout: boolean;
}

export function assign(
  input: { userId: string; channel?: unknown; escalation?: unknown },
  config: Experiment,
): Assignment {
  const holdout = inHoldout(input.userId, config);
  const arm: Group = holdout ? 'holdout' : config.routingPolicy === 'learned' ? 'learned' : 'trait';
  const group: Group = input.escalation ? 'escalation' : input.channel ? 'override' : arm;
  return { group, holdout };
}

/** What every Segment event of a notification carries, so that Segment users can build the same report. */
export function groupProperties(a: Assignment & { policy?: string }): Record<string, unknown> {
  return { group: a.group, ...(a.policy ? { policy: a.policy } : {}), ...(a.holdout ? { holdout: true } : {}) };
}
