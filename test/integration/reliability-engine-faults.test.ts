/**
 * The engine fails: a native error in the middle of a generation, an engine that died (the real
 * llama.cpp engine on a tiny model, failures injected around it), and a supervised vLLM (the
 * stand-in) that crashes while serving and is restarted by the server. /health turns 503, requests
 * fail fast with a clear error, nothing hangs, no sequence is left held.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { createVllmEngine } from "../../src/engines/vllm.js";
import { startServer } from "../../src/server/index.js";
import { faultyEngine, type FaultyEngine } from "../helpers/engines.js";
import { fakeVllmDir, makeNodeOnlyDir, pidsInLog } from "../helpers/fake-vllm.js";
import { expectOpenAiErrorBody, rawRequest, sseData, waitFor } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

type Running = Awaited<ReturnType<typeof startServer>>;
const json = { "content-type": "application/json" };
const completion = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ prompt: "Hi", max_tokens: 40, ...extra });

describe("embedded engine failures", () => {
  let real: ReturnType<typeof createLlamaCppEngine>;
  let engine: FaultyEngine;
  let server: Running;

  beforeAll(async () => {
    const model = await tinyModel({ script: "alpha beta gamma delta epsilon zeta eta theta" });
    real = createLlamaCppEngine({ model, modelId: "faulty", parallel: 2, threads: 1, contextSize: 256 });
    engine = faultyEngine(real);
    server = await startServer({ engine, port: 0 });
    await server.ready;
  });

  afterAll(async () => {
    await server?.close();
    await real?.dispose();
  });

  it.each([
    ["a native assertion", "GGML_ASSERT(n_tokens_all <= cparams.n_batch) failed"],
    [
      "an out-of-memory error",
      "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer (out of memory)",
    ],
  ])("turns %s mid-generation into a clear 503 and frees the sequence", async (_what, message) => {
    engine.failNext(new Error(message), 3);
    const r = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
    expect(r.status).toBe(503);
    const error = expectOpenAiErrorBody(r.text);
    expect(error.type).toBe("server_error");
    expect(error.message).toBe(`the engine failed: ${message}`);
    expect(real.stats()).toMatchObject({ running: 0, waiting: 0 });

    // Streaming: the failure becomes the last event before [DONE].
    engine.failNext(new Error(message), 3);
    const s = await rawRequest(`${server.url}/v1/completions`, {
      headers: json,
      body: completion({ stream: true }),
    });
    expect(s.status).toBe(200);
    const events = sseData(s.text);
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { message: `the engine failed: ${message}` } });
    expect(real.stats()).toMatchObject({ running: 0, waiting: 0 });

    const ok = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
    expect(ok.status).toBe(200);
  });

  it("reports 503 on /health and fails requests fast while the engine is dead", async () => {
    engine.kill("llama.cpp context lost");
    try {
      const health = await rawRequest(`${server.url}/health`, { method: "GET" });
      expect(health.status).toBe(503);
      expect(JSON.parse(health.text)).toMatchObject({ status: "failed" });
      for (const [path, body] of [
        ["/v1/completions", { prompt: "Hi" }],
        ["/v1/chat/completions", { messages: [{ role: "user", content: "Hi" }] }],
      ] as const) {
        const started = performance.now();
        // Each route's own field: the other route's is refused (400) before the engine is asked.
        const r = await rawRequest(`${server.url}${path}`, { headers: json, body: JSON.stringify(body) });
        expect(performance.now() - started).toBeLessThan(1000);
        expect(r.status).toBe(503);
        expect(expectOpenAiErrorBody(r.text).message).toMatch(/the model failed/);
      }
    } finally {
      engine.revive();
    }
    expect((await rawRequest(`${server.url}/health`, { method: "GET" })).status).toBe(200);
  });
});

describe("supervised vLLM (stand-in) that crashes while serving", () => {
  const logDir = mkdtempSync(join(tmpdir(), "servelab-faults-"));
  const nodeDir = makeNodeOnlyDir();
  let engine: ReturnType<typeof createVllmEngine>;
  let server: Running;

  beforeAll(async () => {
    engine = createVllmEngine({
      model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
      maxModelLen: 4096,
      env: {
        PATH: `${fakeVllmDir}:${nodeDir}`,
        FAKE_VLLM_FAIL: "crash",
        FAKE_VLLM_CRASH_AFTER_TOKENS: "3",
        // Slow enough to start that the server is seen unhealthy while it restarts.
        FAKE_VLLM_READY_DELAY_MS: "1500",
      },
      logFile: join(logDir, "vllm.log"),
      stopGraceMs: 3000,
      startupTimeoutMs: 20_000,
    });
    server = await startServer({ engine, port: 0, restartFailedEngine: true });
    await server.ready;
  });

  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
    for (const pid of pidsInLog(join(logDir, "vllm.log")))
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone, as it should be */
      }
    rmSync(logDir, { recursive: true, force: true });
  });

  it(
    "fails the request with a clear error, turns /health 503, fails fast, then restarts",
    { timeout: 60_000 },
    async () => {
      const firstPid = engine.pid;
      expect(firstPid).toBeTypeOf("number");
      const chat = (maxTokens: number, stream = false) =>
        rawRequest(`${server.url}/v1/chat/completions`, {
          headers: json,
          body: JSON.stringify({
            messages: [{ role: "user", content: "2+2?" }],
            max_tokens: maxTokens,
            stream,
          }),
        });

      const started = performance.now();
      const crashed = await chat(50, true);
      expect(performance.now() - started).toBeLessThan(10_000);
      const events = sseData(crashed.text);
      expect(events.at(-1)).toBe("[DONE]");
      expect(JSON.parse(events.at(-2)!)).toMatchObject({
        error: { message: expect.stringMatching(/vLLM .*while serving/) },
      });

      // Unhealthy until the restart completes; requests meanwhile fail at once with 503.
      const health = await rawRequest(`${server.url}/health`, { method: "GET" });
      expect(health.status).toBe(503);
      expect(JSON.parse(health.text).status).toMatch(/failed|restarting|loading/);
      const t = performance.now();
      const meanwhile = await chat(2);
      expect(performance.now() - t).toBeLessThan(1000);
      expect(meanwhile.status).toBe(503);
      expectOpenAiErrorBody(meanwhile.text);

      await waitFor(
        async () =>
          (await rawRequest(`${server.url}/health`, { method: "GET" })).status === 200 ? true : undefined,
        20_000,
        "vLLM to be restarted",
      );
      expect(engine.pid).toBeTypeOf("number");
      expect(engine.pid).not.toBe(firstPid);
      // Two tokens: below the stand-in's crash point, so the restarted engine answers.
      const after = await chat(2);
      expect(after.status).toBe(200);
    },
  );
});
