import { describe, expect, it } from "vitest";
import { checkRunAgainstSlo, findMaxConcurrency } from "../../../src/bench/capacity.js";
import { RunRecorder } from "../../../src/bench/recorder.js";
import type { RunSummary } from "../../../src/bench/types.js";

/** A run whose p95 ITL is `itl` ms (and TTFT 10 ms), with `failed` of 100 requests failed. */
function fakeRun(itl: number, failed = 0): RunSummary {
  const run = new RunRecorder(1, undefined).summarize();
  const dist = (v: number) => ({
    ...run.itl,
    count: 100,
    mean: v,
    p50: v,
    p90: v,
    p95: v,
    p99: v,
    min: v,
    max: v,
  });
  return {
    ...run,
    requests: 100,
    completed: 100 - failed,
    failed,
    itl: dist(itl),
    ttft: dist(10),
    ttftFromIntended: dist(10),
    e2e: dist(100),
    e2eFromIntended: dist(100),
  };
}

/** A server whose p95 ITL is 1 ms per concurrent request: the SLO itl <= limit holds up to c = limit. */
function fakeServer(limit: number, flaky: (c: number, trial: number) => boolean = () => false) {
  const calls: [number, number][] = [];
  return {
    calls,
    runTrial: async (c: number, trial: number): Promise<RunSummary> => {
      calls.push([c, trial]);
      return fakeRun(flaky(c, trial) ? limit + 100 : c * (1 - 1e-9) + (c > limit ? 1 : 0));
    },
  };
}

describe("checkRunAgainstSlo", () => {
  it("checks each objective at the percentile, and errors above 1%", () => {
    expect(checkRunAgainstSlo(fakeRun(40), { itlMs: 50 }, 95)).toEqual({ passed: true, violations: [] });
    expect(checkRunAgainstSlo(fakeRun(60), { itlMs: 50, ttftMs: 5 }, 95).violations).toEqual([
      "p95 ttft 10.0 ms > 5 ms",
      "p95 itl 60.0 ms > 50 ms",
    ]);
    expect(checkRunAgainstSlo(fakeRun(1, 2), { itlMs: 50 }, 99).violations).toEqual(["error rate 2.0% > 1%"]);
    expect(checkRunAgainstSlo(fakeRun(1, 1), { itlMs: 50 }, 99).passed).toBe(true);
  });
});

describe("findMaxConcurrency: doubling, then bisection, majority of trials", () => {
  it.each([1, 2, 3, 37, 64, 100, 255])(
    "finds the largest passing concurrency (%i) in 1..256",
    async (limit) => {
      const server = fakeServer(limit);
      const result = await findMaxConcurrency({
        min: 1,
        max: 256,
        trials: 3,
        slo: { itlMs: limit },
        percentile: 95,
        ...server,
      });
      expect(result.maxConcurrency).toBe(limit);
      expect(result.limitedByUpperBound).toBe(false);
      // Each concurrency is probed once, with two trials when both agree (the majority of three is decided).
      const probed = result.probes.map((p) => p.concurrency);
      expect(new Set(probed).size).toBe(probed.length);
      expect(result.probes.every((p) => p.trials.length === 2)).toBe(true);
      expect(server.calls.length).toBe(2 * probed.length);
      // Doubling then bisection: logarithmic, not linear.
      expect(probed.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(256)) + 1);
      expect(result.probes.find((p) => p.concurrency === limit)?.passed).toBe(true);
      if (limit < 256) expect(result.probes.find((p) => p.concurrency === limit + 1)?.passed).toBe(false);
    },
  );

  it("says so when the upper bound passes, and gives null when the lower bound fails", async () => {
    const up = await findMaxConcurrency({
      min: 1,
      max: 16,
      trials: 3,
      slo: { itlMs: 50 },
      percentile: 95,
      ...fakeServer(50),
    });
    expect(up).toMatchObject({ maxConcurrency: 16, limitedByUpperBound: true, bounds: [1, 16] });
    const none = await findMaxConcurrency({
      min: 4,
      max: 16,
      trials: 3,
      slo: { itlMs: 2 },
      percentile: 95,
      ...fakeServer(2),
    });
    expect(none.maxConcurrency).toBeNull();
    expect(none.probes.map((p) => p.concurrency)).toEqual([4]);
  });

  it("decides each probe by the majority of trials: one bad trial in three does not fail it", async () => {
    const server = fakeServer(20, (_c, trial) => trial === 1);
    const result = await findMaxConcurrency({
      min: 1,
      max: 64,
      trials: 3,
      slo: { itlMs: 20 },
      percentile: 95,
      ...server,
    });
    expect(result.maxConcurrency).toBe(20);
    // Passing probes needed the third trial; failing ones were decided after two failures.
    for (const p of result.probes) expect(p.trials.length, `c=${p.concurrency}`).toBe(p.passed ? 3 : 2);
    expect(result.probes.every((p) => p.trials[0]?.passed === false)).toBe(true);
  });

  it("stops when aborted", async () => {
    const server = fakeServer(100);
    let probes = 0;
    const result = await findMaxConcurrency({
      min: 1,
      max: 256,
      trials: 1,
      slo: { itlMs: 100 },
      percentile: 95,
      runTrial: (c, t) => {
        probes++;
        return server.runTrial(c, t);
      },
      isAborted: () => probes >= 3,
    });
    expect(probes).toBe(3);
    expect(result.maxConcurrency).toBe(4);
  });
});
