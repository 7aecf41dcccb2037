/**
 * The gateway end to end: `servelab serve --engine url:...` is the server in front of the upstream engine,
 * attached to an OpenAI-compatible server on a real socket. What a client sees streamed, chunk by chunk:
 * the model profile's reasoning split (also across upstream chunk boundaries), usage, finish reasons,
 * errors in the middle of a stream as a final event, and the upstream request cancelled when the client
 * leaves.
 */
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startScriptedServer } from "../../src/bench/testing/scripted-server.js";
import { createUpstreamEngine } from "../../src/engines/upstream.js";
import { startServer } from "../../src/server/index.js";
import { metricValue, rawRequest, sseData, waitFor } from "../helpers/http.js";
import { startUpstreamServer, type UpstreamServerOptions } from "../helpers/upstream-server.js";

type Running = Awaited<ReturnType<typeof startServer>>;
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function startGateway(baseUrl: string): Promise<Running> {
  const engine = createUpstreamEngine({ baseUrl });
  const server = await startServer({ engine, port: 0 });
  cleanup.push(
    () => engine.dispose(),
    () => server.close(),
  );
  await server.ready;
  return server;
}

async function gatewayOver(options: UpstreamServerOptions) {
  const upstream = await startUpstreamServer(options);
  cleanup.push(() => upstream.close());
  return { upstream, server: await startGateway(upstream.baseUrl) };
}

const post = (url: string, body: unknown) =>
  rawRequest(url, { headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** The parsed events of an SSE body, `[DONE]` kept as the string. */
function events(text: string): unknown[] {
  return sseData(text).map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
}

/** Sends `raw` on one new connection (not half-closed: Node's server drops the requests of a client that
 * ended its side) and resolves with every byte the server sent until it closed the connection. */
function exchange(url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(raw));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
  });
}

/** Splits HTTP/1.1 responses sent one after another on a connection, decoding each chunked body; throws
 * on a chunk whose size line does not match its bytes. */
function chunkedResponses(text: string): Array<{ head: string; body: string }> {
  const bytes = Buffer.from(text);
  const out: Array<{ head: string; body: string }> = [];
  let at = 0;
  while (at < bytes.length) {
    const headEnd = bytes.indexOf("\r\n\r\n", at);
    if (headEnd < 0) throw new Error(`no response head at byte ${at}`);
    const head = bytes.toString("utf8", at, headEnd);
    if (!/\r\ntransfer-encoding: chunked/i.test(head)) throw new Error(`not chunked: ${head}`);
    at = headEnd + 4;
    const body: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf("\r\n", at);
      const size = Number.parseInt(bytes.toString("latin1", at, lineEnd), 16);
      if (!Number.isInteger(size)) throw new Error(`bad chunk size line at byte ${at}`);
      at = lineEnd + 2;
      if (size === 0) {
        if (bytes.toString("latin1", at, at + 2) !== "\r\n")
          throw new Error("no blank line after the last chunk");
        at += 2;
        break;
      }
      body.push(bytes.subarray(at, at + size));
      at += size;
      if (bytes.toString("latin1", at, at + 2) !== "\r\n")
        throw new Error(`chunk of ${size} bytes not ended by CRLF`);
      at += 2;
    }
    out.push({ head, body: Buffer.concat(body).toString("utf8") });
  }
  return out;
}

type Chunk = { choices: Array<Record<string, unknown>>; usage?: unknown } & Record<string, unknown>;

