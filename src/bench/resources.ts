/**
 * Resource sampling during a run: GPU memory and utilisation from `nvidia-smi -lms 500` where it exists,
 * and the resident memory of a local server process from /proc/<pid>/status.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { summarizeValues } from "./stats.js";

/** One nvidia-smi line: per GPU, memory used (MiB) and utilisation (%). */
export interface GpuSample {
  memoryUsedMiB: number;
  utilizationPercent: number;
}

/**
 * Parse output of `nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits`: one line
 * per GPU per sample, `1234, 56`. Lines that do not parse (`[N/A]`, blank) are skipped.
 */
export function parseNvidiaSmiLines(text: string): GpuSample[] {
  const samples: GpuSample[] = [];
  for (const line of text.split("\n")) {
    const parts = line.split(",").map((s) => s.trim());
    if (parts.length < 2) continue;
    const mem = Number(parts[0]);
    const util = Number(parts[1]);
    if (parts[0] === "" || parts[1] === "" || !Number.isFinite(mem) || !Number.isFinite(util)) continue;
    samples.push({ memoryUsedMiB: mem, utilizationPercent: util });
  }
  return samples;
}

/** Read VmRSS of a process in MiB, or undefined when it cannot be read. */
export function readProcessRssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB/mu.exec(status);
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

export interface PeakMean {
  peak: number;
  mean: number;
  samples: number;
}

/** What was sampled during the run. */
export interface ResourceReport {
  /** "no GPU" when nvidia-smi is absent or failed; otherwise peak/mean over samples (all GPUs summed for memory). */
  gpu: { memoryUsedMiB: PeakMean; utilizationPercent: PeakMean } | "no GPU";
  /** Resident memory of --server-pid, or null when not asked for / unreadable. */
  serverRssMiB: PeakMean | null;
  /** The bench process's own peak resident memory (MiB). */
  harnessPeakRssMiB: number;
}

function peakMean(values: number[]): PeakMean {
  const d = summarizeValues(values);
  return { peak: d.max, mean: d.mean, samples: d.count };
}

export interface ResourceSamplerOptions {
  sampleGpu: boolean;
  serverPid: number | undefined;
  intervalMs?: number;
}

/** Samples resources until `stop()`. */
export class ResourceSampler {
  private gpuText = "";
  private gpuFailed = false;
  private child: ChildProcess | undefined;
  private readonly rss: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private harnessPeak = 0;

  constructor(private readonly options: ResourceSamplerOptions) {}

  start(): void {
    const interval = this.options.intervalMs ?? 500;
    if (this.options.sampleGpu) {
      try {
        const child = spawn(
          "nvidia-smi",
          [
            "--query-gpu=memory.used,utilization.gpu",
            "--format=csv,noheader,nounits",
            `-lms`,
            String(interval),
          ],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        child.on("error", () => {
          this.gpuFailed = true;
        });
        child.stdout?.on("data", (d: Buffer) => {
          if (this.gpuText.length < 4_000_000) this.gpuText += d.toString("utf8");
        });
        this.child = child;
      } catch {
        this.gpuFailed = true;
      }
    } else this.gpuFailed = true;
    const sample = (): void => {
      if (this.options.serverPid !== undefined) {
        const v = readProcessRssMiB(this.options.serverPid);
        if (v !== undefined) this.rss.push(v);
      }
      this.harnessPeak = Math.max(this.harnessPeak, process.memoryUsage.rss() / 1048576);
    };
    sample();
    this.timer = setInterval(sample, interval);
    this.timer.unref();
  }

  stop(): ResourceReport {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill("SIGTERM");
    return this.report();
  }

  /** What was sampled so far (sampling goes on). */
  report(): ResourceReport {
    this.harnessPeak = Math.max(this.harnessPeak, process.memoryUsage.rss() / 1048576);
    const samples = this.gpuFailed ? [] : parseNvidiaSmiLines(this.gpuText);
    return {
      gpu:
        samples.length === 0
          ? "no GPU"
          : {
              memoryUsedMiB: peakMean(samples.map((s) => s.memoryUsedMiB)),
              utilizationPercent: peakMean(samples.map((s) => s.utilizationPercent)),
            },
      serverRssMiB: this.rss.length === 0 ? null : peakMean(this.rss),
      harnessPeakRssMiB: this.harnessPeak,
    };
  }
}
