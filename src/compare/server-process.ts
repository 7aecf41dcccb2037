/**
 * One configuration's server in its own process: `servelab serve --port 0` as a child, ready when it
 * prints its address and /health answers 200; memory sampled from /proc (resident set) and an
 * asynchronous nvidia-smi (GPU memory); stopped with SIGTERM (SIGKILL after a grace period) and checked gone before the next.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, readdirSync, type WriteStream } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { GpuMonitor, queryGpuMemoryUsedMiB } from "../bench/resources.js";
import { AbortedError, EngineError, ServelabError, TimeoutError, errorMessage } from "../core/errors.js";
import threadpool from "../core/threadpool.cjs";

/** dist/cli/index.js of this package (this file lives two folders below the root, in src/ or dist/). */
export function servelabCliPath(): string {
  return fileURLToPath(new URL("../../dist/cli/index.js", import.meta.url));
}

export interface StartServerOptions {
  /** Arguments after `serve` (model, engine, parallel, ...); --port 0 and --host are added. */
  serveArgs: string[];
  /** Where the child's stdout and stderr go. */
  logPath: string;
  /** More environment variables for the child (SERVELAB_API_KEY: a key never shown on its command line). */
  env?: Record<string, string>;
  /** Give up when not ready after this long (default 15 minutes: big models load slowly from disk). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** Progress while waiting, e.g. "loading 12 s". */
  onWait?: (elapsedMs: number) => void;
}

