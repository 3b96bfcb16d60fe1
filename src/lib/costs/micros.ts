/**
 * Costs are counted in millionths of the currency, as integers: finer than any price Twilio lists,
 * and totals of many sends add up exactly (the tally, /insights, a campaign's summary).
 */
export const MICROS = 1_000_000;

/** An amount in millionths (an integer). */
export const toMicros = (amount: number) => Math.round(amount * MICROS);

/** An amount rounded to a millionth of the currency. */
export const roundCost = (amount: number) => toMicros(amount) / MICROS;
