/** The environment a bench ran in, stored in results.json so figures can be compared honestly. */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { version } from "../core/version.js";

export interface BenchEnvironment {
  servelabVersion: string;
  node: string;
  os: string;
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  /** GPU names and memory from nvidia-smi, or "no GPU". */
  gpu: string[] | "no GPU";
}

/** Describe this machine. */
export function describeEnvironment(): BenchEnvironment {
  const cpus = os.cpus();
  let gpu: string[] | "no GPU" = "no GPU";
  try {
    const r = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], {
      encoding: "utf8",
      timeout: 5000,
    });
    if (r.status === 0 && typeof r.stdout === "string" && r.stdout.trim() !== "")
      gpu = r.stdout
        .trim()
        .split("\n")
        .map((s) => s.trim());
  } catch {
    // absent: "no GPU"
  }
  return {
    servelabVersion: version,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1073741824) * 10) / 10,
    gpu,
  };
}
