import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  ContextLengthExceededError,
  EngineError,
  ModelNotFoundError,
  UpstreamError,
} from "../../../src/core/errors.js";
import type { GenerateEvent, GenerateRequest } from "../../../src/engines/engine.js";
import { createUpstreamEngine, mapFinishReason, scrapeMetrics } from "../../../src/engines/upstream.js";
import type { UpstreamEngine } from "../../../src/engines/upstream.js";
import { startUpstreamServer } from "../../helpers/upstream-server.js";
import type { UpstreamServer, UpstreamServerOptions } from "../../helpers/upstream-server.js";

let server: UpstreamServer | undefined;
let engine: UpstreamEngine | undefined;
afterEach(async () => {
  await engine?.dispose();
  await server?.close();
  engine = undefined;
  server = undefined;
});

async function setUp(serverOptions: UpstreamServerOptions = {}, model?: string): Promise<UpstreamEngine> {
  server = await startUpstreamServer(serverOptions);
  engine = createUpstreamEngine({
    baseUrl: server.baseUrl,
    apiKey: "sk-test",
    precision: "q4_0",
    parallel: 4,
    ...(model === undefined ? {} : { model }),
  });
  await engine.load();
  return engine;
}

const chatRequest = (extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  input: { type: "chat", messages: [{ role: "user", content: "Say hello" }] },
  maxTokens: 50,
  sampling: {},
  ...extra,
});

