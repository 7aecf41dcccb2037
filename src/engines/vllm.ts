/**
 * The vLLM engine (`--engine vllm`): servelab launches `vllm serve`, supervises it (own process group,
 * log file, readiness, crash detection, clean stop) and talks to it through the upstream engine.
 */

import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request as undiciRequest } from "undici";
import {
  AbortedError,
  EngineError,
  EngineNotInstalledError,
  InvalidArgumentError,
  ModelNotFoundError,
  ServelabError,
  TimeoutError,
  UpstreamError,
} from "../core/errors.js";
import { followSignals } from "../core/abort.js";
import { spawnSupervised } from "../core/process.js";
import type { ProcessExit, SupervisedProcess } from "../core/process.js";
import type {
  Engine,
  EngineInfo,
  EngineState,
  EngineStats,
  GenerateEvent,
  GenerateRequest,
} from "./engine.js";
import { createUpstreamEngine } from "./upstream.js";
import type { UpstreamEngine } from "./upstream.js";
import { diagnoseVllmLog, lastErrorLine } from "./vllm/diagnose.js";
import type { VllmFailure } from "./vllm/diagnose.js";
import { buildVllmCommand, resolveVllmLauncher } from "./vllm/launcher.js";
import { validateVllmOptions } from "./vllm/options.js";
import type { VllmEngineOptions } from "./vllm/options.js";

export { buildVllmCommand, findExecutable, resolveVllmLauncher } from "./vllm/launcher.js";
export type { VllmCommand, VllmLauncher } from "./vllm/launcher.js";
export {
  buildVllmArgs,
  defaultReasoningParser,
  validateVllmOptions,
  vllmDtypes,
  vllmQuantizations,
} from "./vllm/options.js";
export type { VllmDtype, VllmEngineOptions, VllmQuantization } from "./vllm/options.js";
export { diagnoseVllmLog } from "./vllm/diagnose.js";
export type { VllmFailure, VllmFailureKind } from "./vllm/diagnose.js";

/** The vLLM engine: an Engine that can also be restarted after a crash. */
export interface VllmEngine extends Engine {
  /** Stops vLLM (if running) and starts it again; resolves when it is ready. */
  restart(signal?: AbortSignal): Promise<void>;
  /** Where vLLM's output goes. */
  readonly logFile: string;
  /** The vLLM process id (its process group id too), while it runs. */
  readonly pid: number | undefined;
  /** `http://127.0.0.1:PORT/v1` once started. */
  readonly baseUrl: string | undefined;
  /** The last lines vLLM printed. */
  logTail(count?: number): string[];
}

/** Picks a free TCP port on `host` (the OS chooses; vLLM binds it right after). */
export function findFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Creates the vLLM engine. Options are validated now (InvalidArgumentError); load() checks that vLLM
 * is installed (EngineNotInstalledError), starts it, waits until it is alive, /health answers 200 and
 * a warm-up request succeeded, and turns known start-up failures into one clear error each.
 */