describe("the gateway (servelab serve --engine url:...)", () => {
  it("splits an R1 model's <think> reasoning across upstream chunk boundaries, chunk by chunk", async () => {
    const { upstream, server } = await gatewayOver({
      modelId: "DeepSeek-R1-Distill-Qwen-1.5B",
      reasoning: [],
      // The closing tag arrives split over two chunks.
      answer: ["<think>\nLet me", " think</thi", "nk>\n\nThe answer", " is 4."],
      continuousUsage: true,
    });
    const res = await post(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "What is 2+2?" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const all = events(res.text);
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1) as Chunk[];
    const first = chunks[0]!;
    expect(first.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    for (const c of chunks) {
      // Every chunk has the same envelope, keys in OpenAI's order.
      expect(Object.keys(c)).toEqual(["id", "object", "created", "model", "choices", "usage"]);
      expect(c).toMatchObject({
        id: first.id,
        object: "chat.completion.chunk",
        created: first.created,
        model: "DeepSeek-R1-Distill-Qwen-1.5B",
      });
    }
    expect(chunks.map((c) => c.choices[0] ?? null)).toEqual([
      { index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null },
      {
        index: 0,
        delta: { reasoning_content: "Let me", reasoning: "Let me" },
        finish_reason: null,
        logprobs: null,
      },
      {
        index: 0,
        delta: { reasoning_content: " think", reasoning: " think" },
        finish_reason: null,
        logprobs: null,
      },
      { index: 0, delta: { content: "The answer" }, finish_reason: null, logprobs: null },
      { index: 0, delta: { content: " is 4." }, finish_reason: null, logprobs: null },
      { index: 0, delta: {}, finish_reason: "stop", logprobs: null },
      null,
    ]);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    const prompt = upstream.requests.at(-1)!.body!;
    // The stand-in counts the prompt's words and one more: "What is 2+2?" is 4 tokens.
    expect(chunks.at(-1)!.usage).toEqual({
      prompt_tokens: 4,
      completion_tokens: 4,
      total_tokens: 8,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    // The profile's sampling defaults and stop string went upstream, streamed with usage.
    expect(prompt).toMatchObject({
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
      temperature: 0.6,
      top_p: 0.95,
      stop: ["<｜end▁of▁sentence｜>"],
    });
  });

  it("passes reasoning the upstream split itself through, with usage in every chunk when asked", async () => {
    const { server } = await gatewayOver({
      reasoning: ["Thinking", " hard"],
      answer: ["Hello", " there"],
      continuousUsage: true,
    });
    const res = await post(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
    });
    const chunks = events(res.text).slice(0, -1) as Chunk[];
    const deltas = chunks.slice(1, 5);
    expect(deltas.map((c) => c.choices[0]!.delta)).toEqual([
      { reasoning_content: "Thinking", reasoning: "Thinking" },
      { reasoning_content: " hard", reasoning: " hard" },
      { content: "Hello" },
      { content: " there" },
    ]);
    // The upstream reports the prompt's 2 tokens with its first chunk: every chunk carries them.
    const promptTokens = 2;
    expect(deltas.map((c) => c.usage)).toEqual(
      [1, 2, 3, 4].map((n) => ({
        prompt_tokens: promptTokens,
        completion_tokens: n,
        total_tokens: promptTokens + n,
      })),
    );
    // The finish chunk carries the whole usage, and include_usage adds the usage-only chunk.
    expect(chunks[5]).toMatchObject({
      choices: [{ index: 0, delta: {}, finish_reason: "stop", logprobs: null }],
      usage: { completion_tokens: 4, prompt_tokens_details: { cached_tokens: 0 } },
    });
    expect(chunks[6]).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
    expect(chunks).toHaveLength(7);
  });

  it("answers with the response head once the upstream accepts the request, not with the first token", async () => {
    // The scripted server sends its head at once, as vLLM does, and its first token after 600 ms.
    const scripted = await startScriptedServer({ ttftMs: 600, itlMs: 10 });
    cleanup.push(() => scripted.close());
    const server = await startGateway(scripted.url);
    const t0 = performance.now();
    const timing = await new Promise<{
      headMs: number;
      firstDataMs: number;
      firstData: string;
      endMs: number;
    }>((resolve, reject) => {
      const req = httpRequest(
        `${server.url}/v1/chat/completions`,
        { method: "POST", headers: { "content-type": "application/json" }, agent: false },
        (res) => {
          const headMs = performance.now() - t0;
          let firstDataMs = 0;
          let firstData = "";
          res.on("data", (c: Buffer) => {
            if (firstData !== "") return;
            firstDataMs = performance.now() - t0;
            firstData = c.toString("utf8");
          });
          res.on("end", () => resolve({ headMs, firstDataMs, firstData, endMs: performance.now() - t0 }));
        },
      );
      req.on("error", reject);
      // 60 tokens: 600 ms to the first, 10 ms each after (without max_tokens the script streams for 40 s)
      req.end(JSON.stringify({ messages: [{ role: "user", content: "Hi" }], stream: true, max_tokens: 60 }));
    });
    // The first token takes 600 ms upstream; the head and the role chunk do not wait for it.
    expect(timing.endMs).toBeGreaterThan(1000);
    expect(timing.headMs).toBeLessThan(400);
    expect(timing.firstDataMs).toBeLessThan(400);
    expect(timing.firstData).toContain('"role":"assistant"');
    expect(timing.firstData).not.toContain("t1");
  });

  it("streams text completions and ends with the upstream's finish reason", async () => {
    const { server } = await gatewayOver({ answer: ["one", " two", " three"] });
    const res = await post(`${server.url}/v1/completions`, { prompt: "Count", max_tokens: 2, stream: true });
    const all = events(res.text);
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = all.slice(0, -1) as Chunk[];
    for (const c of chunks) expect(Object.keys(c)).toEqual(["id", "object", "created", "model", "choices"]);
    expect(chunks[0]!.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    expect(chunks.map((c) => c.object)).toEqual(Array(3).fill("text_completion"));
    expect(chunks.map((c) => c.choices[0])).toEqual([
      { index: 0, text: "one", finish_reason: null, logprobs: null },
      { index: 0, text: " two", finish_reason: null, logprobs: null },
      { index: 0, text: "", finish_reason: "length", logprobs: null },
    ]);
  });

  it("escapes any text the upstream sends exactly as JSON.stringify does", async () => {
    const odd = ['quote " and \\ backslash', "\n\t\u0000\u001f", "é ☃ 🙂", "\u2028\u2029", "\ud800"];
    const { server } = await gatewayOver({ reasoning: [], answer: odd });
    const res = await post(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    const data = sseData(res.text);
    expect(data.slice(1, 1 + odd.length).map((d) => JSON.stringify(JSON.parse(d)))).toEqual(
      data.slice(1, 1 + odd.length),
    );
    const texts = data
      .slice(1, 1 + odd.length)
      .map((d) => (JSON.parse(d) as Chunk).choices[0]!.delta as { content: string });
    // The upstream escapes the lone surrogate (well-formed JSON.stringify), so it arrives whole.
    expect(texts.map((d) => d.content)).toEqual(odd);
  });

  it("ends a stream the upstream breaks off with an error event, then [DONE]", async () => {
    const { server } = await gatewayOver({ reasoning: [], answer: ["a", "b", "c", "d"], dropAfterTokens: 2 });
    const res = await post(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    expect(res.status).toBe(200);
    const all = events(res.text);
    expect(all.at(-1)).toBe("[DONE]");
    expect((all.slice(1, 3) as Chunk[]).map((c) => c.choices[0]!.delta)).toEqual([
      { content: "a" },
      { content: "b" },
    ]);
    expect(all.at(-2)).toEqual({
      error: {
        message: expect.stringMatching(/broke off/) as string,
        type: "upstream_error",
        param: null,
        code: null,
      },
    });
    expect(all).toHaveLength(5);
  });

  it("passes an error event the upstream sends mid-stream on as the final event", async () => {
    const scripted = await startScriptedServer({
      ttftMs: 1,
      itlMs: 1,
      error: "stream-error",
      errorAfterTokens: 2,
    });
    cleanup.push(() => scripted.close());
    const server = await startGateway(scripted.url);
    const res = await post(`${server.url}/v1/completions`, { prompt: "Hi", max_tokens: 8, stream: true });
    const all = events(res.text);
    expect((all.slice(0, 2) as Chunk[]).map((c) => c.choices[0]!.text)).toEqual(["t1 ", "t2 "]);
    expect(all.slice(2)).toEqual([
      {
        error: {
          message: expect.stringMatching(/scripted stream failure/) as string,
          type: "upstream_error",
          param: null,
          code: null,
        },
      },
      "[DONE]",
    ]);
  });

  it("cancels the upstream request when the client leaves mid-stream", async () => {
    const { upstream, server } = await gatewayOver({
      reasoning: [],
      answer: Array.from({ length: 200 }, (_, i) => ` w${i}`),
      tokenDelayMs: 20,
    });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        `${server.url}/v1/chat/completions`,
        { method: "POST", headers: { "content-type": "application/json" }, agent: false },
        (res) => {
          let seen = "";
          res.on("data", (c: Buffer) => {
            seen += c.toString("utf8");
            // The first answer token arrived: leave.
            if (seen.includes("w0")) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
      req.end(JSON.stringify({ messages: [{ role: "user", content: "Hi" }], stream: true }));
    });
    await waitFor(() => (upstream.cancelled() === 1 ? true : undefined), 5000, "the upstream cancel");
    await waitFor(() => (server.inflight() === 0 ? true : undefined), 5000, "the gateway to let go");
    const metrics = (await rawRequest(`${server.url}/metrics`, { method: "GET" })).text;
    expect(metricValue(metrics, 'servelab_finished_total{reason="abort"}')).toBe(1);
    expect(upstream.active()).toBe(0);
  });

  it("frames each streamed response right on a connection that pipelines requests", async () => {
    const { server } = await gatewayOver({ answer: ["Ünï", "cödé ", "✓ 🙂"], tokenDelayMs: 2 });
    const body = JSON.stringify({ messages: [{ role: "user", content: "Hi" }], stream: true });
    const request = (extra: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
    // Both requests in one write: the second response waits for the first on the same socket.
    const raw = await exchange(server.url, request("") + request("connection: close\r\n"));
    const responses = chunkedResponses(raw);
    expect(responses).toHaveLength(2);
    // Kept open after the first, closed after the second, which asked for it.
    expect(responses[0]!.head).toMatch(/\r\nconnection: keep-alive/i);
    expect(responses[1]!.head).toMatch(/\r\nconnection: close/i);
    for (const { head, body: text } of responses) {
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      const all = events(text);
      expect(all.at(-1)).toBe("[DONE]");
      const content = (all.slice(0, -1) as Chunk[])
        .map((c) => (c.choices[0]?.delta as { content?: string } | undefined)?.content ?? "")
        .join("");
      expect(content).toBe("Ünïcödé ✓ 🙂");
    }
  });

  it("streams to an HTTP/1.0 client without chunked framing", async () => {
    const { server } = await gatewayOver({ answer: ["a", "b"], tokenDelayMs: 2 });
    const body = JSON.stringify({ messages: [{ role: "user", content: "Hi" }], stream: true });
    const raw = await exchange(
      server.url,
      `POST /v1/chat/completions HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    const headEnd = raw.indexOf("\r\n\r\n");
    expect(raw.slice(0, headEnd)).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.slice(0, headEnd)).not.toMatch(/transfer-encoding/i);
    const text = raw.slice(headEnd + 4);
    // The body is the event stream itself: no size lines between the events.
    expect(text.startsWith("data: {")).toBe(true);
    const all = events(text);
    expect(all.at(-1)).toBe("[DONE]");
    expect(text.split("\n\n").every((e) => e === "" || e.startsWith("data: "))).toBe(true);
  });

  it("counts streamed requests, tokens and latencies in /metrics", async () => {
    const { server } = await gatewayOver({
      reasoning: ["r"],
      answer: ["a", "b", "c"],
      continuousUsage: true,
    });
    for (let i = 0; i < 2; i++) {
      const res = await post(`${server.url}/v1/chat/completions`, {
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
      });
      expect(res.text.endsWith("data: [DONE]\n\n")).toBe(true);
    }
    const metrics = (await rawRequest(`${server.url}/metrics`, { method: "GET" })).text;
    expect(metricValue(metrics, 'servelab_finished_total{reason="stop"}')).toBe(2);
    expect(metricValue(metrics, "servelab_generation_tokens_total")).toBe(8);
    expect(metricValue(metrics, "servelab_time_to_first_token_seconds_count")).toBe(2);
    expect(metricValue(metrics, "servelab_inter_token_latency_seconds_count")).toBe(6);
    expect(metricValue(metrics, "servelab_request_duration_seconds_count")).toBe(2);
    expect(metricValue(metrics, 'servelab_requests_total{route="/v1/chat/completions",status="200"}')).toBe(
      2,
    );
  });
});