async function collect(events: AsyncIterable<GenerateEvent>): Promise<GenerateEvent[]> {
  const out: GenerateEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe("createUpstreamEngine against a llama-server-shaped server", () => {
  it("loads: picks the first model, reads n_ctx from /props, reports info", async () => {
    const e = await setUp({ nCtx: 3072 });
    expect(e.state).toBe("ready");
    expect(e.flavor).toBe("llama.cpp");
    expect(e.info()).toMatchObject({
      kind: "upstream",
      modelId: "phi-3-mini-4k-instruct-q4.gguf",
      source: server?.baseUrl,
      contextSize: 3072,
      parallel: 4,
      precision: "q4_0",
    });
    expect(e.stats().loadTimeMs).toBeGreaterThan(0);
    expect(server?.requests.find((r) => r.path === "/v1/models")?.headers["authorization"]).toBe(
      "Bearer sk-test",
    );
  });

  it("streams chat with reasoning on the reasoning channel, 1 token per chunk without continuous usage", async () => {
    const e = await setUp({ reasoningField: "reasoning" });
    const events = await collect(
      e.generate(
        chatRequest({
          sampling: { temperature: 0.6, topP: 0.95, seed: 7, repeatPenalty: 1.1 },
          stop: ["</x>"],
        }),
      ),
    );
    expect(events[0]).toMatchObject({ type: "start" });
    const texts = events.filter((ev) => ev.type === "text");
    expect(texts.map((t) => [t.text, t.channel ?? "content", t.tokens])).toEqual([
      ["Thinking", "reasoning", 1],
      [" hard", "reasoning", 1],
      [".", "reasoning", 1],
      ["Hello", "content", 1],
      [" there", "content", 1],
      ["!", "content", 1],
    ]);
    expect(events.at(-1)).toMatchObject({
      type: "done",
      finishReason: "stop",
      completionTokens: 6,
      promptTokens: 3,
    });
    const sent = server?.requests.find((r) => r.path === "/v1/chat/completions")?.body;
    expect(sent).toMatchObject({
      model: "phi-3-mini-4k-instruct-q4.gguf",
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
      max_tokens: 50,
      temperature: 0.6,
      top_p: 0.95,
      seed: 7,
      repetition_penalty: 1.1,
      repeat_penalty: 1.1,
      stop: ["</x>"],
    });
    expect(e.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("takes reasoning from delta.thinking too, and token counts from continuous usage", async () => {
    const e = await setUp({ reasoningField: "thinking", continuousUsage: true });
    const events = await collect(e.generate(chatRequest()));
    const reasoning = events.filter((ev) => ev.type === "text" && ev.channel === "reasoning");
    expect(reasoning.map((ev) => (ev.type === "text" ? ev.text : ""))).toEqual(["Thinking", " hard", "."]);
    // Start comes when the upstream accepts the request, before it reports the prompt's tokens: they come
    // with the first text event, once.
    expect(events[0]).toMatchObject({ type: "start", promptTokens: 0 });
    expect(events[1]).toMatchObject({ type: "text", promptTokens: 3 });
    expect(events.slice(2).some((ev) => ev.type === "text" && ev.promptTokens !== undefined)).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: "done", promptTokens: 3 });
  });

  it("can leave continuous usage stats out for servers that reject unknown fields", async () => {
    server = await startUpstreamServer();
    engine = createUpstreamEngine({ baseUrl: server.baseUrl, continuousUsageStats: false });
    await engine.load();
    await collect(engine.generate(chatRequest()));
    const sent = server.requests.find((r) => r.path === "/v1/chat/completions")?.body;
    expect(sent?.["stream_options"]).toEqual({ include_usage: true });
  });

  it("streams text completions from /v1/completions with length finish and ignore_eos", async () => {
    const e = await setUp();
    const events = await collect(
      e.generate({ input: { type: "text", text: "Once upon" }, maxTokens: 2, sampling: {}, ignoreEos: true }),
    );
    expect(
      events.filter((ev) => ev.type === "text").map((ev) => (ev.type === "text" ? ev.text : "")),
    ).toEqual(["Hello", " there"]);
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "length", completionTokens: 2 });
    const sent = server?.requests.find((r) => r.path === "/v1/completions")?.body;
    expect(sent).toMatchObject({ prompt: "Once upon", ignore_eos: true, max_tokens: 2 });
  });

  it("breaking out of the loop cancels the upstream request", async () => {
    const e = await setUp({ tokenDelayMs: 50, answer: Array.from({ length: 100 }, () => " x") });
    for await (const ev of e.generate(chatRequest({ maxTokens: 100 }))) {
      if (ev.type === "text") break;
    }
    const deadline = Date.now() + 2000;
    while (server?.cancelled() !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server?.cancelled()).toBe(1);
    expect(server?.active()).toBe(0);
    expect(e.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("an aborted signal ends with finishReason abort and cancels upstream", async () => {
    const e = await setUp({ tokenDelayMs: 50, answer: Array.from({ length: 100 }, () => " x") });
    const controller = new AbortController();
    const events: GenerateEvent[] = [];
    for await (const ev of e.generate(chatRequest({ maxTokens: 100, signal: controller.signal }))) {
      events.push(ev);
      if (ev.type === "text") controller.abort();
    }
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "abort" });
    expect(events.length).toBeLessThan(10);
    const deadline = Date.now() + 2000;
    while (server?.cancelled() !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server?.cancelled()).toBe(1);
  });

  it("an abort while the request waits for a free connection ends it at once", async () => {
    server = await startUpstreamServer({ tokenDelayMs: 100, answer: Array.from({ length: 20 }, () => " x") });
    engine = createUpstreamEngine({ baseUrl: server.baseUrl, connections: 1 });
    await engine.load();
    const first = collect(engine.generate(chatRequest()));
    const controller = new AbortController();
    const t0 = performance.now();
    setTimeout(() => controller.abort(), 100);
    // The one connection streams the first request for about 2 s; the second waits behind it.
    const events = await collect(engine.generate(chatRequest({ signal: controller.signal })));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(events.map((e) => e.type)).toEqual(["start", "done"]);
    expect(events.at(-1)).toMatchObject({ finishReason: "abort" });
    expect((await first).at(-1)).toMatchObject({ type: "done", finishReason: "stop" });
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("reuses keep-alive connections across sequential requests", async () => {
    const e = await setUp();
    await collect(e.generate(chatRequest()));
    const afterFirst = server?.sockets() ?? 0;
    for (let i = 0; i < 5; i++) await collect(e.generate(chatRequest()));
    // Five more generations open no new connection.
    expect(server?.sockets()).toBe(afterFirst);
    expect(afterFirst).toBeLessThanOrEqual(2);
  });

  it("maps llama-server's context error to ContextLengthExceededError before any event", async () => {
    const e = await setUp({ nCtx: 4 });
    const events: GenerateEvent[] = [];
    const run = async (): Promise<void> => {
      for await (const ev of e.generate(
        chatRequest({ input: { type: "chat", messages: [{ role: "user", content: "a b c d e f" }] } }),
      ))
        events.push(ev);
    };
    await expect(run()).rejects.toBeInstanceOf(ContextLengthExceededError);
    expect(events).toEqual([]);
  });

  it("maps other upstream errors to UpstreamError with the status", async () => {
    const e = await setUp({
      failWith: { status: 429, body: { error: { message: "slots busy", code: 429 } } },
    });
    const err = await collect(e.generate(chatRequest())).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status: 429, code: "UPSTREAM_FAILED" });
    expect((err as Error).message).toContain("slots busy");
  });

  it("a stream cut mid-way fails with a clear UpstreamError", async () => {
    const e = await setUp({ dropAfterTokens: 2 });
    const err = await collect(e.generate(chatRequest())).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(/broke off|ended without/);
    expect(e.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("counts tokens through llama-server's /tokenize", async () => {
    const e = await setUp();
    expect(await e.countTokens("one two three")).toBe(4);
    expect(server?.requests.find((r) => r.path === "/tokenize")?.body).toEqual({ content: "one two three" });
  });

  it("scrapes llama-server metrics", async () => {
    await setUp();
    const metrics = await scrapeMetrics(server?.baseUrl ?? "");
    expect(metrics).toMatchObject({ flavor: "llama.cpp", kvCacheUsage: 0.5, running: 0, waiting: 2 });
  });
});

describe("createUpstreamEngine reading a stream", () => {
  it("a reader far behind the upstream gets every event in order (the socket pauses and resumes)", async () => {
    // A server that writes a whole long stream at once, faster than the reader takes it.
    const n = 5000;
    const raw = createServer((req, res) => {
      if (req.url === "/v1/models") {
        res.end(JSON.stringify({ data: [{ id: "burst" }] }));
        return;
      }
      if (req.url !== "/v1/completions") {
        res.statusCode = 404;
        res.end();
        return;
      }
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let out = "";
        for (let i = 0; i < n; i++)
          out += `data: {"choices":[{"index":0,"text":"${i} ","finish_reason":${i === n - 1 ? '"length"' : "null"}}]}\n\n`;
        res.end(`${out}data: [DONE]\n\n`);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    try {
      engine = createUpstreamEngine({
        baseUrl: `http://127.0.0.1:${(raw.address() as AddressInfo).port}/v1`,
      });
      await engine.load();
      const texts: string[] = [];
      let last: GenerateEvent | undefined;
      for await (const ev of engine.generate({
        input: { type: "text", text: "go" },
        maxTokens: n,
        sampling: {},
      })) {
        if (ev.type === "text") {
          // Fall behind at the start, so the whole stream piles up in the reader's queue.
          if (texts.length === 0) await new Promise((r) => setTimeout(r, 200));
          texts.push(ev.text);
        }
        last = ev;
      }
      expect(texts).toHaveLength(n);
      expect(texts.every((t, i) => t === `${i} `)).toBe(true);
      expect(last).toMatchObject({ type: "done", finishReason: "length", completionTokens: n });
    } finally {
      raw.closeAllConnections();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
  });
});

describe("createUpstreamEngine load failures", () => {
  it("says clearly when nothing listens at the URL", async () => {
    const s = await startUpstreamServer();
    const deadUrl = s.baseUrl;
    await s.close();
    engine = createUpstreamEngine({ baseUrl: deadUrl });
    const err = await engine.load().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toContain(`cannot reach the upstream server at ${deadUrl}`);
    expect((err as Error).message).toContain("ECONNREFUSED");
    expect(engine.state).toBe("failed");
  });

  it("reports a server that is still loading (503 on /health)", async () => {
    server = await startUpstreamServer({ health: 503 });
    engine = createUpstreamEngine({ baseUrl: server.baseUrl });
    await expect(engine.load()).rejects.toMatchObject({
      status: 503,
      message: expect.stringContaining("not healthy") as unknown,
    });
  });

  it("works without /health, and rejects a model the server does not list", async () => {
    server = await startUpstreamServer({ health: "none" });
    engine = createUpstreamEngine({ baseUrl: server.baseUrl, model: "nope" });
    const err = await engine.load().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ModelNotFoundError);
    expect((err as Error).message).toContain("phi-3-mini-4k-instruct-q4.gguf");
  });

  it("hints at the API key on 401", async () => {
    server = await startUpstreamServer({ modelsStatus: 401 });
    engine = createUpstreamEngine({ baseUrl: server.baseUrl });
    await expect(engine.load()).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining("API key") as unknown,
    });
  });

  it("refuses to generate before load", async () => {
    engine = createUpstreamEngine({ baseUrl: "http://127.0.0.1:9/v1" });
    await expect(collect(engine.generate(chatRequest()))).rejects.toBeInstanceOf(EngineError);
  });
});

describe("mapFinishReason", () => {
  it("maps upstream reasons", () => {
    expect(mapFinishReason("length")).toBe("length");
    expect(mapFinishReason("abort")).toBe("abort");
    expect(mapFinishReason("tool_calls")).toBe("stop");
    expect(mapFinishReason("stop")).toBe("stop");
  });
});
