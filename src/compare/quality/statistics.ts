/** Small statistics for quality results: Wilson intervals for accuracies, summaries of samples. */

import type { Proportion, Summary } from "../types.js";

/** z for a two-sided 95% interval. */
const z95 = 1.959963984540054;

/**
 * A proportion with its Wilson score interval (95% by default). Unlike the normal approximation it
 * stays inside [0, 1] and is sensible at 0/n and n/n. With n = 0 the interval is [0, 1].
 */
export function computeProportion(successes: number, n: number, z = z95): Proportion {
  if (!Number.isInteger(successes) || !Number.isInteger(n) || successes < 0 || n < 0 || successes > n) {
    throw new RangeError(`need integers 0 <= successes <= n, got ${successes}/${n}`);
  }
  if (n === 0) return { value: 0, low: 0, high: 1, successes, n };
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At 0/n and n/n the bounds are exactly 0 and 1; floating point would give 1e-17 off.
  const low = successes === 0 ? 0 : Math.max(0, center - half);
  const high = successes === n ? 1 : Math.min(1, center + half);
  return { value: p, low, high, successes, n };
}

/** The q-quantile (0..1) of sorted values, linearly interpolated (numpy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  const high = sorted[above] as number;
  return low + (high - low) * (position - below);
}

/** Mean, percentiles, extremes and sample standard deviation of values (NaN fields when empty). */
export function summarizeSample(values: readonly number[]): Summary {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  const mean = n === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / n;
  const variance = n < 2 ? 0 : values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1);
  return {
    mean,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
    min: n === 0 ? Number.NaN : (sorted[0] as number),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
    std: n === 0 ? Number.NaN : Math.sqrt(variance),
    n,
  };
}