export interface ServerProcess {
  readonly pid: number;
  /** Base URL with /v1. */
  readonly url: string;
  /** Milliseconds from spawn until /health said ready. */
  readonly readyMs: number;
  /** The device the engine reported at start-up (its `device` line: "cpu", "cuda", "vulkan", "metal" or a
   * GPU name); undefined when it printed none. */
  readonly device: string | undefined;
  /** performance.now() at spawn. */
  readonly spawnedAt: number;
  readonly child: ChildProcess;
  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`); resolves when it has exited. */
  stop(
    graceMs?: number,
  ): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Last lines of a log file, for error messages. */
export function tailFile(path: string, lines = 8): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** The server's environment: ours, the configuration's, and libuv's pool sized as the launcher sizes it. */
function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, NO_COLOR: "1", SERVELAB_STOP_WITH_PARENT: "1" };
  threadpool.applyThreadPoolDefault(env, os.availableParallelism());
  return env;
}

/** Starts `servelab serve` in a child process and waits until it is ready. */
export async function startServerProcess(options: StartServerOptions): Promise<ServerProcess> {
  const cli = servelabCliPath();
  if (!existsSync(cli)) throw new ServelabError("INTERNAL", `${cli} is missing: run 'npm run build' first`);
  const log: WriteStream = createWriteStream(options.logPath, { flags: "a" });
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [cli, "serve", ...options.serveArgs, "--host", "127.0.0.1", "--port", "0"],
    {
      // stdin stays open while we live: the server stops when it closes (SERVELAB_STOP_WITH_PARENT),
      // so it never outlives us, even when we are killed with SIGKILL.
      stdio: ["pipe", "pipe", "pipe"],
      env: childEnv(options.env),
    },
  );
  child.stdin?.on("error", () => undefined);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  // When we exit normally or on a handled signal, the child goes with us at once.
  const killOnExit = (): void => {
    if (exited === undefined) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      process.off("exit", killOnExit);
      resolve(exited);
    });
  });
  let address: string | undefined;
  let device: string | undefined;
  let stdoutBuffer = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    log.write(chunk);
    if (address !== undefined) return;
    stdoutBuffer += chunk.toString("utf8");
    const m = /listening on (http:\/\/\S+)/u.exec(stdoutBuffer);
    if (m === null) return;
    address = m[1];
    // "device     cuda, 8 threads": printed with the address, once the engine is loaded.
    device = /^device\s+([^,\n]+)/mu.exec(stdoutBuffer)?.[1]?.trim();
  });
  child.stderr?.on("data", (chunk: Buffer) => log.write(chunk));
  child.once("error", (error) => log.write(`spawn error: ${errorMessage(error)}\n`));

  const stop = async (graceMs = 10_000) => {
    let killed = false;
    if (exited === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, graceMs);
      await exitPromise;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => log.end(resolve));
    const result = exited ?? (await exitPromise);
    return { exitCode: result.code, signal: result.signal, killed };
  };

  const timeoutMs = options.readyTimeoutMs ?? 15 * 60_000;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new AbortedError("stopped while the server was loading");
      if (exited !== undefined) {
        const tail = tailFile(options.logPath, 4)
          .split("\n")
          .filter((l) => l.trim() !== "");
        const reason = tail.find((l) => /^error[: ]/iu.test(l)) ?? tail.at(-1) ?? "no output";
        throw new EngineError(
          `the server exited while loading (code ${exited.code ?? exited.signal}): ${reason} (log: ${options.logPath})`,
        );
      }
      const elapsed = performance.now() - spawnedAt;
      if (elapsed > timeoutMs)
        throw new TimeoutError(
          `the server was not ready after ${Math.round(timeoutMs / 1000)} s (log: ${options.logPath})`,
        );
      if (address !== undefined) {
        const status = await fetch(`${address}/health`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) {
          const readyMs = performance.now() - spawnedAt;
          return { pid: child.pid ?? -1, url: `${address}/v1`, readyMs, device, spawnedAt, child, stop };
        }
      }
      options.onWait?.(elapsed);
      await delay(address === undefined ? 50 : 100);
    }
  } catch (error) {
    await stop(2000);
    throw error;
  }
}

/** Resident set size (VmRSS) and its high-water mark (VmHWM) of one process, in bytes. */
function readOneProcessMemory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /^VmRSS:\s+(\d+)\s+kB/mu.exec(status);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/mu.exec(status);
    if (rss === null) return undefined;
    return { rss: Number(rss[1]) * 1024, hwm: Number(hwm?.[1] ?? rss[1]) * 1024 };
  } catch {
    return undefined;
  }
}

/** A process and all its descendants (Linux /proc), so a server that runs its engine in children counts whole. */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length && pids.length < 256; i++) {
    const current = pids[i] as number;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, "utf8").trim();
        if (children !== "") for (const child of children.split(/\s+/u)) pids.push(Number(child));
      } catch {
        // the task ended
      }
    }
  }
  return pids;
}

/**
 * Resident memory of a process and its descendants, in bytes: `rss` now, `hwm` the sum of each one's
 * high-water mark (an upper bound of the tree's peak).
 */
export function readProcessMemory(pid: number): { rss: number; hwm: number } | undefined {
  const own = readOneProcessMemory(pid);
  if (own === undefined) return undefined;
  let { rss, hwm } = own;
  for (const child of processTree(pid).slice(1)) {
    const memory = readOneProcessMemory(child);
    if (memory === undefined) continue;
    rss += memory.rss;
    hwm += memory.hwm;
  }
  return { rss, hwm };
}

/**
 * GPU memory in use, summed over GPUs, in bytes; undefined without nvidia-smi. Asynchronous: the call
 * runs in a child process while the event loop goes on.
 */
export async function readGpuMemoryUsed(): Promise<number | undefined> {
  const mib = await queryGpuMemoryUsedMiB();
  return mib === undefined ? undefined : mib * 1024 * 1024;
}

/** Whether a process id still exists (a zombie counts as gone). */
export function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/\) Z /u.test(stat);
  } catch {
    return false;
  }
}

export interface MemorySamplerOptions {
  /** The server process (its descendants count too). */
  pid: number;
  /** GPU memory in use before the server started, in bytes. When set, GPU memory is sampled (through
   * one `nvidia-smi -lms` child) and counted above it; when undefined, only resident memory. */
  gpuBaseline?: number | undefined;
  /** Milliseconds between samples. Default 250. */
  intervalMs?: number;
}

/**
 * Samples a server's memory every `intervalMs`: resident memory from /proc always, GPU memory when asked
 * for (counted above the baseline taken before the server started). Nothing here blocks the event loop
 * for longer than reading a few /proc files: nvidia-smi runs as a child whose lines are parsed as they
 * arrive (the bench's GpuMonitor), never waited for.
 */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly gpu: GpuMonitor | undefined;
  peakRss = 0;

  constructor(private readonly options: MemorySamplerOptions) {
    if (options.gpuBaseline !== undefined)
      this.gpu = new GpuMonitor({ intervalMs: options.intervalMs ?? 250 });
  }

  start(): void {
    this.gpu?.start();
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), this.options.intervalMs ?? 250);
    this.timer.unref();
  }

  /** Highest GPU memory above the baseline seen so far, in bytes (0 without GPU samples). */
  get peakGpu(): number {
    if (this.gpu === undefined || this.gpu.latest === undefined) return 0;
    return Math.max(0, this.gpu.peakMemoryUsedMiB * 1048576 - (this.options.gpuBaseline ?? 0));
  }

  private sampleRss(): number | undefined {
    const memory = readProcessMemory(this.options.pid);
    if (memory !== undefined) this.peakRss = Math.max(this.peakRss, memory.rss, memory.hwm);
    return memory?.rss;
  }

  /** The figures now: resident memory read at once, GPU memory from the most recent nvidia-smi sample. */
  sample(): { rss: number | undefined; gpu: number | undefined } {
    return { rss: this.sampleRss(), gpu: this.gpuAboveBaseline(this.gpu?.latest?.memoryUsedMiB) };
  }

  /** Like sample(), but waits (at most `timeoutMs`) for a GPU sample taken from now on. */
  async sampleFresh(timeoutMs = 3000): Promise<{ rss: number | undefined; gpu: number | undefined }> {
    const snapshot = await this.gpu?.next(timeoutMs);
    const now = this.sample();
    return snapshot === undefined
      ? now
      : { rss: now.rss, gpu: this.gpuAboveBaseline(snapshot.memoryUsedMiB) };
  }

  private gpuAboveBaseline(usedMiB: number | undefined): number | undefined {
    if (usedMiB === undefined) return undefined;
    return Math.max(0, usedMiB * 1048576 - (this.options.gpuBaseline ?? 0));
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.gpu?.stop();
  }
}
