/** Statistics for bench results: distributions, a fine fixed-width histogram and run-to-run aggregates. */

/** Summary of a set of values (milliseconds or counts). Empty sets give count 0 and NaN-free zeros. */
export interface Distribution {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

/** Percentiles reported everywhere. */
export const reportedPercentiles = [50, 90, 95, 99] as const;

const emptyDistribution: Distribution = {
  count: 0,
  mean: 0,
  std: 0,
  min: 0,
  max: 0,
  p50: 0,
  p90: 0,
  p95: 0,
  p99: 0,
};

/** The q-th percentile (0..100) of sorted values by linear interpolation (numpy's default). */
export function computePercentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const pos = ((n - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** Summarize values (which are not modified). Standard deviation is the sample one (n - 1). */
export function summarizeValues(values: ArrayLike<number>): Distribution {
  const n = values.length;
  if (n === 0) return { ...emptyDistribution };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] as number;
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += ((sorted[i] as number) - mean) ** 2;
  return {
    count: n,
    mean,
    std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
    min: sorted[0] as number,
    max: sorted[n - 1] as number,
    p50: computePercentile(sorted, 50),
    p90: computePercentile(sorted, 90),
    p95: computePercentile(sorted, 95),
    p99: computePercentile(sorted, 99),
  };
}

/** A growable Float64Array: per-request values without boxing. */
export class NumberSeries {
  private data = new Float64Array(256);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = value;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export interface HistogramOptions {
  /** Bin width in milliseconds (default 0.01, so percentiles are exact to 10 microseconds). */
  binWidth?: number;
  /** Upper edge of the binned range (default 60,000 ms); larger values are kept exactly in a list. */
  maxValue?: number;
}

/**
 * A fixed-width histogram for very many values (inter-token latencies: one per streamed token) in
 * constant memory. Mean, std, min and max are exact; percentiles are exact to half a bin width.
 */
export class LatencyHistogram {
  private readonly binWidth: number;
  private readonly bins: Uint32Array;
  private readonly overflow: number[] = [];
  count = 0;
  private sum = 0;
  private sumSq = 0;
  private min = Infinity;
  private max = -Infinity;

  constructor(options: HistogramOptions = {}) {
    this.binWidth = options.binWidth ?? 0.01;
    this.bins = new Uint32Array(Math.ceil((options.maxValue ?? 60_000) / this.binWidth));
  }

  record(value: number): void {
    const v = value < 0 ? 0 : value;
    this.count++;
    this.sum += v;
    this.sumSq += v * v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const bin = Math.floor(v / this.binWidth);
    if (bin < this.bins.length) this.bins[bin] = (this.bins[bin] as number) + 1;
    else this.overflow.push(v);
  }

  /** The q-th percentile (nearest rank), as the middle of its bin (clamped to [min, max]). */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((q / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i] as number;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, (i + 0.5) * this.binWidth));
    }
    const sorted = [...this.overflow].sort((a, b) => a - b);
    return sorted[rank - seen - 1] ?? this.max;
  }

  summarize(): Distribution {
    if (this.count === 0) return { ...emptyDistribution };
    const mean = this.sum / this.count;
    const variance =
      this.count > 1 ? Math.max(0, (this.sumSq - this.count * mean * mean) / (this.count - 1)) : 0;
    return {
      count: this.count,
      mean,
      std: Math.sqrt(variance),
      min: this.min,
      max: this.max,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
    };
  }
}

/** Mean and spread of one figure over repeated runs, after dropping outliers by the interquartile rule. */
export interface RunAggregate {
  mean: number;
  std: number;
  /** Runs kept after trimming. */
  n: number;
  /** Runs dropped as outliers (outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR]). */
  trimmed: number;
}

/** Aggregate one figure over runs: IQR outlier trimming (with at least 4 runs), then mean and sample std. */
export function aggregateRuns(values: readonly number[]): RunAggregate {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { mean: 0, std: 0, n: 0, trimmed: 0 };
  let kept = finite;
  if (finite.length >= 4) {
    const sorted = [...finite].sort((a, b) => a - b);
    const q1 = computePercentile(sorted, 25);
    const q3 = computePercentile(sorted, 75);
    const iqr = q3 - q1;
    kept = finite.filter((v) => v >= q1 - 1.5 * iqr && v <= q3 + 1.5 * iqr);
  }
  const d = summarizeValues(kept);
  return { mean: d.mean, std: d.std, n: kept.length, trimmed: finite.length - kept.length };
}
