/**
 * The engine fails while serving. The embedded llama.cpp engine on a tiny model, with real native
 * failures under it: node-llama-cpp's context and model disposed through their own objects, and
 * llama_decode failing at the addon boundary; and a supervised vLLM (the stand-in) that crashes and
 * is restarted by the server. In-flight requests end with a clear error, /health turns 503 with the
 * reason, new requests fail fast, nothing hangs, no sequence is left held; then the engine restarts.
 */
import { copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaModel, type LlamaContext } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine, type LlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { createVllmEngine } from "../../src/engines/vllm.js";
import { startServer } from "../../src/server/index.js";
import { fakeVllmDir, makeNodeOnlyDir, pidsInLog } from "../helpers/fake-vllm.js";
import { expectOpenAiErrorBody, metricValue, rawRequest, sseData, waitFor } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

type Running = Awaited<ReturnType<typeof startServer>>;
const json = { "content-type": "application/json" };
const completion = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ prompt: "Hi", max_tokens: 40, ...extra });

/** A streaming request: `started` resolves at its first SSE event (it holds a sequence then),
 * `ended` with the whole body once the server closes it. */
function streamRequest(url: string, body: string): { started: Promise<void>; ended: Promise<string> } {
  let onStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const ended = new Promise<string>((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers: json, agent: false }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        if (text.includes("data: ")) onStarted();
      });
      res.on("end", () => resolve(text));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
  return { started, ended };
}

const health = async (server: Running) => {
  const r = await rawRequest(`${server.url}/health`, { method: "GET" });
  return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
};

const metrics = async (server: Running) =>
  (await rawRequest(`${server.url}/metrics`, { method: "GET" })).text;

/** A request that must be refused at once with 503 engine_failed; returns the message. */
async function expectFastFailure(server: Running, path = "/v1/completions"): Promise<string> {
  const started = performance.now();
  const r = await rawRequest(`${server.url}${path}`, {
    headers: json,
    // each route's own field: the other route's is refused (400) before the engine is asked
    body: JSON.stringify(
      path === "/v1/completions"
        ? { prompt: "Hi", max_tokens: 4 }
        : { messages: [{ role: "user", content: "Hi" }], max_tokens: 4 },
    ),
  });
  expect(performance.now() - started).toBeLessThan(1000);
  expect(r.status).toBe(503);
  const error = expectOpenAiErrorBody(r.text);
  expect(error).toMatchObject({ type: "server_error", code: "engine_failed" });
  return error.message;
}

