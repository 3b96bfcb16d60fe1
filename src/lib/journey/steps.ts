/**
 * A journey's steps and their state machine: a step only moves forward, and
 * a completed or canceled step never moves again, so late, repeated or
 * reordered callbacks leave the record as the first one did.
 */
import type { Channel } from '../channel-list';
import type { Band } from '../routing/bands';

export type StepStatus = 'PENDING' | 'SCHEDULED' | 'SENT' | 'DELIVERED' | 'COMPLETED' | 'FAILED' | 'CANCELED';

export interface Step {
  channel: Channel;
  status: StepStatus;
  providerId?: string;
  /** ISO time the step is due (scheduled steps) */
  scheduledAt?: string;
  /** SendGrid batch id of a scheduled email */
  batchId?: string;
  error?: string;
  updatedAt: string;
  /** set when an outright failure of `escalatedFrom` moved the journey on to this step */
  escalatedFrom?: Channel;
  escalatedAt?: string;
  cause?: string;
  /** the band of the user's local day it went out (or is due) in: where its evidence is counted */
  band?: Band;
  /** a delivery (or an answered call) was reported: counted once in /insights, whatever the status by then */
  delivered?: true;
  /** what the step is expected to cost, estimated before it went out (costs/estimate.ts; unknown: none) */
  cost?: number;
  /**
   * A later step its provider could not take for its time during an outage (past /notify's retries):
   * listed in the outbox, and scheduled (or sent when due) by recovery (app/journey/progress.ts).
   */
  unscheduled?: true;
  /** when a recovery sweep claimed scheduling it (another takes it over once stale) */
  schedulingAt?: string;
}

/** Open: not sent yet, so it can still be canceled or escalated to. */
export const isOpen = (step: Step) => step.status === 'PENDING' || step.status === 'SCHEDULED';

/** Status order: a late or repeated callback never moves a step backwards. */
const RANK: Record<StepStatus, number> = {
  PENDING: 0,
  SCHEDULED: 1,
  SENT: 2,
  DELIVERED: 3,
  FAILED: 4,
  COMPLETED: 5,
  CANCELED: 5,
};

/** Moves `step` to `status` if that is forward; answers whether it moved. */
export function advance(step: Step, status: StepStatus, at: string, error?: string): boolean {
  if (step.status === 'COMPLETED' || step.status === 'CANCELED') return false;
  if (RANK[status] <= RANK[step.status]) return false;
  step.status = status;
  step.updatedAt = at;
  if (error) step.error = error;
  return true;
}

/** A step as every answer shows it (/notify, /notification, /cancel). */
export function stepView(s: Step) {
  return {
    channel: s.channel,
    status: s.status,
    providerId: s.providerId ?? null,
    scheduledAt: s.scheduledAt ?? null,
    updatedAt: s.updatedAt,
    error: s.error ?? null,
    escalatedFrom: s.escalatedFrom ?? null,
    cause: s.cause ?? null,
    cost: s.cost ?? null,
  };
}
