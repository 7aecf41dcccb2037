import { describe, expect, it } from "vitest";
import { createArrivalGaps, drawGamma } from "../../../src/bench/arrivals.js";
import { summarizeValues } from "../../../src/bench/stats.js";
import { createRandom } from "../../../src/bench/workloads.js";

function gaps(options: Parameters<typeof createArrivalGaps>[0], n: number, seed = 1): number[] {
  const next = createArrivalGaps(options, createRandom(seed));
  return Array.from({ length: n }, () => next());
}

describe("createArrivalGaps", () => {
  it("constant arrivals are exactly 1000/rate ms apart", () => {
    expect(new Set(gaps({ rate: 8, arrival: "constant", burstiness: 1 }, 100))).toEqual(new Set([125]));
  });

  it("Poisson arrivals: mean gap 1000/rate, coefficient of variation 1, memoryless tail", () => {
    const g = gaps({ rate: 20, arrival: "poisson", burstiness: 1 }, 20_000);
    const d = summarizeValues(g);
    expect(d.mean).toBeGreaterThan(50 * 0.97);
    expect(d.mean).toBeLessThan(50 * 1.03);
    expect(d.std / d.mean).toBeGreaterThan(0.95);
    expect(d.std / d.mean).toBeLessThan(1.05);
    // Exponential: P(gap > mean) = e^-1.
    const over = g.filter((v) => v > 50).length / g.length;
    expect(over).toBeGreaterThan(Math.exp(-1) - 0.02);
    expect(over).toBeLessThan(Math.exp(-1) + 0.02);
    expect(d.min).toBeGreaterThanOrEqual(0);
  });

  it("burstiness keeps the mean rate and sets the spread: CV = 1/sqrt(burstiness)", () => {
    for (const burstiness of [0.25, 4]) {
      const d = summarizeValues(gaps({ rate: 10, arrival: "poisson", burstiness }, 20_000));
      expect(d.mean, `burstiness ${burstiness}`).toBeGreaterThan(100 * 0.95);
      expect(d.mean, `burstiness ${burstiness}`).toBeLessThan(100 * 1.05);
      const cv = d.std / d.mean;
      expect(cv, `burstiness ${burstiness}`).toBeGreaterThan((1 / Math.sqrt(burstiness)) * 0.9);
      expect(cv, `burstiness ${burstiness}`).toBeLessThan((1 / Math.sqrt(burstiness)) * 1.1);
    }
  });

  it("is reproducible for a seed and differs between seeds", () => {
    const o = { rate: 5, arrival: "poisson" as const, burstiness: 1 };
    expect(gaps(o, 50, 7)).toEqual(gaps(o, 50, 7));
    expect(gaps(o, 50, 7)).not.toEqual(gaps(o, 50, 8));
  });
});

describe("drawGamma", () => {
  it("has mean = shape for shapes below and above 1", () => {
    const random = createRandom(3);
    for (const shape of [0.5, 2.5]) {
      const values = Array.from({ length: 20_000 }, () => drawGamma(shape, random));
      const d = summarizeValues(values);
      expect(d.mean).toBeGreaterThan(shape * 0.95);
      expect(d.mean).toBeLessThan(shape * 1.05);
      expect(d.std ** 2).toBeGreaterThan(shape * 0.9); // variance = shape
      expect(d.std ** 2).toBeLessThan(shape * 1.1);
    }
  });
});
