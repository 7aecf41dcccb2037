/**
 * What llama.cpp (node-llama-cpp) sees on this machine: each GPU backend this platform supports is
 * loaded in a child process of its own, with a time limit, and asked for its devices and VRAM; CPU when
 * none loads. A backend that hangs or crashes while initialising its driver cannot take the caller with it.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** One llama.cpp backend, as loaded in a child process. */
export interface LlamaBackendProbe {
  /** "cuda", "vulkan", "metal" or "cpu". */
  readonly backend: string;
  readonly ok: boolean;
  /** Why it did not load (ok false). */
  readonly error: string | null;
  /** llama.getGpuDeviceNames(): empty for CPU. */
  readonly devices: readonly string[];
  /** llama.getVramState(), summed over the backend's devices; 0 for CPU. */
  readonly vramTotalBytes: number;
  readonly vramFreeBytes: number;
  /** "prebuilt" (an @node-llama-cpp/* package) or "localBuild" (built from source on this machine). */
  readonly buildType: string | null;
  /** node-llama-cpp's llama.cpp binary release. */
  readonly llamaCppRelease: string | null;
  /** The addon file the process loaded (Linux: from /proc/self/maps; null elsewhere). */
  readonly binary: string | null;
  /** llama.cpp's system info line (CPU features the binary uses). */
  readonly systemInfo: string | null;
  readonly seconds: number;
}

/** What probeLlamaDevices found. */
export interface LlamaDeviceReport {
  /** node-llama-cpp's version; null when it cannot be imported. */
  readonly version: string | null;
  /** getLlamaGpuTypes("supported"): the GPU backends worth trying on this machine. */
  readonly supportedGpuTypes: readonly string[];
  /** Every backend tried: the supported GPU ones, then CPU when none of them loaded. */
  readonly backends: readonly LlamaBackendProbe[];
  /** The backend `gpu: "auto"` uses: the first GPU one that loaded with a device, else CPU. */
  readonly inUse: LlamaBackendProbe | null;
  /** Why node-llama-cpp could not be imported. */
  readonly error: string | null;
}

/** Options of probeLlamaDevices. */
export interface ProbeLlamaDevicesOptions {
  /** Time limit of each backend's child process, in ms. Default 30,000. */
  timeoutMs?: number;
}

// A file, not `node -e`: node-llama-cpp tests its binary in a fork that inherits process.execArgv, and a
// fork of `node -e SCRIPT` runs SCRIPT instead of the test.
const PROBE_MAIN = fileURLToPath(new URL("./llama-cpp-device-probe.js", import.meta.url));

function failed(backend: string, error: string, seconds: number): LlamaBackendProbe {
  return {
    backend,
    ok: false,
    error,
    devices: [],
    vramTotalBytes: 0,
    vramFreeBytes: 0,
    buildType: null,
    llamaCppRelease: null,
    binary: null,
    systemInfo: null,
    seconds,
  };
}

function probeBackend(backend: string, timeoutMs: number): Promise<LlamaBackendProbe> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PROBE_MAIN, backend],
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const seconds = (performance.now() - started) / 1000;
        const line = stdout.trim().split("\n").at(-1) ?? "";
        try {
          resolve(JSON.parse(line) as LlamaBackendProbe);
        } catch {
          const killed = err !== null && err.killed;
          const why = killed
            ? `no answer within ${timeoutMs / 1000} s`
            : (stderr.trim().split("\n").at(-1) ?? err?.message ?? "no output");
          resolve(failed(backend, why || "the probe process failed", seconds));
        }
      },
    );
  });
}

/**
 * Loads each GPU backend this platform supports (then CPU, if none loads) in its own child process and
 * reports its devices and VRAM, in the order node-llama-cpp's `gpu: "auto"` tries them.
 */
export async function probeLlamaDevices(options: ProbeLlamaDevicesOptions = {}): Promise<LlamaDeviceReport> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  let version: string;
  let supported: string[];
  try {
    const nlc = await import("node-llama-cpp");
    version = await nlc.getModuleVersion();
    supported = (await nlc.getLlamaGpuTypes("supported")).filter(
      (t): t is Exclude<typeof t, false> => t !== false,
    );
  } catch (err) {
    return {
      version: null,
      supportedGpuTypes: [],
      backends: [],
      inUse: null,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  const backends: LlamaBackendProbe[] = [];
  let inUse: LlamaBackendProbe | null = null;
  for (const gpu of supported) {
    const probe = await probeBackend(gpu, timeoutMs);
    backends.push(probe);
    if (inUse === null && probe.ok && probe.devices.length > 0) inUse = probe;
  }
  if (inUse === null) {
    const cpu = await probeBackend("cpu", timeoutMs);
    backends.push(cpu);
    if (cpu.ok) inUse = cpu;
  }
  return { version, supportedGpuTypes: supported, backends, inUse, error: null };
}
