import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { MemorySampler, readGpuMemoryUsed } from "../../../src/compare/server-process.js";
import { pathWithFakeNvidiaSmi } from "../../helpers/fake-nvidia-smi.js";

const MiB = 1024 * 1024;
const savedEnv = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
});

describe("MemorySampler", () => {
  it("reads GPU memory from an nvidia-smi that takes 400 ms per answer without blocking the event loop", async () => {
    const dir = await mkdtemp(join(tmpdir(), "servelab-smi-"));
    try {
      const usedFile = join(dir, "used");
      await writeFile(usedFile, "1500");
      process.env.PATH = pathWithFakeNvidiaSmi();
      process.env.FAKE_NVIDIA_SMI_USED_FILE = usedFile;
      process.env.FAKE_NVIDIA_SMI_DELAY_MS = "400";
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const baseline = await readGpuMemoryUsed();
      expect(baseline).toBe(1500 * MiB);
      const sampler = new MemorySampler({ pid: process.pid, gpuBaseline: baseline, intervalMs: 50 });
      sampler.start();
      await writeFile(usedFile, "3500");
      const fresh = await sampler.sampleFresh(5000);
      expect(fresh.gpu).toBe(2000 * MiB);
      expect(fresh.rss).toBeGreaterThan(10 * MiB);
      await writeFile(usedFile, "2500");
      await new Promise((r) => setTimeout(r, 1200));
      expect(sampler.sample().gpu).toBe(1000 * MiB);
      sampler.stop();
      loop.disable();
      expect(sampler.peakGpu).toBe(2000 * MiB);
      expect(sampler.peakRss).toBeGreaterThan(10 * MiB);
      // A synchronous nvidia-smi would have held the loop for 400 ms at every sample.
      expect(loop.max / 1e6).toBeLessThan(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("samples resident memory only when no GPU baseline is given", async () => {
    process.env.PATH = pathWithFakeNvidiaSmi();
    const sampler = new MemorySampler({ pid: process.pid, intervalMs: 20 });
    sampler.start();
    const now = await sampler.sampleFresh(100);
    sampler.stop();
    expect(now.gpu).toBeUndefined();
    expect(now.rss).toBeGreaterThan(10 * MiB);
    expect(sampler.peakGpu).toBe(0);
  });
});
