/**
 * Load and faults on the real engine (a scripted tiny model in llama.cpp) behind a real socket:
 * 1,000 streams at concurrency 64 with one client in five disconnecting mid-stream, a full queue,
 * the request deadline, and the per-client limit.
 */
import { Agent, request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { startServer } from "../../src/server/index.js";
import { throttleEngine } from "../helpers/engines.js";
import { expectOpenAiErrorBody, metricValue, rawRequest, sseData, waitFor } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

type Running = Awaited<ReturnType<typeof startServer>>;
type LlamaEngine = ReturnType<typeof createLlamaCppEngine>;

const script = "All good.";

/** A small deterministic PRNG, so a failing run can be repeated. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { kind: "completed"; status: number; body: string } | { kind: "disconnected" };

/**
 * One streaming completion. With `disconnectAfterBytes` the client destroys its socket once that
 * many response bytes arrived (0: before any), or after `disconnectAfterMs` if that comes first.
 */
function streamOnce(
  url: string,
  agent: Agent,
  disconnect: { afterBytes: number; afterMs: number } | undefined,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ prompt: "Hi", stream: true, max_tokens: 16, temperature: 0 });
    const req = httpRequest(
      `${url}/v1/completions`,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          bytes += c.length;
          if (disconnect !== undefined && bytes >= disconnect.afterBytes) cut();
        });
        res.on("end", () =>
          resolve({ kind: "completed", status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        res.on("error", () => undefined);
      },
    );
    let done = false;
    const cut = () => {
      if (done) return;
      done = true;
      req.destroy();
      resolve({ kind: "disconnected" });
    };
    req.on("error", (err) => (done ? undefined : reject(err)));
    req.end(body);
    if (disconnect !== undefined) setTimeout(cut, disconnect.afterMs);
  });
}

describe("1,000 streams at concurrency 64, one in five clients disconnecting", () => {
  let server: Running;
  let engine: LlamaEngine;

  beforeAll(async () => {
    const model = await tinyModel({ script });
    engine = createLlamaCppEngine({
      model,
      modelId: "load",
      parallel: 8,
      threads: 1,
      contextSize: 128,
      maxQueue: 1000,
    });
    // Aborted requests of clients that left linger for a decode step: no 429 from the per-client limit.
    server = await startServer({ engine, port: 0, limits: { maxConcurrentPerClient: 1000 } });
    await server.ready;
  });

  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
  });

  it("completes every other request correctly and leaks no sequence", { timeout: 300_000 }, async () => {
    const random = mulberry32(7);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const total = 1000;
    const plans = Array.from({ length: total }, () =>
      random() < 0.2
        ? // Anywhere from before the headers to the last chunk (a whole stream is ~1.5 kB).
          { afterBytes: Math.floor(random() * 1200), afterMs: 1 + Math.floor(random() * 60) }
        : undefined,
    );
    const outcomes: Outcome[] = new Array<Outcome>(total);
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        outcomes[i] = await streamOnce(server.url, agent, plans[i]);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    agent.destroy();

    let completed = 0;
    for (let i = 0; i < total; i++) {
      const outcome = outcomes[i]!;
      if (plans[i] !== undefined) continue; // a client that left may or may not have seen the end
      expect(outcome.kind).toBe("completed");
      if (outcome.kind !== "completed") continue;
      expect(outcome.status).toBe(200);
      const events = sseData(outcome.body);
      expect(events.at(-1)).toBe("[DONE]");
      const chunks = events
        .slice(0, -1)
        .map((e) => JSON.parse(e) as { choices: { text: string; finish_reason: string | null }[] });
      expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(script);
      expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
      completed++;
    }
    expect(completed).toBe(plans.filter((p) => p === undefined).length);
    expect(completed).toBeGreaterThan(700);

    // Nothing running, nothing waiting, no request the server still counts as in flight.
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return metricValue(text, "servelab_requests_running") === 0 &&
          metricValue(text, "servelab_requests_waiting") === 0
          ? text
          : undefined;
      },
      10_000,
      "no running or waiting sequence",
    );
    expect(metricValue(metrics, "servelab_requests_running")).toBe(0);
    expect(server.inflight()).toBe(0);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
    // The disconnects that happened mid-generation were counted as aborts.
    expect(metrics).toMatch(/servelab_finished_total\{reason="abort"\} [1-9]/);

    // Every sequence is usable again: 8 parallel requests all complete.
    const again = await Promise.all(
      Array.from({ length: 8 }, () =>
        rawRequest(`${server.url}/v1/completions`, {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt: "Hi", max_tokens: 16 }),
        }),
      ),
    );
    for (const r of again) {
      expect(r.status).toBe(200);
      expect((JSON.parse(r.text) as { choices: { text: string }[] }).choices[0]?.text).toBe(script);
    }
  });
});

