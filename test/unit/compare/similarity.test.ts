import { describe, expect, it } from "vitest";
import { computeChrf, computeCosineSimilarity } from "../../../src/compare/quality/similarity.js";
import { computeProportion, summarizeSample } from "../../../src/compare/quality/statistics.js";

describe("computeChrf (sacrebleu chrF2, char order 6, whitespace removed)", () => {
  it("is 100 for identical text and 0 when nothing matches or a side is empty", () => {
    expect(computeChrf("the answer is 42", "the answer is 42")).toBeCloseTo(100, 10);
    expect(computeChrf("abc", "xyz")).toBe(0);
    expect(computeChrf("", "abc")).toBe(0);
    expect(computeChrf("abc", "")).toBe(0);
  });

  it("matches a hand-derived value on 'abc' against 'abd'", () => {
    // n=1: 2 of 3 match (P=R=2/3); n=2: 1 of 2 (P=R=1/2); n=3: 0 of 1; n>=4: no n-grams, not counted.
    // P = R = (2/3 + 1/2 + 0) / 3 = 7/18, and F2 of equal P and R is P.
    expect(computeChrf("abc", "abd")).toBeCloseTo((100 * 7) / 18, 10);
  });

  it("weights recall twice as much as precision (beta = 2)", () => {
    // hyp "aab", ref "ab": n=1 P=2/3 R=1; n=2 P=1/2 R=1; n=3 the reference has no trigram, order not counted.
    // P = 7/12, R = 1, F2 = 5PR / (4P + R) = (35/12) / (40/12) = 0.875.
    expect(computeChrf("aab", "ab")).toBeCloseTo(87.5, 10);
    // swapped: P = 1, R = 7/12, F2 = 5PR / (4P + R) = (35/12) / (55/12) = 7/11.
    expect(computeChrf("ab", "aab")).toBeCloseTo((100 * 7) / 11, 10);
  });

  it("ignores whitespace unless asked to keep it, and counts code points", () => {
    expect(computeChrf("a b\tc\n", "abc")).toBeCloseTo(100, 10);
    expect(computeChrf("a b", "ab", { whitespace: true })).toBeLessThan(100);
    // "é" and "😀" are one character each: 'x😀' vs 'x😀' identical, 'x😀' vs 'x😁' shares only 'x'.
    // n=1 P=R=1/2, n=2 P=R=0 → 25.
    expect(computeChrf("x😀", "x😁")).toBeCloseTo(25, 10);
  });
});

describe("computeCosineSimilarity", () => {
  it("computes cosines and rejects vectors of different lengths", () => {
    expect(computeCosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(computeCosineSimilarity([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(computeCosineSimilarity([1, 1], [1, 0])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(computeCosineSimilarity([0, 0], [1, 0])).toBe(0);
    expect(() => computeCosineSimilarity([1], [1, 2])).toThrow(RangeError);
  });
});

describe("computeProportion (Wilson 95%)", () => {
  it("matches published Wilson intervals", () => {
    const p = computeProportion(8, 10);
    expect(p.value).toBe(0.8);
    expect(p.low).toBeCloseTo(0.4902, 4);
    expect(p.high).toBeCloseTo(0.9433, 4);
    const zero = computeProportion(0, 10);
    expect(zero.low).toBe(0);
    expect(zero.high).toBeCloseTo(0.2775, 4);
    expect(computeProportion(10, 10).high).toBe(1);
    expect(computeProportion(0, 0)).toEqual({ value: 0, low: 0, high: 1, successes: 0, n: 0 });
    expect(() => computeProportion(3, 2)).toThrow(RangeError);
  });
});

describe("summarizeSample", () => {
  it("gives interpolated percentiles and the sample standard deviation", () => {
    const s = summarizeSample([4, 1, 3, 2, 5]);
    expect(s).toMatchObject({ mean: 3, p50: 3, min: 1, max: 5, n: 5 });
    expect(s.p90).toBeCloseTo(4.6, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(summarizeSample([]).n).toBe(0);
  });
});
