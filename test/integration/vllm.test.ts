import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/core/process.js";
import type { GenerateEvent, GenerateRequest } from "../../src/engines/engine.js";
import { scrapeMetrics } from "../../src/engines/upstream.js";
import { createVllmEngine } from "../../src/engines/vllm.js";
import type { VllmEngine, VllmEngineOptions } from "../../src/engines/vllm.js";
import { fakeVllmDir, makeNodeOnlyDir, pidsInLog, waitUntil } from "../helpers/fake-vllm.js";

const R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B";
const nodeDir = makeNodeOnlyDir();
const logDir = mkdtempSync(join(tmpdir(), "servelab-vllm-it-"));
const engines: VllmEngine[] = [];
let logCounter = 0;

afterEach(async () => {
  for (const engine of engines.splice(0)) {
    await engine.dispose();
    for (const pid of pidsInLog(engine.logFile)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone, as it should be */
      }
    }
  }
});
afterAll(() => rmSync(logDir, { recursive: true, force: true }));

function makeEngine(env: Record<string, string> = {}, options: Partial<VllmEngineOptions> = {}): VllmEngine {
  const engine = createVllmEngine({
    model: R1,
    maxModelLen: 4096,
    env: { PATH: `${fakeVllmDir}:${nodeDir}`, FAKE_VLLM_READY_DELAY_MS: "200", ...env },
    logFile: join(logDir, `vllm-${logCounter++}.log`),
    stopGraceMs: 3000,
    startupTimeoutMs: 20_000,
    ...options,
  });
  engines.push(engine);
  return engine;
}

const chat = (extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  input: { type: "chat", messages: [{ role: "user", content: "What is 2 + 2?" }] },
  maxTokens: 100,
  sampling: { temperature: 0.6 },
  ...extra,
});

async function collect(events: AsyncIterable<GenerateEvent>): Promise<GenerateEvent[]> {
  const out: GenerateEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function allGone(pids: readonly number[]): boolean {
  return pids.every((pid) => !isProcessAlive(pid));
}

describe("vLLM engine with the stand-in", () => {
  it("is not ready while the port is closed, then serves a round trip with the reasoning channel", async () => {
    const lines: string[] = [];
    const engine = makeEngine({ FAKE_VLLM_READY_DELAY_MS: "1000" }, { onLog: (line) => lines.push(line) });
    const loading = engine.load();
    await waitUntil(() => lines.some((l) => l.includes("vLLM API server version")), 10_000, "start-up lines");
    expect(engine.state).toBe("loading");
    const port = Number(new URL(engine.baseUrl ?? "").port);
    expect(await portIsOpen(port)).toBe(false);
    await loading;
    expect(engine.state).toBe("ready");
    expect(await portIsOpen(port)).toBe(true);
    expect(engine.stats().loadTimeMs).toBeGreaterThanOrEqual(1000);
    expect(engine.info()).toMatchObject({
      kind: "vllm",
      modelId: R1,
      source: R1,
      contextSize: 4096,
      device: "cuda",
    });

    // Log capture: the file and the callback.
    expect(lines.some((l) => l.includes("Uvicorn running on http://127.0.0.1:"))).toBe(true);
    expect(readFileSync(engine.logFile, "utf8")).toContain("Application startup complete.");
    // The command line carried the defaults servelab derives.
    expect(readFileSync(engine.logFile, "utf8")).toContain(`'port': ${port}`);

    const events = await collect(engine.generate(chat()));
    const reasoning = events.flatMap((e) => (e.type === "text" && e.channel === "reasoning" ? [e.text] : []));
    const content = events.flatMap((e) => (e.type === "text" && e.channel === undefined ? [e.text] : []));
    expect(reasoning.join("")).toBe("Let me think about it.");
    expect(content.join("")).toBe("The answer is 4.");
    expect(events[0]).toMatchObject({ type: "start", promptTokens: 0 });
    expect(events[1]).toMatchObject({ type: "text", promptTokens: 9 });
    expect(events.filter((e) => e.type === "text").every((e) => e.type === "text" && e.tokens === 1)).toBe(
      true,
    );
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "stop", completionTokens: 9 });

    expect(await engine.countTokens("one two three")).toBe(3);
    const metrics = await scrapeMetrics(engine.baseUrl ?? "");
    expect(metrics).toMatchObject({ flavor: "vllm", running: 0, waiting: 0 });
  });

  it("stops cleanly on dispose: vLLM and its engine-core child are gone", async () => {
    const engine = makeEngine();
    await engine.load();
    const pids = pidsInLog(engine.logFile);
    expect(pids.length).toBe(2);
    expect(pids.every((pid) => isProcessAlive(pid))).toBe(true);
    await engine.dispose();
    expect(engine.state).toBe("disposed");
    expect(allGone(pids)).toBe(true);
    expect(readFileSync(engine.logFile, "utf8")).toContain("Shutting down");
  });

  it("escalates to SIGKILL when vLLM ignores SIGINT, children included", async () => {
    const engine = makeEngine({ FAKE_VLLM_STUBBORN: "1" }, { stopGraceMs: 500 });
    await engine.load();
    const pids = pidsInLog(engine.logFile);
    expect(pids.length).toBe(2);
    const t0 = Date.now();
    await engine.dispose();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(allGone(pids)).toBe(true);
  });

  it("aborting a generation ends it with finishReason abort and cancels it in vLLM", async () => {
    const engine = makeEngine({ FAKE_VLLM_TOKEN_DELAY_MS: "30" });
    await engine.load();
    const controller = new AbortController();
    const events: GenerateEvent[] = [];
    for await (const e of engine.generate(
      chat({ maxTokens: 500, ignoreEos: true, signal: controller.signal }),
    )) {
      events.push(e);
      if (events.filter((x) => x.type === "text").length === 2) controller.abort();
    }
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "abort" });
    let running = -1;
    for (let i = 0; i < 50 && running !== 0; i++) {
      running = (await scrapeMetrics(engine.baseUrl ?? "")).running ?? -1;
      if (running !== 0) await new Promise((r) => setTimeout(r, 30));
    }
    expect(running).toBe(0);
    expect(engine.state).toBe("ready");
  });

  it("a crash mid-run fails in-flight generations fast, sets state failed, and restart() recovers", async () => {
    const engine = makeEngine({ FAKE_VLLM_FAIL: "crash", FAKE_VLLM_CRASH_AFTER_TOKENS: "3" });
    await engine.load();
    const firstPids = pidsInLog(engine.logFile);
    const t0 = Date.now();
    const err = await collect(engine.generate(chat())).catch((x: unknown) => x);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err).toMatchObject({ code: "ENGINE_FAILED" });
    expect((err as Error).message).toContain("exited with code 1 while serving");
    expect((err as Error).message).toContain(engine.logFile);
    expect(engine.state).toBe("failed");
    await expect(collect(engine.generate(chat()))).rejects.toMatchObject({ code: "ENGINE_FAILED" });
    await waitUntil(() => allGone(firstPids), 3000, "crashed processes to be gone");

    await engine.restart();
    expect(engine.state).toBe("ready");
    const events = await collect(engine.generate(chat({ maxTokens: 2 })));
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "length", completionTokens: 2 });
  });

  it("says vLLM is not installed before anything else happens", async () => {
    const engine = makeEngine({ PATH: "" });
    const err = await engine.load().catch((x: unknown) => x);
    expect(err).toMatchObject({ code: "ENGINE_NOT_INSTALLED" });
    expect((err as Error).message).toContain("pip install vllm");
    expect(existsSync(engine.logFile)).toBe(false);
    expect(engine.state).toBe("failed");
  });
});