export function createVllmEngine(options: VllmEngineOptions): VllmEngine {
  validateVllmOptions(options);
  const host = options.host ?? "127.0.0.1";
  const startupTimeoutMs = options.startupTimeoutMs ?? 900_000;
  const stopGraceMs = options.stopGraceMs ?? 10_000;
  const logFile = options.logFile ?? join(tmpdir(), `servelab-vllm-${Date.now()}-${process.pid}.log`);
  const env: NodeJS.ProcessEnv = { PYTHONUNBUFFERED: "1", ...process.env, ...options.env };

  let state: EngineState = "created";
  let proc: SupervisedProcess | undefined;
  let upstream: UpstreamEngine | undefined;
  let baseUrl: string | undefined;
  let loadTimeMs: number | undefined;
  let crashError: ServelabError | undefined;
  let starting: Promise<void> | undefined;
  const intentionalStops = new WeakSet<SupervisedProcess>();
  const inflight = new Set<AbortController>();

  const readLog = (): string => {
    try {
      const size = statSync(logFile).size;
      const text = readFileSync(logFile, "utf8");
      return size > 4_000_000 ? text.slice(-4_000_000) : text;
    } catch {
      return "";
    }
  };
  const tailCause = (p: SupervisedProcess | undefined): Error | undefined => {
    const lines = p?.tail(40) ?? [];
    return lines.length === 0 ? undefined : new Error(`last lines of ${logFile}:\n${lines.join("\n")}`);
  };
  const describeExit = (exit: ProcessExit): string =>
    exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? "?"}`;

  /** The one error a failure of vLLM becomes, from its log and exit. */
  function failureError(p: SupervisedProcess, what: string, exit: ProcessExit | undefined): ServelabError {
    const tail = p.tail();
    const failure: VllmFailure | undefined = diagnoseVllmLog(tail) ?? diagnoseVllmLog(readLog());
    const cause = tailCause(p);
    const causeOption = cause === undefined ? {} : { cause };
    const suffix = `. Log: ${logFile}`;
    if (failure !== undefined) {
      const message = `${what}: ${failure.message}${suffix}`;
      switch (failure.kind) {
        case "model-not-found":
          return new ModelNotFoundError(options.model, message, causeOption);
        case "bad-arguments":
          return new InvalidArgumentError(message, causeOption);
        case "port-in-use":
          return new EngineError(message, { ...causeOption, param: "port" });
        default:
          return new ServelabError("MODEL_LOAD_FAILED", message, causeOption);
      }
    }
    const exitText = exit === undefined ? "" : ` (vLLM ${describeExit(exit)})`;
    const detail = lastErrorLine(tail);
    return new EngineError(
      `${what}${exitText}${detail === undefined ? "" : `: ${detail}`}${suffix}`,
      causeOption,
    );
  }

  function onExit(p: SupervisedProcess, exit: ProcessExit): void {
    if (p !== proc || intentionalStops.has(p)) return;
    if (state !== "ready") return; // start-up failures are reported by start() itself
    state = "failed";
    crashError = failureError(
      p,
      `vLLM ${describeExit(exit)} while serving; call restart() to start it again`,
      exit,
    );
    for (const controller of inflight) controller.abort(crashError);
  }

  async function probeHealth(origin: string): Promise<number | undefined> {
    try {
      const response = await undiciRequest(`${origin}/health`, {
        method: "GET",
        signal: AbortSignal.timeout(5000),
      });
      await response.body.dump();
      return response.statusCode;
    } catch {
      return undefined;
    }
  }

  async function waitReady(
    p: SupervisedProcess,
    origin: string,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<void> {
    let delay = 100;
    while (true) {
      if (signal?.aborted === true) throw new AbortedError("vLLM start-up was aborted");
      if (!p.isRunning()) {
        const exit = await p.exited;
        await sleep(100); // let the last output lines arrive
        throw failureError(p, `vLLM failed to start ${options.model}`, exit);
      }
      if (Date.now() >= deadline) {
        throw new TimeoutError(
          `vLLM did not become ready within ${Math.round(startupTimeoutMs / 1000)} s (${origin}/health never answered 200); raise startupTimeoutMs for large models or downloads, or read the log: ${logFile}`,
          tailCause(p) === undefined ? {} : { cause: tailCause(p) },
        );
      }
      if ((await probeHealth(origin)) === 200 && p.isRunning()) return;
      await Promise.race([sleep(Math.min(delay, Math.max(0, deadline - Date.now()))), p.exited]);
      delay = Math.min(delay * 1.5, 2000);
    }
  }

  async function start(signal?: AbortSignal): Promise<void> {
    state = "loading";
    crashError = undefined;
    const t0 = performance.now();
    let launched: SupervisedProcess | undefined;
    try {
      const launcher = await resolveVllmLauncher(options, env);
      const port = options.port ?? (await findFreePort(host));
      const { command, args } = buildVllmCommand({ ...options, host, port }, launcher);
      const onLog = options.onLog;
      try {
        launched = await spawnSupervised({
          command,
          args,
          env,
          logFile,
          tailLines: 400,
          ...(onLog === undefined ? {} : { onLine: (line: string) => onLog(line) }),
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "EACCES") {
          throw new EngineNotInstalledError(
            "vllm",
            `cannot run ${command} (${code}): install vLLM with \`pip install vllm\` (needs Linux and an NVIDIA GPU with CUDA)`,
            { cause: err },
          );
        }
        throw err;
      }
      const p = launched;
      proc = p;
      void p.exited.then((exit) => onExit(p, exit));
      const connectHost = host === "0.0.0.0" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
      const origin = `http://${connectHost}:${port}`;
      baseUrl = `${origin}/v1`;
      await waitReady(p, origin, Date.now() + startupTimeoutMs, signal);

      upstream = createUpstreamEngine({
        baseUrl,
        model: options.servedModelName ?? options.model,
        kind: "vllm",
        source: options.model,
        precision: options.quantization ?? options.dtype ?? "auto",
        device: "cuda",
        parallel: options.maxNumSeqs ?? 256,
        connections: options.connections ?? 256,
        ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
        ...(options.maxModelLen === undefined ? {} : { contextSize: options.maxModelLen }),
      });
      await upstream.load(signal);
      if (options.warmup !== false) {
        for await (const event of upstream.generate({
          input: { type: "text", text: "Hello" },
          maxTokens: 1,
          sampling: { temperature: 0 },
        })) {
          void event;
        }
      }
      if (!p.isRunning()) throw failureError(p, "vLLM exited right after start-up", p.exit);
      loadTimeMs = performance.now() - t0;
      state = "ready";
    } catch (err) {
      state = "failed";
      if (launched !== undefined) {
        intentionalStops.add(launched);
        await launched.stop({ graceMs: Math.min(stopGraceMs, 5000) });
      }
      await upstream?.dispose();
      upstream = undefined;
      if (err instanceof UpstreamError && launched !== undefined) {
        throw failureError(launched, `vLLM started but failed its warm-up (${err.message})`, launched.exit);
      }
      throw err;
    }
  }

  async function stopCurrent(): Promise<void> {
    for (const controller of inflight) controller.abort(new AbortedError("vLLM is stopping"));
    const u = upstream;
    upstream = undefined;
    await u?.dispose();
    const p = proc;
    proc = undefined;
    if (p !== undefined) {
      intentionalStops.add(p);
      await p.stop({ graceMs: stopGraceMs });
    }
  }

  async function load(signal?: AbortSignal): Promise<void> {
    if (state === "disposed") throw new EngineError("the vLLM engine was disposed");
    if (state === "ready") return;
    if (starting !== undefined) return starting;
    starting = (async () => {
      if (proc !== undefined) await stopCurrent();
      await start(signal);
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  }

  async function restart(signal?: AbortSignal): Promise<void> {
    if (state === "disposed") throw new EngineError("the vLLM engine was disposed");
    if (starting !== undefined) await starting.catch(() => undefined);
    starting = (async () => {
      await stopCurrent();
      await start(signal);
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  }

  async function* generate(request: GenerateRequest): AsyncGenerator<GenerateEvent> {
    if (state === "failed" && crashError !== undefined) throw crashError;
    const u = upstream;
    const p = proc;
    if (state !== "ready" || u === undefined)
      throw new EngineError(`the vLLM engine is not ready (state: ${state})`);
    const controller = new AbortController();
    inflight.add(controller);
    // not AbortSignal.any: it leaked one signal a request (src/core/abort.ts)
    const followed = followSignals([request.signal, controller.signal]);
    const signal = followed.signal;
    try {
      for await (const event of u.generate({ ...request, signal })) {
        if (
          event.type === "done" &&
          event.finishReason === "abort" &&
          crashError !== undefined &&
          request.signal?.aborted !== true
        ) {
          throw crashError;
        }
        yield event;
      }
    } catch (err) {
      if (crashError !== undefined) throw crashError;
      if (err instanceof UpstreamError && err.status === undefined && p !== undefined) {
        // The connection broke: if vLLM is dying, report that rather than a socket error.
        await Promise.race([p.exited, sleep(1000)]);
        if (crashError !== undefined) throw crashError;
      }
      throw err;
    } finally {
      followed.dispose();
      inflight.delete(controller);
    }
  }

  async function dispose(): Promise<void> {
    if (state === "disposed") return;
    state = "disposed";
    await starting?.catch(() => undefined);
    await stopCurrent();
  }

  return {
    get state() {
      return state;
    },
    get failure() {
      return state === "failed" ? crashError : undefined;
    },
    get pid() {
      return proc?.isRunning() === true ? proc.pid : undefined;
    },
    get baseUrl() {
      return baseUrl;
    },
    logFile,
    logTail: (count?: number) => proc?.tail(count) ?? [],
    info(): EngineInfo {
      if (upstream === undefined)
        throw new EngineError(`info() is valid once load() resolved (state: ${state})`);
      return upstream.info();
    },
    stats(): EngineStats {
      const s = upstream?.stats();
      return {
        loadTimeMs,
        ramBytes: undefined,
        vramBytes: undefined,
        running: s?.running ?? 0,
        waiting: s?.waiting ?? 0,
      };
    },
    load,
    restart,
    countTokens(text: string): Promise<number> {
      if (upstream === undefined || state !== "ready") {
        return Promise.reject(
          crashError ?? new EngineError(`the vLLM engine is not ready (state: ${state})`),
        );
      }
      return upstream.countTokens(text);
    },
    generate,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
