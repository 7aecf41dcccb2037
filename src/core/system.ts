/** Facts about this machine: used by `servelab doctor` and recorded with every benchmark result. */
import os from "node:os";
import { execFile } from "node:child_process";
import { statfs } from "node:fs/promises";
import { promisify } from "node:util";
import { version } from "./version.js";

const run = promisify(execFile);

export interface GpuInfo {
  name: string;
  memoryTotalBytes?: number;
  driver?: string;
}

export interface SystemInfo {
  servelab: string;
  node: string;
  platform: string;
  arch: string;
  os: string;
  cpu: string;
  cores: number;
  memoryTotalBytes: number;
  memoryFreeBytes: number;
  gpus: GpuInfo[];
}

/** NVIDIA GPUs from nvidia-smi (empty when it is missing). */
export async function listNvidiaGpus(): Promise<GpuInfo[]> {
  try {
    const { stdout } = await run(
      "nvidia-smi",
      ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
      { timeout: 5000 },
    );
    return stdout
      .trim()
      .split("\n")
      .filter((l) => l.trim().length > 0)
      .map((line) => {
        const [name = "unknown", memory, driver] = line.split(",").map((s) => s.trim());
        const mib = Number(memory);
        return {
          name,
          ...(Number.isFinite(mib) ? { memoryTotalBytes: mib * 1024 * 1024 } : {}),
          ...(driver === undefined ? {} : { driver }),
        };
      });
  } catch {
    return [];
  }
}

export async function collectSystemInfo(): Promise<SystemInfo> {
  const cpus = os.cpus();
  return {
    servelab: version,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    os: `${os.type()} ${os.release()}`,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    gpus: await listNvidiaGpus(),
  };
}

export async function freeDiskBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Resolves when `command` runs (exit 0) with `args`, to its first output line; undefined otherwise. */
export async function probeCommand(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: 10_000 });
    return (stdout.trim() || stderr.trim()).split("\n")[0];
  } catch {
    return undefined;
  }
}
