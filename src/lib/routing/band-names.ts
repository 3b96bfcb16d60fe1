/**
 * The bands of a user's local day the learner counts engagement in (each six hours), named once:
 * the learner's population sums are keyed by channel and by channel@band, so the list of keys it
 * keeps is built from this list and the one list of channels, never written out.
 */
export const BANDS = ['night', 'morning', 'afternoon', 'evening'] as const;
export type Band = (typeof BANDS)[number];
