import { describe, expect, it } from "vitest";
import { formatProgress } from "../../../src/bench/progress.js";
import { ResourceSampler, parseNvidiaSmiLines, readProcessRssMiB } from "../../../src/bench/resources.js";

describe("resources", () => {
  it("parses nvidia-smi CSV lines (one per GPU per sample), skipping [N/A] and blank lines", () => {
    expect(parseNvidiaSmiLines("1234, 56\n  80000 , 100\n[N/A], 3\n\n7, [N/A]\n")).toEqual([
      { memoryUsedMiB: 1234, utilizationPercent: 56 },
      { memoryUsedMiB: 80000, utilizationPercent: 100 },
    ]);
  });

  it("reads a process's resident memory, and nothing for a process that does not exist", () => {
    const rss = readProcessRssMiB(process.pid);
    expect(rss).toBeGreaterThan(10);
    expect(rss).toBeLessThan(process.memoryUsage.rss() / 1048576 + 50);
    expect(readProcessRssMiB(2 ** 30)).toBeUndefined();
  });

  it("samples a server process's RSS; no GPU when nvidia-smi is not asked for", async () => {
    const sampler = new ResourceSampler({ sampleGpu: false, serverPid: process.pid, intervalMs: 20 });
    sampler.start();
    await new Promise((r) => setTimeout(r, 90));
    const report = sampler.stop();
    expect(report.gpu).toBe("no GPU");
    expect(report.serverRssMiB?.samples).toBeGreaterThanOrEqual(3);
    expect(report.serverRssMiB?.peak).toBeGreaterThanOrEqual(report.serverRssMiB?.mean ?? Infinity);
    expect(report.harnessPeakRssMiB).toBeGreaterThan(10);
  });
});

describe("formatProgress", () => {
  it("shows level, run, phase, done/total, errors, tok/s, elapsed and time left", () => {
    expect(
      formatProgress({
        level: "c=4",
        run: 2,
        runs: 3,
        phase: "measure",
        done: 10,
        total: 40,
        errors: 1,
        tokensPerSecond: 512.4,
        elapsedS: 3.25,
        remainingS: 9.7,
      }),
    ).toBe("c=4 run 2/3 measure: 10/40 done, 1 errors, 512 tok/s, 3.3s, ~10s left");
    expect(
      formatProgress({
        level: "rate=5",
        run: 1,
        runs: 1,
        phase: "warmup",
        done: 0,
        total: undefined,
        errors: 0,
        tokensPerSecond: 0,
        elapsedS: 0,
        remainingS: undefined,
      }),
    ).toBe("rate=5 run 1/1 warmup: 0 done, 0 errors, 0 tok/s, 0.0s");
  });
});