describe("embedded llama.cpp engine with real native failures", () => {
  const dir = mkdtempSync(join(tmpdir(), "servelab-engine-faults-"));
  const modelPath = join(dir, "faulty.gguf");
  /** Every llama.cpp context the engine creates (it makes a new one on each restart). */
  const contexts: LlamaContext[] = [];
  const proto = LlamaModel.prototype as unknown as {
    createContext: (...args: unknown[]) => Promise<LlamaContext>;
  };
  const createContext = proto.createContext;
  let engine: LlamaCppEngine;
  let server: Running;
  const events: string[] = [];

  beforeAll(async () => {
    proto.createContext = async function (this: LlamaModel, ...args: unknown[]) {
      const context = await createContext.apply(this, args);
      contexts.push(context);
      return context;
    };
    copyFileSync(await tinyModel({ script: "alpha beta gamma delta epsilon zeta eta theta" }), modelPath);
    engine = createLlamaCppEngine({
      model: modelPath,
      modelId: "faulty",
      parallel: 2,
      threads: 1,
      contextSize: 512,
    });
    // No automatic restart here: the failed state must stay long enough to be looked at.
    server = await startServer({ engine, port: 0, onEngineEvent: (line) => events.push(line) });
    await server.ready;
  });

  afterAll(async () => {
    proto.createContext = createContext;
    await server?.close();
    await engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Makes the native decode of the current context fail `times` times with `message`, as the addon
   * reports a failed llama_decode (the rest of node-llama-cpp's batch dispatch runs as it is). */
  function failNativeDecode(message: string, times = 1): void {
    const native = (contexts.at(-1) as unknown as { _ctx: Record<string, unknown> })._ctx;
    const decodeBatch = (native["decodeBatch"] as () => Promise<void>).bind(native);
    let left = times;
    Object.defineProperty(native, "decodeBatch", {
      configurable: true,
      value: () => (left-- > 0 ? Promise.reject(new Error(message)) : decodeBatch()),
    });
  }

  it("keeps serving after errors of one request: a prompt too long, a batch with no KV slot", async () => {
    const long = await rawRequest(`${server.url}/v1/completions`, {
      headers: json,
      body: completion({ prompt: "alpha beta ".repeat(2000) }),
    });
    expect(long.status).toBe(400);
    expect(expectOpenAiErrorBody(long.text).code).toBe("context_length_exceeded");

    failNativeDecode(
      "could not find a KV slot for the batch (try reducing the size of the batch or increase the context)",
    );
    const slot = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
    expect(slot.status).toBe(503);
    expect(expectOpenAiErrorBody(slot.text).message).toMatch(/^the engine failed: could not find a KV slot/);

    expect((await health(server)).status).toBe(200);
    expect(engine.state).toBe("ready");
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
    const ok = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
    expect(ok.status).toBe(200);
  });

  it(
    "context disposed under the engine: in-flight and queued requests end at once, /health 503 with the reason, new requests fail fast; restart() serves again",
    { timeout: 120_000 },
    async () => {
      // Two requests generate (parallel 2), a third waits for a sequence.
      const streamed = streamRequest(
        `${server.url}/v1/completions`,
        completion({ stream: true, max_tokens: 400, ignore_eos: true }),
      );
      const plain = rawRequest(`${server.url}/v1/completions`, {
        headers: json,
        body: completion({ max_tokens: 400, ignore_eos: true }),
      });
      await streamed.started;
      await waitFor(() => (engine.stats().running === 2 ? true : undefined), 10_000, "two generations");
      const queued = rawRequest(`${server.url}/v1/chat/completions`, {
        headers: json,
        body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], max_tokens: 400 }),
      });
      await waitFor(() => (engine.stats().waiting === 1 ? true : undefined), 10_000, "a queued request");

      const disposed = performance.now();
      await contexts.at(-1)!.dispose();
      const reason = "the engine failed: the llama.cpp context was disposed";

      const [streamText, plainResponse, queuedResponse] = await Promise.all([streamed.ended, plain, queued]);
      // Nothing waits for a decode that will never come.
      expect(performance.now() - disposed).toBeLessThan(3000);
      const sse = sseData(streamText);
      expect(sse.at(-1)).toBe("[DONE]");
      expect(JSON.parse(sse.at(-2)!)).toEqual({
        error: { message: reason, type: "server_error", param: null, code: "engine_failed" },
      });
      for (const r of [plainResponse, queuedResponse]) {
        expect(r.status).toBe(503);
        expect(expectOpenAiErrorBody(r.text)).toMatchObject({ message: reason, code: "engine_failed" });
      }

      expect(engine.state).toBe("failed");
      // The server notices within its 200 ms poll, logs one line and counts it.
      await waitFor(() => (events.length === 1 ? true : undefined), 5000, "the failure to be logged");
      expect(events).toEqual([
        `${reason}; not restarting it (/health answers 503 until the server is restarted)`,
      ]);
      expect(await health(server)).toEqual({
        status: 503,
        body: { status: "failed", error: reason, restart: { attempt: 0, attempts: 3, phase: "off" } },
      });
      expect(await expectFastFailure(server)).toBe(reason);
      expect(await expectFastFailure(server, "/v1/chat/completions")).toBe(reason);
      expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
      const text = await metrics(server);
      expect(metricValue(text, "servelab_engine_up")).toBe(0);
      expect(metricValue(text, "servelab_engine_failures_total")).toBe(1);
      expect(metricValue(text, "servelab_requests_running")).toBe(0);
      // What the failure left (the model) is released, not kept until a restart.
      await waitFor(() => (contexts.at(-1)!.model.disposed ? true : undefined), 10_000, "the model released");

      await engine.restart();
      expect(contexts.at(-1)!.disposed).toBe(false);
      expect(await health(server)).toEqual({ status: 200, body: { status: "ok" } });
      const ok = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text).usage.completion_tokens).toBeGreaterThan(0);
    },
  );

  it(
    "restarts by itself (restartFailedEngine): the model disposed mid-stream, then a decode that fails natively",
    { timeout: 120_000 },
    async () => {
      await server.close();
      events.length = 0;
      server = await startServer({
        engine,
        port: 0,
        restartFailedEngine: true,
        // stableMs 0: each failure below starts a new count (a failure sooner after a restart goes on
        // with the old count, so a crash loop ends).
        restartPolicy: { attempts: 2, delayMs: 100, stableMs: 0 },
        onEngineEvent: (line) => events.push(line),
      });
      await server.ready;

      const streamed = streamRequest(
        `${server.url}/v1/completions`,
        completion({ stream: true, max_tokens: 400, ignore_eos: true }),
      );
      await streamed.started;
      await contexts.at(-1)!.model.dispose();
      const modelReason = "the engine failed: the llama.cpp model was disposed";
      expect(JSON.parse(sseData(await streamed.ended).at(-2)!)).toMatchObject({
        error: { message: modelReason, code: "engine_failed" },
      });
      await waitFor(
        async () => ((await health(server)).status === 200 ? true : undefined),
        60_000,
        "a restart",
      );
      const ok = await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() });
      expect(ok.status).toBe(200);

      // llama_decode failing with a compute or allocation error: fatal, restarted the same way.
      failNativeDecode("Eval has failed");
      const evalFailed = await rawRequest(`${server.url}/v1/completions`, {
        headers: json,
        body: completion(),
      });
      expect(evalFailed.status).toBe(503);
      expect(expectOpenAiErrorBody(evalFailed.text)).toMatchObject({
        message: "the engine failed: Eval has failed",
        code: "engine_failed",
      });
      await waitFor(
        async () => ((await health(server)).status === 200 ? true : undefined),
        60_000,
        "a restart",
      );
      expect(
        (await rawRequest(`${server.url}/v1/completions`, { headers: json, body: completion() })).status,
      ).toBe(200);

      expect(events).toEqual([
        `${modelReason}; restarting it (attempt 1 of 2)`,
        expect.stringMatching(/^engine restart: ready again in \d+\.\d s \(attempt 1 of 2\)$/),
        "the engine failed: Eval has failed; restarting it (attempt 1 of 2)",
        expect.stringMatching(/^engine restart: ready again in \d+\.\d s \(attempt 1 of 2\)$/),
      ]);
      const text = await metrics(server);
      expect(metricValue(text, "servelab_engine_up")).toBe(1);
      expect(metricValue(text, "servelab_engine_failures_total")).toBe(2);
      expect(metricValue(text, 'servelab_engine_restarts_total{result="ok"}')).toBe(2);
      expect(metricValue(text, 'servelab_engine_restarts_total{result="failed"}')).toBe(0);
    },
  );

  it(
    "gives up after the attempts when the restart keeps failing, and says so on /health",
    { timeout: 120_000 },
    async () => {
      events.length = 0;
      renameSync(modelPath, `${modelPath}.gone`);
      try {
        await contexts.at(-1)!.dispose();
        await waitFor(
          async () => {
            const { body } = await health(server);
            return (body.restart as { phase?: string } | undefined)?.phase === "gave-up" ? true : undefined;
          },
          30_000,
          "the restarts to give up",
        );
        const { status, body } = await health(server);
        expect(status).toBe(503);
        expect(body).toMatchObject({
          status: "failed",
          error: "the engine failed: the llama.cpp context was disposed",
          restart: {
            attempt: 2,
            attempts: 2,
            phase: "gave-up",
            last_error: expect.stringMatching(/^model file not found: /),
          },
        });
        await expectFastFailure(server);
        expect(events).toEqual([
          "the engine failed: the llama.cpp context was disposed; restarting it (attempt 1 of 2)",
          expect.stringMatching(
            /^engine restart: attempt 1 of 2 failed: model file not found: .*; next in 0\.1 s$/,
          ),
          expect.stringMatching(/^engine restart: attempt 2 of 2 failed: model file not found: /),
          "engine restart: gave up after 2 attempts; /health answers 503 until the server is restarted",
        ]);
        expect(metricValue(await metrics(server), 'servelab_engine_restarts_total{result="failed"}')).toBe(2);
      } finally {
        renameSync(`${modelPath}.gone`, modelPath);
      }
      await engine.restart();
      expect((await health(server)).status).toBe(200);
    },
  );
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