describe("queue full, request deadline and per-client limit", () => {
  let engine: LlamaEngine;
  let server: Running;
  let open: Running;
  let limited: Running;
  // 10 ms per token on a throttled engine: a long request holds its sequence for seconds on any machine.
  const long = { prompt: "Hi", max_tokens: 600 };

  beforeAll(async () => {
    const model = await tinyModel({
      script: "one two three four five six seven eight nine ten. ".repeat(30),
    });
    engine = createLlamaCppEngine({
      model,
      modelId: "slow",
      parallel: 1,
      threads: 1,
      contextSize: 1024,
      maxQueue: 1,
    });
    const slow = throttleEngine(engine, 10);
    server = await startServer({ engine: slow, port: 0, requestTimeoutMs: 400 });
    await server.ready;
    open = await startServer({ engine: slow, port: 0 });
    await open.ready;
    limited = await startServer({ engine: slow, port: 0, limits: { maxConcurrentPerClient: 1 } });
    await limited.ready;
  });

  afterAll(async () => {
    await limited?.close();
    await open?.close();
    await server?.close();
    await engine?.dispose();
  });

  it("answers 429 with Retry-After when every sequence is busy and the queue is full", async () => {
    const controller = new AbortController();
    const post = () =>
      fetch(`${open.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...long, stream: true }),
        signal: controller.signal,
      });
    const running = post();
    await waitFor(() => (engine.stats().running === 1 ? true : undefined), 5000, "the first request to run");
    const queued = post();
    await waitFor(() => (engine.stats().waiting === 1 ? true : undefined), 5000, "the second to queue");
    const full = await rawRequest(`${open.url}/v1/completions`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Hi", max_tokens: 4 }),
    });
    expect(full.status).toBe(429);
    expect(Number(full.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    const error = expectOpenAiErrorBody(full.text);
    expect(error.type).toBe("rate_limit_error");
    expect(error.code).toBe("queue_full");
    controller.abort();
    await running.catch(() => undefined);
    await queued.catch(() => undefined);
    await waitFor(() => (engine.stats().running === 0 && engine.stats().waiting === 0 ? true : undefined));
  });

  it("answers 429 when one client has too many requests at once", async () => {
    const controller = new AbortController();
    const first = fetch(`${limited.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...long, stream: true }),
      signal: controller.signal,
    });
    await waitFor(() => (engine.stats().running === 1 ? true : undefined), 5000, "the first request to run");
    const second = await rawRequest(`${limited.url}/v1/completions`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Hi", max_tokens: 4 }),
    });
    expect(second.status).toBe(429);
    expect(second.headers["retry-after"]).toBeDefined();
    expect(expectOpenAiErrorBody(second.text).message).toMatch(/this client already has 1 request/);
    controller.abort();
    await first.catch(() => undefined);
    await waitFor(() => (engine.stats().running === 0 ? true : undefined));
    // The slot is free again and the client's count went back to zero.
    const after = await rawRequest(`${limited.url}/v1/completions`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Hi", max_tokens: 4 }),
    });
    expect(after.status).toBe(200);
  });

  it("answers 504 at the deadline and aborts the generation", async () => {
    const aborts = async () =>
      metricValue(
        await (await fetch(`${server.url}/metrics`)).text(),
        'servelab_finished_total{reason="abort"}',
      ) ?? 0;
    const before = await aborts();
    const started = performance.now();
    const r = await rawRequest(`${server.url}/v1/completions`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify(long),
    });
    const elapsed = performance.now() - started;
    expect(r.status).toBe(504);
    const error = expectOpenAiErrorBody(r.text);
    expect(error.type).toBe("timeout_error");
    expect(error.code).toBe("request_timeout");
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(3000);
    // Aborted, not left running in the background: the sequence is free at once.
    await waitFor(() => (engine.stats().running === 0 ? true : undefined), 1000, "the sequence to be freed");
    expect(await aborts()).toBe(before + 1);

    // Streaming: the deadline becomes a final error event, then [DONE].
    const s = await rawRequest(`${server.url}/v1/completions`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...long, stream: true }),
    });
    expect(s.status).toBe(200);
    const events = sseData(s.text);
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2)!)).toMatchObject({
      error: { type: "timeout_error", code: "request_timeout" },
    });
    await waitFor(() => (engine.stats().running === 0 ? true : undefined), 1000, "the sequence to be freed");
  });

  it("shuts down gracefully: drains within the grace period, aborts the rest with 503, refuses new connections", async () => {
    const closing = await startServer({ engine: throttleEngine(engine, 10), port: 0 });
    await closing.ready;
    const post = (maxTokens: number) =>
      rawRequest(`${closing.url}/v1/completions`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "Hi", max_tokens: maxTokens }),
      });
    // One sequence: the short request runs (about 50 ms), the long one waits, then runs for seconds.
    const short = post(5);
    await waitFor(() => (engine.stats().running === 1 ? true : undefined), 5000, "the short request to run");
    const long = post(600);
    await waitFor(() => (closing.inflight() === 2 ? true : undefined), 5000, "both requests in flight");
    const started = performance.now();
    const result = await closing.shutdown({ graceMs: 600 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(result).toEqual({ drained: 1, aborted: 1 });
    expect((await short).status).toBe(200);
    const aborted = await long;
    expect(aborted.status).toBe(503);
    expect(expectOpenAiErrorBody(aborted.text).message).toBe("the server is shutting down");
    await expect(post(1)).rejects.toThrow(/ECONNREFUSED/);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
  });
});
