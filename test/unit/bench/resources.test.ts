import { afterEach, describe, expect, it } from "vitest";
import { formatProgress } from "../../../src/bench/progress.js";
import {
  GpuSnapshotParser,
  ResourceSampler,
  readProcessRssMiB,
  type GpuSnapshot,
} from "../../../src/bench/resources.js";
import { pathWithFakeNvidiaSmi } from "../../helpers/fake-nvidia-smi.js";

const savedEnv = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
});

describe("resources", () => {
  it("groups nvidia-smi lines (count, index, memory, utilisation) into one snapshot per moment", () => {
    const parser = new GpuSnapshotParser();
    const snapshots = "2, 0, 1234, 56\n2, 1, 80000 , 100\n[N/A], 0, 3, 3\n\n2, 0, 7, [N/A]\n2, 1, 8, [N/A]\n"
      .split("\n")
      .map((line) => parser.push(line))
      .filter((s): s is GpuSnapshot => s !== undefined);
    expect(snapshots).toEqual([
      { memoryUsedMiB: 81234, utilizationPercent: 78, gpus: 2 },
      { memoryUsedMiB: 15, utilizationPercent: Number.NaN, gpus: 2 },
    ]);
    // a GPU that drops out: the index starting over ends the snapshot
    const one = new GpuSnapshotParser();
    expect(one.push("2, 0, 10, 1")).toBeUndefined();
    expect(one.push("2, 0, 20, 1")).toEqual({ memoryUsedMiB: 10, utilizationPercent: 1, gpus: 1 });
  });

  it("samples GPUs from an nvidia-smi that answers slowly (memory summed over GPUs)", async () => {
    process.env.PATH = pathWithFakeNvidiaSmi();
    process.env.FAKE_NVIDIA_SMI_GPUS = "2";
    process.env.FAKE_NVIDIA_SMI_USED_MIB = "1500";
    process.env.FAKE_NVIDIA_SMI_DELAY_MS = "100";
    const sampler = new ResourceSampler({ sampleGpu: true, serverPid: undefined, intervalMs: 20 });
    sampler.start();
    await new Promise((r) => setTimeout(r, 1500));
    const report = sampler.stop();
    if (report.gpu === "no GPU") throw new Error("no GPU sampled");
    expect(report.gpu.memoryUsedMiB.peak).toBe(3000);
    expect(report.gpu.memoryUsedMiB.samples).toBeGreaterThanOrEqual(2);
    expect(report.gpu.utilizationPercent.mean).toBe(37);
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
