import os from "node:os";
import type { Command } from "commander";
import { formatBytes } from "../../core/format.js";
import { collectSystemInfo, freeDiskBytes, probeCommand } from "../../core/system.js";

interface Check {
  name: string;
  value: string;
  ok: boolean;
  hint?: string;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check this machine: Node, CPU, memory, GPUs llama.cpp can use, disk, installed engines")
    .option("--json", "print the checks as JSON")
    .action(async (flags: { json?: boolean }) => {
      const checks = await runChecks();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
        return;
      }
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks)
        process.stdout.write(
          `${c.ok ? "ok  " : "warn"}  ${c.name.padEnd(width)}  ${c.value}${c.hint === undefined ? "" : `\n      ${" ".repeat(width)}  ${c.hint}`}\n`,
        );
    });
}

async function runChecks(): Promise<Check[]> {
  const info = await collectSystemInfo();
  const major = Number(process.versions.node.split(".")[0]);
  const checks: Check[] = [
    {
      name: "node",
      value: process.version,
      ok: major >= 20,
      ...(major >= 20 ? {} : { hint: "servelab needs Node 20 or newer" }),
    },
    { name: "cpu", value: `${info.cpu}, ${info.cores} cores available`, ok: info.cores >= 1 },
    {
      name: "memory",
      value: `${formatBytes(info.memoryTotalBytes)} total, ${formatBytes(info.memoryFreeBytes)} free`,
      ok: info.memoryFreeBytes > 2 * 1024 ** 3,
      ...(info.memoryFreeBytes > 2 * 1024 ** 3 ? {} : { hint: "a 1.5B model in Q8_0 needs about 2 GiB" }),
    },
  ];
  const free = await freeDiskBytes(os.homedir());
  checks.push({
    name: "disk",
    value: free === undefined ? "unknown" : `${formatBytes(free)} free in ${os.homedir()}`,
    ok: free === undefined || free > 8 * 1024 ** 3,
    ...(free !== undefined && free <= 8 * 1024 ** 3 ? { hint: "the F32 1.5B model alone is 7.1 GB" } : {}),
  });
  checks.push({
    name: "nvidia gpus",
    value: info.gpus.length === 0 ? "none (nvidia-smi not found)" : info.gpus.map((g) => g.name).join(", "),
    ok: true,
  });
  try {
    const { getLlamaGpuTypes, getModuleVersion } = await import("node-llama-cpp");
    const supported = await getLlamaGpuTypes("supported");
    const backends = supported.filter((g) => g !== false);
    checks.push({
      name: "llama.cpp GPUs",
      value: backends.length === 0 ? "none: CPU only" : `${backends.join(", ")} usable`,
      ok: true,
    });
    checks.push({ name: "engine embedded", value: `node-llama-cpp ${await getModuleVersion()}`, ok: true });
  } catch (err) {
    checks.push({
      name: "engine embedded",
      value: "node-llama-cpp failed to load",
      ok: false,
      hint: err instanceof Error ? err.message : String(err),
    });
  }
  const vllm =
    (await probeCommand("vllm", ["--version"])) ??
    (await probeCommand("python3", ["-c", "import vllm; print(vllm.__version__)"]));
  checks.push({
    name: "engine vllm",
    value: vllm === undefined ? "not installed" : `vLLM ${vllm}`,
    ok: true,
    ...(vllm === undefined
      ? { hint: "pip install vllm (Linux with an NVIDIA GPU) to use --engine vllm" }
      : {}),
  });
  const llamaServer = await probeCommand("llama-server", ["--version"]);
  checks.push({
    name: "llama-server",
    value: llamaServer ?? "not on PATH (only needed to compare against it)",
    ok: true,
  });
  return checks;
}