describe("vLLM start-up failures become one clear error each", () => {
  const cases: Array<{
    name: string;
    env?: Record<string, string>;
    options?: Partial<VllmEngineOptions>;
    code: string;
    message: RegExp;
  }> = [
    {
      name: "CUDA out of memory",
      env: { FAKE_VLLM_FAIL: "oom" },
      code: "MODEL_LOAD_FAILED",
      message: /ran out of GPU memory.*--max-model-len.*--gpu-memory-utilization/,
    },
    {
      name: "no memory for the KV cache",
      env: { FAKE_VLLM_FAIL: "no-cache-memory" },
      code: "MODEL_LOAD_FAILED",
      message: /no GPU memory left for the KV cache: lower --max-model-len/,
    },
    {
      name: "bfloat16 on an old GPU",
      env: { FAKE_VLLM_COMPUTE_CAPABILITY: "7.5" },
      options: { dtype: "bfloat16" },
      code: "MODEL_LOAD_FAILED",
      message: /does not support the requested dtype.*Bfloat16.*use dtype float16/,
    },
    {
      name: "fp8 on an old GPU",
      env: { FAKE_VLLM_COMPUTE_CAPABILITY: "7.5" },
      options: { quantization: "fp8" },
      code: "MODEL_LOAD_FAILED",
      message: /does not support the requested quantization/,
    },
    {
      name: "repository not found",
      env: { FAKE_VLLM_FAIL: "not-found" },
      code: "MODEL_NOT_FOUND",
      message:
        /failed to start deepseek-ai\/DeepSeek-R1-Distill-Qwen-1.5B: the model was not found.*RepositoryNotFoundError/,
    },
    {
      name: "local path missing",
      options: { model: "/nonexistent/servelab/model" },
      code: "MODEL_NOT_FOUND",
      message: /Invalid repository ID or local directory/,
    },
    {
      name: "unknown flag",
      options: { extraArgs: ["--bogus-flag"] },
      code: "INVALID_ARGUMENT",
      message: /unrecognized arguments: --bogus-flag/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const engine = makeEngine(c.env ?? {}, c.options ?? {});
      const err = await engine.load().catch((x: unknown) => x);
      expect(err).toMatchObject({ code: c.code });
      expect((err as Error).message).toMatch(c.message);
      expect((err as Error).message).toContain(`Log: ${engine.logFile}`);
      // Verbose output can show the last log lines: they ride on the cause.
      expect(String((err as Error).cause)).toContain("last lines of");
      expect(engine.state).toBe("failed");
      await waitUntil(() => allGone(pidsInLog(engine.logFile)), 3000, "no process left");
    });
  }

  it("a vLLM that never becomes ready times out and is stopped", async () => {
    const engine = makeEngine({ FAKE_VLLM_FAIL: "hang" }, { startupTimeoutMs: 1500 });
    const t0 = Date.now();
    const err = await engine.load().catch((x: unknown) => x);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(err).toMatchObject({ code: "TIMEOUT" });
    expect((err as Error).message).toContain("did not become ready within 2 s");
    expect(engine.state).toBe("failed");
    const pids = pidsInLog(engine.logFile);
    expect(pids.length).toBeGreaterThanOrEqual(1);
    await waitUntil(() => allGone(pids), 3000, "hung processes to be gone");
  });
});
