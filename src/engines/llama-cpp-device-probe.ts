/**
 * Child process of probeLlamaDevices (llama-cpp-devices.ts): `node llama-cpp-device-probe.js BACKEND`
 * loads node-llama-cpp's llama.cpp binary for BACKEND (cuda, vulkan, metal or cpu), never building one,
 * and prints one JSON line: a LlamaBackendProbe. It always exits 0; a hang is the parent's time limit.
 */
import { readFileSync } from "node:fs";
import type { LlamaBackendProbe } from "./llama-cpp-devices.js";

const backend = process.argv[2] ?? "cpu";
const started = performance.now();
let out: LlamaBackendProbe = {
  backend,
  ok: false,
  error: null,
  devices: [],
  vramTotalBytes: 0,
  vramFreeBytes: 0,
  buildType: null,
  llamaCppRelease: null,
  binary: null,
  systemInfo: null,
  seconds: 0,
};

/** The llama-addon.node this process mapped (Linux), which says which binary package or build is in use. */
function loadedAddon(): string | null {
  try {
    const line = readFileSync("/proc/self/maps", "utf8")
      .split("\n")
      .find((l) => l.endsWith("llama-addon.node"));
    return line === undefined ? null : line.slice(line.indexOf("/"));
  } catch {
    return null;
  }
}

try {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({
    gpu: backend === "cpu" ? false : (backend as "cuda" | "vulkan" | "metal"),
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  const vram = await llama.getVramState();
  out = {
    ...out,
    ok: true,
    backend: llama.gpu === false ? "cpu" : llama.gpu,
    devices: await llama.getGpuDeviceNames(),
    vramTotalBytes: vram.total,
    vramFreeBytes: vram.free,
    buildType: llama.buildType,
    llamaCppRelease: llama.llamaCppRelease.release,
    binary: loadedAddon(),
    systemInfo: llama.systemInfo,
  };
  await llama.dispose();
} catch (err) {
  out = {
    ...out,
    error: (err instanceof Error ? err.message : String(err)).split("\n")[0] || "failed to load",
  };
}
process.stdout.write(`${JSON.stringify({ ...out, seconds: (performance.now() - started) / 1000 })}\n`);
process.exit(0);
