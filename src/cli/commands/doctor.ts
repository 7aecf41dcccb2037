import { dirname } from "node:path";
import type { Command } from "commander";
import { EngineNotInstalledError } from "../../core/errors.js";
import { formatBytes } from "../../core/format.js";
import { collectSystemInfo, freeDiskBytes, probeCommand, type GpuInfo } from "../../core/system.js";
import { probeLlamaDevices, type LlamaBackendProbe } from "../../engines/llama-cpp-devices.js";
import { resolveVllmLauncher } from "../../engines/vllm/launcher.js";
import { resolveModelCacheDir } from "../../models/synthesize.js";
import threadpool from "../../core/threadpool.cjs";

/** One line of the report: ok or a warning, with a hint on how to fix it. */
interface Check {
  name: string;
  value: string;
  ok: boolean;
  hint?: string;
}

/** What `servelab doctor --json` prints. Absent values are null. */
export interface DoctorReport {
  servelab: string;
  node: { version: string; ok: boolean };
  os: { platform: string; arch: string; release: string };
  cpu: {
    model: string;
    cores: number;
    /** libuv's pool, where the embedded engine decodes and samples: its size and who chose it. */
    threadPool: { size: number; source: "environment" | "servelab" | "libuv" };
  };
  memory: { totalBytes: number; freeBytes: number };
  /** The model cache folder (SERVELAB_CACHE/models or ~/.cache/servelab/models) and its free space. */
  disk: { path: string; freeBytes: number | null };
  gpus: {
    /** Each GPU backend llama.cpp could try here, loaded in a child process (CPU when none loads). */
    llamaCpp: {
      backend: string;
      ok: boolean;
      error: string | null;
      devices: string[];
      vramTotalBytes: number;
      vramFreeBytes: number;
    }[];
    /** What nvidia-smi lists (empty without it). */
    nvidiaSmi: GpuInfo[];
  };
  engines: {
    nodeLlamaCpp: {
      installed: boolean;
      version: string | null;
      /** The backend `--gpu auto` uses: cuda, vulkan, metal or cpu. */
      backend: string | null;
      buildType: string | null;
      llamaCppRelease: string | null;
      /** The addon file loaded (Linux), else null. */
      binary: string | null;
      error: string | null;
    };
    vllm: { installed: boolean; version: string | null; launcher: string | null; hint: string | null };
    llamaServer: { installed: boolean; version: string | null };
  };
  checks: Check[];
}

const EXAMPLES = `
Examples:
  $ servelab doctor
  $ servelab doctor --json | jq '.gpus.llamaCpp'
  $ SERVELAB_CACHE=/data/servelab servelab doctor     # the disk check follows the model cache folder

Each GPU backend llama.cpp supports here (CUDA, Vulkan, Metal) is loaded in a child process with a
30 s limit and asked for its devices and VRAM; CPU when none loads. The disk line is the free space of
the model cache folder ($SERVELAB_CACHE/models or ~/.cache/servelab/models), where synth, start and
compare write models.`;

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check this machine: Node, CPU, memory, GPUs llama.cpp sees, disk, installed engines")
    .option("--json", "print the report as JSON")
    .addHelpText("after", EXAMPLES)
    .action(async (flags: { json?: boolean }) => {
      const report = await runDoctor();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const width = Math.max(...report.checks.map((c) => c.name.length));
      for (const c of report.checks)
        process.stdout.write(
          `${c.ok ? "ok  " : "warn"}  ${c.name.padEnd(width)}  ${c.value}${c.hint === undefined ? "" : `\n      ${" ".repeat(width)}  ${c.hint}`}\n`,
        );
    });
}

/** Free space of the folder, or of its nearest existing parent (the cache folder may not exist yet). */
async function freeDiskNear(dir: string): Promise<number | null> {
  for (let d = dir; ; d = dirname(d)) {
    const free = await freeDiskBytes(d);
    if (free !== undefined) return free;
    if (dirname(d) === d) return null;
  }
}

function describeBackend(b: LlamaBackendProbe): string {
  if (!b.ok) return `${b.backend}: ${b.error ?? "did not load"}`;
  if (b.backend === "cpu") return "cpu";
  const vram =
    b.vramTotalBytes > 0
      ? ` (${formatBytes(b.vramTotalBytes)} VRAM, ${formatBytes(b.vramFreeBytes)} free)`
      : "";
  return `${b.backend}: ${b.devices.length === 0 ? "no device" : b.devices.join(", ")}${vram}`;
}

async function probeVllm(): Promise<DoctorReport["engines"]["vllm"]> {
  try {
    const launcher = await resolveVllmLauncher({ model: "" }, process.env);
    const version =
      launcher.kind === "vllm"
        ? await probeCommand(launcher.executable, ["--version"])
        : await probeCommand(launcher.executable, ["-c", "import vllm; print(vllm.__version__)"]);
    return { installed: true, version: version ?? null, launcher: launcher.executable, hint: null };
  } catch (err) {
    if (!(err instanceof EngineNotInstalledError)) throw err;
    return { installed: false, version: null, launcher: null, hint: err.message };
  }
}

