import { describe, expect, it } from "vitest";
import {
  LatencyHistogram,
  NumberSeries,
  aggregateRuns,
  computePercentile,
  summarizeValues,
} from "../../../src/bench/stats.js";

describe("computePercentile", () => {
  it("interpolates linearly between ranks, as numpy does", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(computePercentile(sorted, 0)).toBe(1);
    expect(computePercentile(sorted, 100)).toBe(10);
    expect(computePercentile(sorted, 50)).toBeCloseTo(5.5, 12);
    expect(computePercentile(sorted, 90)).toBeCloseTo(9.1, 12);
    expect(computePercentile(sorted, 99)).toBeCloseTo(9.91, 12);
    expect(computePercentile([42], 99)).toBe(42);
    expect(computePercentile([], 50)).toBe(0);
  });
});

describe("summarizeValues", () => {
  it("gives count, mean, sample std, min, max and p50/p90/p95/p99 without touching the input", () => {
    const values = [10, 2, 8, 4, 6];
    const d = summarizeValues(values);
    expect(values).toEqual([10, 2, 8, 4, 6]);
    expect(d.count).toBe(5);
    expect(d.mean).toBe(6);
    expect(d.std).toBeCloseTo(Math.sqrt(10), 12); // squares 16+4+0+4+16 = 40, / (n-1)
    expect(d).toMatchObject({ min: 2, max: 10, p50: 6 });
    expect(d.p90).toBeCloseTo(9.2, 12);
    expect(d.p95).toBeCloseTo(9.6, 12);
    expect(d.p99).toBeCloseTo(9.92, 12);
  });

  it("sorts numerically (not as strings) and handles one and zero values", () => {
    expect(summarizeValues([100, 9, 20]).p50).toBe(20);
    expect(summarizeValues([3])).toMatchObject({ count: 1, mean: 3, std: 0, p99: 3 });
    expect(summarizeValues([])).toEqual({
      count: 0,
      mean: 0,
      std: 0,
      min: 0,
      max: 0,
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
    });
  });
});

describe("NumberSeries", () => {
  it("grows past its initial capacity and keeps order", () => {
    const s = new NumberSeries();
    for (let i = 0; i < 1000; i++) s.push(i);
    expect(s.length).toBe(1000);
    expect(s.values()[999]).toBe(999);
    expect(summarizeValues(s.values()).mean).toBe(499.5);
  });
});

describe("LatencyHistogram", () => {
  it("has exact mean/std/min/max and percentiles within half a bin of the exact nearest rank", () => {
    const h = new LatencyHistogram();
    const values: number[] = [];
    let x = 7;
    for (let i = 0; i < 5000; i++) {
      x = (x * 48271) % 2147483647;
      const v = (x % 100_000) / 1000; // 0..100 ms
      values.push(v);
      h.record(v);
    }
    h.record(70_000); // beyond the binned range: kept exactly
    values.push(70_000);
    const exact = summarizeValues(values);
    const d = h.summarize();
    expect(d.count).toBe(values.length);
    expect(d.mean).toBeCloseTo(exact.mean, 9);
    expect(d.std).toBeCloseTo(exact.std, 6);
    expect(d.min).toBe(exact.min);
    expect(d.max).toBe(70_000);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [50, 90, 95, 99]) {
      const nearestRank = sorted[Math.ceil((q / 100) * sorted.length) - 1] as number;
      expect(Math.abs(h.percentile(q) - nearestRank)).toBeLessThanOrEqual(0.005 + 1e-9);
    }
    expect(h.percentile(100)).toBe(70_000);
  });

  it("summarizes nothing as zeros and clamps negative values to 0", () => {
    expect(new LatencyHistogram().summarize().count).toBe(0);
    const h = new LatencyHistogram();
    h.record(-1);
    expect(h.summarize()).toMatchObject({ count: 1, min: 0, max: 0, p50: 0 });
  });
});

describe("aggregateRuns (mean ± std over runs, IQR outliers trimmed)", () => {
  it("drops values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] once there are at least four runs", () => {
    // Q1 = 10.25, Q3 = 11.75, IQR = 1.5: the fence is [8, 14]; 100 is out.
    const a = aggregateRuns([10, 11, 12, 10, 11, 12, 100]);
    expect(a).toMatchObject({ n: 6, trimmed: 1 });
    expect(a.mean).toBeCloseTo(11, 12);
    expect(a.std).toBeCloseTo(Math.sqrt(4 / 5), 12);
    expect(aggregateRuns([1, 50, 51, 52, 53])).toMatchObject({ n: 4, trimmed: 1, mean: 51.5 });
  });

  it("keeps every value with fewer than four runs, and when none is an outlier", () => {
    expect(aggregateRuns([1, 2, 300])).toMatchObject({ n: 3, trimmed: 0, mean: 101 });
    expect(aggregateRuns([5, 6, 7, 8])).toMatchObject({ n: 4, trimmed: 0, mean: 6.5 });
    expect(aggregateRuns([4])).toEqual({ mean: 4, std: 0, n: 1, trimmed: 0 });
  });

  it("leaves out non-finite values (a run without that figure)", () => {
    expect(aggregateRuns([NaN, 2, 4])).toMatchObject({ n: 2, mean: 3 });
    expect(aggregateRuns([NaN, Infinity])).toEqual({ mean: 0, std: 0, n: 0, trimmed: 0 });
  });
});
