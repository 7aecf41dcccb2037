/**
 * Resource sampling during a run: GPU memory and utilisation from `nvidia-smi -lms 500` where it exists,
 * and the resident memory of a local server process from /proc/<pid>/status.
 *
 * nvidia-smi is always a child process read as its lines arrive, never waited for: one call takes tens to
 * hundreds of milliseconds, and the process that samples also times tokens.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { summarizeValues } from "./stats.js";

/** Every GPU at one moment of `nvidia-smi -lms`: memory summed over GPUs, utilisation averaged. */
export interface GpuSnapshot {
  memoryUsedMiB: number;
  /** NaN when no GPU reported it. */
  utilizationPercent: number;
  gpus: number;
}

const gpuQuery = "--query-gpu=count,index,memory.used,utilization.gpu";

/**
 * Groups lines of `nvidia-smi --query-gpu=count,index,memory.used,utilization.gpu` into snapshots: a
 * snapshot is complete when it holds `count` lines (or when the index starts over). Feed it lines as they
 * arrive; lines that do not parse are skipped.
 */
export class GpuSnapshotParser {
  private pending: Array<{ index: number; memory: number; utilization: number }> = [];

  /** Returns the snapshot this line completes, if any. */
  push(line: string): GpuSnapshot | undefined {
    const parts = line.split(",").map((s) => s.trim());
    if (parts.length < 4) return undefined;
    const [count, index, memory, utilization] = parts.map(Number) as [number, number, number, number];
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || !Number.isFinite(memory))
      return undefined;
    let done: GpuSnapshot | undefined;
    const last = this.pending.at(-1);
    if (last !== undefined && index <= last.index) done = this.flush();
    this.pending.push({ index, memory, utilization });
    if (this.pending.length >= count) done = this.flush();
    return done;
  }

  private flush(): GpuSnapshot | undefined {
    const lines = this.pending;
    this.pending = [];
    if (lines.length === 0) return undefined;
    const utilizations = lines.map((l) => l.utilization).filter(Number.isFinite);
    return {
      memoryUsedMiB: lines.reduce((sum, l) => sum + l.memory, 0),
      utilizationPercent:
        utilizations.length === 0
          ? Number.NaN
          : utilizations.reduce((a, b) => a + b, 0) / utilizations.length,
      gpus: lines.length,
    };
  }
}

/** Most snapshots a GpuMonitor keeps for its summary (over 8 hours at 500 ms). */
const maxSnapshots = 60_000;

export interface GpuMonitorOptions {
  /** Milliseconds between samples (nvidia-smi -lms). Default 500. */
  intervalMs?: number;
}

/**
 * GPU memory and utilisation from one long-running `nvidia-smi -lms` child, parsed as its lines arrive,
 * so sampling never blocks the event loop. `failed` when nvidia-smi is missing or exits before `stop()`
 * without a sample.
 */
export class GpuMonitor {
  private child: ChildProcess | undefined;
  private buffer = "";
  private readonly parser = new GpuSnapshotParser();
  private waiters: Array<(snapshot: GpuSnapshot | undefined) => void> = [];
  private ended = false;
  /** Snapshots so far (at most the first 60,000). */
  readonly snapshots: GpuSnapshot[] = [];
  /** The most recent snapshot. */
  latest: GpuSnapshot | undefined;
  /** Highest memory in use (MiB, summed over GPUs) of any snapshot. */
  peakMemoryUsedMiB = 0;
  failed = false;

  constructor(private readonly options: GpuMonitorOptions = {}) {}

  start(): void {
    const interval = this.options.intervalMs ?? 500;
    try {
      const child = spawn(
        "nvidia-smi",
        [gpuQuery, "--format=csv,noheader,nounits", "-lms", String(Math.max(1, Math.round(interval)))],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      child.on("error", () => {
        this.failed = true;
        this.end();
      });
      child.on("exit", () => {
        if (this.latest === undefined) this.failed = true;
        this.end();
      });
      child.stdout?.on("data", (data: Buffer) => this.receive(data.toString("utf8")));
      this.child = child;
    } catch {
      this.failed = true;
      this.end();
    }
  }

  private receive(text: string): void {
    this.buffer += text;
    let newline = this.buffer.indexOf("\n");
    while (newline >= 0) {
      const snapshot = this.parser.push(this.buffer.slice(0, newline));
      this.buffer = this.buffer.slice(newline + 1);
      if (snapshot !== undefined) this.record(snapshot);
      newline = this.buffer.indexOf("\n");
    }
  }

  private record(snapshot: GpuSnapshot): void {
    this.latest = snapshot;
    this.peakMemoryUsedMiB = Math.max(this.peakMemoryUsedMiB, snapshot.memoryUsedMiB);
    if (this.snapshots.length < maxSnapshots) this.snapshots.push(snapshot);
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(snapshot);
  }

  private end(): void {
    this.ended = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(undefined);
  }

  /** The next snapshot, or undefined when nvidia-smi ended or none came within `timeoutMs`. */
  next(timeoutMs = 2000): Promise<GpuSnapshot | undefined> {
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== settle);
        resolve(undefined);
      }, timeoutMs);
      const settle = (snapshot: GpuSnapshot | undefined): void => {
        clearTimeout(timer);
        resolve(snapshot);
      };
      this.waiters.push(settle);
    });
  }

  /** Stops nvidia-smi; the figures stay readable. */
  stop(): void {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill("SIGTERM");
    this.child = undefined;
    this.end();
  }
}

/**
 * GPU memory in use now, summed over GPUs, in MiB, from one nvidia-smi call that runs while the event
 * loop goes on; undefined without nvidia-smi.
 */
export function queryGpuMemoryUsedMiB(timeoutMs = 5000): Promise<number | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(
        "nvidia-smi",
        [gpuQuery, "--format=csv,noheader,nounits"],
        { encoding: "utf8", timeout: timeoutMs },
        (error, stdout) => {
          if (error !== null) return resolve(undefined);
          const parser = new GpuSnapshotParser();
          let snapshot: GpuSnapshot | undefined;
          for (const line of stdout.split("\n")) snapshot = parser.push(line) ?? snapshot;
          resolve(snapshot?.memoryUsedMiB);
        },
      );
    } catch {
      resolve(undefined);
    }
  });
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
  /** "no GPU" when nvidia-smi is absent or failed; otherwise peak/mean over samples (memory summed over
   * GPUs, utilisation averaged). */
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
  private gpu: GpuMonitor | undefined;
  private readonly rss: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private harnessPeak = 0;

  constructor(private readonly options: ResourceSamplerOptions) {}

  start(): void {
    const interval = this.options.intervalMs ?? 500;
    if (this.options.sampleGpu) {
      this.gpu = new GpuMonitor({ intervalMs: interval });
      this.gpu.start();
    }
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
    this.gpu?.stop();
    return this.report();
  }

  /** What was sampled so far (sampling goes on until stop()). */
  report(): ResourceReport {
    this.harnessPeak = Math.max(this.harnessPeak, process.memoryUsage.rss() / 1048576);
    const samples = this.gpu?.snapshots ?? [];
    const utilization = samples.map((s) => s.utilizationPercent).filter(Number.isFinite);
    return {
      gpu:
        samples.length === 0
          ? "no GPU"
          : {
              memoryUsedMiB: peakMean(samples.map((s) => s.memoryUsedMiB)),
              utilizationPercent: peakMean(utilization.length === 0 ? [0] : utilization),
            },
      serverRssMiB: this.rss.length === 0 ? null : peakMean(this.rss),
      harnessPeakRssMiB: this.harnessPeak,
    };
  }
}
