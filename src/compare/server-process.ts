/**
 * One configuration's server in its own process: `servelab serve --port 0` as a child, ready when it
 * prints its address and /health answers 200; memory sampled from /proc (resident set) and nvidia-smi
 * (GPU memory); stopped with SIGTERM (SIGKILL after a grace period) and checked gone before the next.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, readdirSync, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { AbortedError, EngineError, ServelabError, TimeoutError, errorMessage } from "../core/errors.js";

/** dist/cli/index.js of this package (this file lives two folders below the root, in src/ or dist/). */
export function servelabCliPath(): string {
  return fileURLToPath(new URL("../../dist/cli/index.js", import.meta.url));
}

export interface StartServerOptions {
  /** Arguments after `serve` (model, engine, parallel, ...); --port 0 and --host are added. */
  serveArgs: string[];
  /** Where the child's stdout and stderr go. */
  logPath: string;
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
      env: { ...process.env, NO_COLOR: "1", SERVELAB_STOP_WITH_PARENT: "1" },
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
  let stdoutBuffer = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    log.write(chunk);
    if (address !== undefined) return;
    stdoutBuffer += chunk.toString("utf8");
    const m = /listening on (http:\/\/\S+)/u.exec(stdoutBuffer);
    if (m !== null) address = m[1];
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
          return { pid: child.pid ?? -1, url: `${address}/v1`, readyMs, spawnedAt, child, stop };
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

/** GPU memory in use, summed over GPUs, in bytes; undefined without nvidia-smi. */
export function readGpuMemoryUsed(): number | undefined {
  try {
    const r = spawnSync("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits"], {
      encoding: "utf8",
      timeout: 5000,
    });
    if (r.status !== 0 || typeof r.stdout !== "string" || r.stdout.trim() === "") return undefined;
    return r.stdout
      .trim()
      .split("\n")
      .reduce((sum, line) => sum + Number(line.trim()) * 1024 * 1024, 0);
  } catch {
    return undefined;
  }
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

/**
 * Samples a server's memory every `intervalMs`: resident memory always, GPU memory when nvidia-smi works
 * (counted above the baseline taken before the server started).
 */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  peakRss = 0;
  peakGpu = 0;
  constructor(
    private readonly pid: number,
    private readonly gpuBaseline: number | undefined,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** One sample now; returns the current figures. */
  sample(): { rss: number | undefined; gpu: number | undefined } {
    const memory = readProcessMemory(this.pid);
    if (memory !== undefined) this.peakRss = Math.max(this.peakRss, memory.rss, memory.hwm);
    let gpu: number | undefined;
    if (this.gpuBaseline !== undefined) {
      const used = readGpuMemoryUsed();
      if (used !== undefined) {
        gpu = Math.max(0, used - this.gpuBaseline);
        this.peakGpu = Math.max(this.peakGpu, gpu);
      }
    }
    return { rss: memory?.rss, gpu };
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
