/**
 * 95 % intervals for engagement rates and the lift between two groups (pure).
 *   rate        Wilson score interval (good at small counts and rates near 0 or 1, unlike p ± 1.96·SE)
 *   difference  Newcombe's hybrid score interval (method 10), built from the two Wilson intervals
 *   ratio       Katz's log interval, with ½ added to every cell when a count is zero
 */
const Z = 1.959963984540054;

export interface Rate {
  rate: number;
  /** 95 % interval [low, high] */
  interval: [number, number];
}

export function wilson(k: number, n: number): Rate | null {
  if (n <= 0) return null;
  const p = k / n;
  const z2 = Z * Z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { rate: p, interval: [Math.max(0, centre - half), Math.min(1, centre + half)] };
}

export interface Lift {
  /** p₁ − p₂, with its 95 % interval */
  difference: number;
  differenceInterval: [number, number];
  /** p₁ / p₂, with its 95 % interval (null when the baseline engaged nobody and nobody engaged at all) */
  ratio: number | null;
  ratioInterval: [number, number] | null;
}

/** The lift of group 1 (k1 of n1) over group 2 (k2 of n2); null until both have notifications. */
export function lift(k1: number, n1: number, k2: number, n2: number): Lift | null {
  const a = wilson(k1, n1);
  const b = wilson(k2, n2);
  if (!a || !b) return null;
  const d = a.rate - b.rate;
  const low = d - Math.sqrt((a.rate - a.interval[0]) ** 2 + (b.interval[1] - b.rate) ** 2);
  const high = d + Math.sqrt((a.interval[1] - a.rate) ** 2 + (b.rate - b.interval[0]) ** 2);
  let ratio: number | null = null;
  let ratioInterval: [number, number] | null = null;
  if (k1 + k2 > 0) {
    const zero = k1 === 0 || k2 === 0;
    const [x1, m1, x2, m2] = zero ? [k1 + 0.5, n1 + 0.5, k2 + 0.5, n2 + 0.5] : [k1, n1, k2, n2];
    const rr = x1 / m1 / (x2 / m2);
    const se = Math.sqrt(1 / x1 - 1 / m1 + 1 / x2 - 1 / m2);
    ratio = k2 > 0 ? a.rate / b.rate : rr;
    ratioInterval = [rr * Math.exp(-Z * se), rr * Math.exp(Z * se)];
  }
  return { difference: d, differenceInterval: [low, high], ratio, ratioInterval };
}