/** Collects the report `servelab doctor` prints. */
export async function runDoctor(): Promise<DoctorReport> {
  const cacheDir = resolveModelCacheDir();
  const [freeBytes, info, llama, vllm, llamaServer] = await Promise.all([
    freeDiskNear(cacheDir),
    collectSystemInfo(),
    probeLlamaDevices(),
    probeVllm(),
    probeCommand("llama-server", ["--version"]),
  ]);
  const major = Number(process.versions.node.split(".")[0]);
  const cores = info.cores;
  const nvidiaSmi = info.gpus;
  const memory = { totalBytes: info.memoryTotalBytes, freeBytes: info.memoryFreeBytes };
  const inUse = llama.inUse;
  // the GPU backends tried; the CPU fallback shows as the engine's backend
  const gpuBackends = llama.backends.filter((b) => b.backend !== "cpu");
  const report: Omit<DoctorReport, "checks"> = {
    servelab: info.servelab,
    node: { version: process.version, ok: major >= 20 },
    os: { platform: info.platform, arch: info.arch, release: info.os },
    cpu: { model: info.cpu, cores, threadPool: threadpool.describeThreadPool(process.env) },
    memory,
    disk: { path: cacheDir, freeBytes },
    gpus: {
      llamaCpp: gpuBackends.map((b) => ({
        backend: b.backend,
        ok: b.ok,
        error: b.error,
        devices: [...b.devices],
        vramTotalBytes: b.vramTotalBytes,
        vramFreeBytes: b.vramFreeBytes,
      })),
      nvidiaSmi,
    },
    engines: {
      nodeLlamaCpp: {
        installed: llama.version !== null,
        version: llama.version,
        backend: inUse?.backend ?? null,
        buildType: inUse?.buildType ?? null,
        llamaCppRelease: inUse?.llamaCppRelease ?? null,
        binary: inUse?.binary ?? null,
        error: llama.error ?? (inUse === null ? (llama.backends.at(-1)?.error ?? "no backend loaded") : null),
      },
      vllm,
      llamaServer: { installed: llamaServer !== undefined, version: llamaServer ?? null },
    },
  };

  const checks: Check[] = [
    {
      name: "node",
      value: process.version,
      ok: report.node.ok,
      ...(report.node.ok ? {} : { hint: "servelab needs Node 20 or newer" }),
    },
    { name: "cpu", value: `${report.cpu.model}, ${cores} cores available`, ok: cores >= 1 },
    threadPoolCheck(report.cpu.threadPool, cores),
    {
      name: "memory",
      value: `${formatBytes(memory.totalBytes)} total, ${formatBytes(memory.freeBytes)} free`,
      ok: memory.freeBytes > 2 * 1024 ** 3,
      ...(memory.freeBytes > 2 * 1024 ** 3 ? {} : { hint: "a 1.5B model in Q8_0 needs about 2 GiB" }),
    },
    {
      name: "disk",
      value: `${freeBytes === null ? "unknown" : formatBytes(freeBytes)} free for the model cache ${cacheDir}`,
      ok: freeBytes === null || freeBytes > 8 * 1024 ** 3,
      ...(freeBytes !== null && freeBytes <= 8 * 1024 ** 3
        ? { hint: "the F32 1.5B model alone is 7.1 GB; set SERVELAB_CACHE to a folder on a larger disk" }
        : {}),
    },
    {
      name: "llama.cpp GPUs",
      value:
        llama.supportedGpuTypes.length === 0
          ? "none: no CUDA, Vulkan or Metal support found here, CPU only"
          : gpuBackends.map(describeBackend).join("; "),
      ok: true,
      ...(inUse?.backend === "cpu" && llama.supportedGpuTypes.length > 0
        ? { hint: "no GPU backend loaded: llama.cpp runs on the CPU" }
        : {}),
    },
    {
      name: "nvidia-smi",
      value:
        nvidiaSmi.length === 0
          ? "no NVIDIA GPU (or nvidia-smi not found)"
          : nvidiaSmi
              .map(
                (g) =>
                  `${g.name}${g.memoryTotalBytes === undefined ? "" : ` ${formatBytes(g.memoryTotalBytes)}`}`,
              )
              .join(", "),
      ok: true,
    },
    {
      name: "engine llama.cpp",
      value:
        llama.version === null
          ? "node-llama-cpp failed to load"
          : `node-llama-cpp ${llama.version}` +
            (inUse === null
              ? ", no backend loaded"
              : `, ${inUse.buildType ?? ""} ${inUse.backend} binary, llama.cpp ${inUse.llamaCppRelease ?? "?"}` +
                (inUse.binary === null ? "" : ` (${inUse.binary})`)),
      ok: inUse !== null,
      ...(inUse === null ? { hint: report.engines.nodeLlamaCpp.error ?? "" } : {}),
    },
    {
      name: "engine vllm",
      value: vllm.installed
        ? `vLLM ${vllm.version ?? "(version unknown)"} (${vllm.launcher ?? ""})`
        : "not installed",
      ok: true,
      ...(vllm.hint === null ? {} : { hint: vllm.hint }),
    },
    {
      name: "llama-server",
      value: llamaServer ?? "not on PATH (only needed to compare against it)",
      ok: true,
    },
  ];
  return { ...report, checks };
}

function threadPoolCheck(pool: DoctorReport["cpu"]["threadPool"], cores: number): Check {
  const by = { environment: "UV_THREADPOOL_SIZE", servelab: "chosen by servelab", libuv: "libuv's default" }[
    pool.source
  ];
  const wanted = threadpool.defaultThreadPoolSize(cores);
  const small = pool.size < wanted;
  return {
    name: "thread pool",
    value: `${pool.size} threads for the embedded engine's decoding and sampling (${by})`,
    ok: !small,
    ...(small
      ? {
          hint:
            `concurrent sequences sample ${pool.size} at a time; run servelab through its launcher ` +
            `(servelab, npx servelab, npm start) or set UV_THREADPOOL_SIZE=${wanted}`,
        }
      : {}),
  };
}
