/**
 * Bad input over a real socket, property-based (fast-check): malformed and truncated JSON, wrong
 * types, missing and unknown fields, huge and negative numbers, empty and enormous messages, invalid
 * UTF-8 and unusual Unicode, prompts longer than the context, too many stop strings, odd methods and
 * headers. Every answer is a success or OpenAI's error body with a 4xx status, never a 500; a field
 * servelab does not implement is a 400 naming it; the server keeps serving, holds no sequence
 * afterwards, and its memory has not grown with the requests.
 */
import { connect } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { startServer } from "../../src/server/index.js";
import { expectOpenAiErrorBody, metricValue, rawRequest, type RawResponse } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

const script = "Fine.";
const bodyLimit = 256 * 1024;
type Running = Awaited<ReturnType<typeof startServer>>;

let server: Running;
let engine: ReturnType<typeof createLlamaCppEngine>;

beforeAll(async () => {
  const model = await tinyModel({ script });
  engine = createLlamaCppEngine({ model, modelId: "tiny", parallel: 2, threads: 1, contextSize: 128 });
  server = await startServer({
    engine,
    port: 0,
    bodyLimit,
    limits: { maxMessages: 50, maxStops: 4, maxStopLength: 32, maxTokensCeiling: 64 },
  });
  await server.ready;
  await warmUp();
  memoryBefore = await settledMemory();
  requests = 0;
});

afterAll(async () => {
  await server?.close();
  await engine?.dispose();
});

const json = { "content-type": "application/json" };
const routes = ["/v1/chat/completions", "/v1/completions"] as const;

/** Requests sent since the memory baseline; every request of this file goes through `send`. */
let requests = 0;
let memoryBefore: { rss: number; heap: number };

function send(path: string, options: Parameters<typeof rawRequest>[1] = {}) {
  requests++;
  return rawRequest(`${server.url}${path}`, options);
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = json) {
  return send(path, { body, headers });
}

/**
 * Resident and heap bytes after full collections. node-llama-cpp frees part of a generation's native
 * memory in finalizers of its JS objects, which run after the collection: each round yields to let
 * them run (measured without that, the RSS swung by 150 MB from one reading to the next).
 * --expose-gc is turned on here: vitest's workers do not have it.
 */
async function settledMemory(): Promise<{ rss: number; heap: number }> {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heap: heapUsed };
}

/** Every kind of request the tests below send, a few times: the allocator's pools, V8's heap and
 * the engine's per-sequence buffers reach their working size before the baseline is taken. */
async function warmUp(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await post("/v1/chat/completions", JSON.stringify({ ...validChat, stream: i % 2 === 0 }));
    await post("/v1/completions", JSON.stringify(validCompletion));
    await post("/v1/chat/completions", `{"messages": [${i}`);
    await post("/v1/completions", JSON.stringify({ ...validCompletion, [`x${i}`]: i }));
    await send(`/v1/models`, { method: "GET" });
  }
  for (let i = 0; i < 3; i++) {
    await post(
      "/v1/chat/completions",
      JSON.stringify({ messages: [{ role: "user", content: "word ".repeat(2000) }] }),
    );
    await post(
      "/v1/chat/completions",
      JSON.stringify({ messages: [{ role: "user", content: "x".repeat(bodyLimit) }] }),
    );
    await post("/v1/chat/completions", `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
  }
}

/** A success with the script as its text, or a 4xx with OpenAI's error body: never anything else. */
function expectWellFormed(r: RawResponse): void {
  if (r.status === 200) {
    const body = JSON.parse(r.text) as {
      choices: { message?: { content: string; reasoning_content?: string }; text?: string }[];
    };
    const choice = body.choices[0]!;
    // The R1 profile may take a script without </think> as reasoning: the text is in one of the two.
    const text =
      choice.message === undefined
        ? choice.text
        : `${choice.message.reasoning_content ?? ""}${choice.message.content}`;
    expect(text).toBe(script);
    return;
  }
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).toBeLessThan(500);
  expectOpenAiErrorBody(r.text);
}

const validChat = { messages: [{ role: "user", content: "Hello" }], max_tokens: 8 };
const validCompletion = { prompt: "Hello", max_tokens: 8 };

const fields = [
  "model",
  "messages",
  "prompt",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "seed",
  "n",
  "stop",
  "stream",
  "stream_options",
  "presence_penalty",
  "frequency_penalty",
  "repetition_penalty",
  "ignore_eos",
  "math",
  "tools",
  "logprobs",
  "response_format",
];

/** Every field servelab implements or accepts (src/server/request.ts); any other is refused. */
const knownFields = new Set([
  ...fields,
  ...["user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key"],
  ...["cache_prompt", "logit_bias", "include_stop_str_in_output", "top_logprobs", "functions"],
  ...["tool_choice", "function_call", "parallel_tool_calls", "modalities", "prediction"],
  ...["chat_template_kwargs", "best_of", "echo", "suffix"],
]);

/** Any code point, lone surrogates included, and any grapheme. Built here, before the memory
 * baseline: fast-check's tables of graphemes take about 90 MB of heap once, when built. */
const anyUnicode = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 60 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
);

/** Odd values: huge, negative, fractional, wrong types, deep, empty. */
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    -1,
    0,
    1e308,
    -1e308,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    0.5,
    -0,
    "",
    "NaN",
    "Infinity",
    [],
    {},
    [[]],
    null,
    true,
  ),
  fc.integer(),
  fc.double({ noNaN: true }),
);

describe("bad request bodies (property-based)", () => {
  it("answers arbitrary bytes and arbitrary JSON with a 4xx OpenAI error", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null"),
          fc.string({ maxLength: 200 }),
        ),
        async (route, body) => {
          const r = await post(route, body);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
          expectOpenAiErrorBody(r.text);
        },
      ),
      { numRuns: 150, seed: 42 },
    );
  });

  it("answers truncated JSON with 400 and a message saying so", async () => {
    const full = JSON.stringify({ ...validChat, stop: ["x"], temperature: 0.5 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: full.length - 1 }), async (cut) => {
        const r = await post("/v1/chat/completions", full.slice(0, cut));
        expect(r.status).toBe(400);
        expect(expectOpenAiErrorBody(r.text).message).toMatch(/JSON|body/);
      }),
      { numRuns: 60, seed: 1 },
    );
  });

  it("answers a valid request with any one known field set to an odd value sanely", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.constantFrom(...fields),
        oddValue,
        async (route, key, value) => {
          const base = route === "/v1/chat/completions" ? validChat : validCompletion;
          const body = { ...base, [key]: value };
          const r = await post(route, JSON.stringify(body));
          // A streamed success is also fine; it must then end with [DONE].
          if (r.status === 200 && r.headers["content-type"]?.startsWith("text/event-stream")) {
            expect(r.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
            return;
          }
          expectWellFormed(r);
          if (r.status !== 200) {
            const param = expectOpenAiErrorBody(r.text).param;
            // A field-level problem names the field (or the body/model at fault).
            if (param !== null) expect(typeof param).toBe("string");
          }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });

  it("refuses any field it does not implement with 400 invalid_request_error naming the field", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.constantFrom("reasoning_effort", "verbosity", "min_tokens", "grammar", "guided_json"),
          fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !knownFields.has(k)),
        ),
        oddValue,
        async (route, key, value) => {
          const base = route === "/v1/chat/completions" ? validChat : validCompletion;
          const r = await post(route, JSON.stringify({ ...base, [key]: value }));
          // `__proto__` never reaches the parser: the JSON parser refuses it first (also a 400).
          expect(r.status).toBe(400);
          const error = expectOpenAiErrorBody(r.text);
          expect(error.type).toBe("invalid_request_error");
          if (key === "__proto__") return;
          expect(error.param).toBe(key);
          expect(error.message).toContain(`'${key}' is not supported by servelab`);
        },
      ),
      { numRuns: 100, seed: 8 },
    );
    // The audit's example: OpenAI's reasoning_effort used to be answered 200.
    const r = await post("/v1/chat/completions", JSON.stringify({ ...validChat, reasoning_effort: "high" }));
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).param).toBe("reasoning_effort");
  });

  it("accepts OpenAI's harmless fields and answers as without them", async () => {
    const harmless = {
      user: "alice",
      metadata: { run: "1" },
      store: false,
      service_tier: "auto",
      n: 1,
      logprobs: false,
      logit_bias: {},
      parallel_tool_calls: false,
      tools: [],
      response_format: { type: "text" },
    };
    expectWellFormed(await post("/v1/chat/completions", JSON.stringify({ ...validChat, ...harmless })));
    const r = await post("/v1/chat/completions", JSON.stringify({ ...validChat, logprobs: true }));
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text)).toMatchObject({
      param: "logprobs",
      type: "invalid_request_error",
    });
  });

  it("refuses numbers out of range with 400 naming the parameter", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("max_tokens", "temperature", "top_p", "n", "presence_penalty"),
        fc.oneof(
          fc.double({ min: -1e308, max: -1e7, noNaN: true }),
          fc.double({ min: 1e7, max: 1e308, noNaN: true }),
        ),
        async (key, value) => {
          const r = await post("/v1/chat/completions", JSON.stringify({ ...validChat, [key]: value }));
          expect(r.status).toBe(400);
          expect(expectOpenAiErrorBody(r.text).param).toBe(key);
        },
      ),
      { numRuns: 60, seed: 3 },
    );
  });

  it("serves any Unicode, lone surrogates and invalid UTF-8 included, without a 500", async () => {
    await fc.assert(
      fc.asyncProperty(anyUnicode, fc.uint8Array({ minLength: 1, maxLength: 16 }), async (text, bytes) => {
        const r = await post(
          "/v1/chat/completions",
          JSON.stringify({ messages: [{ role: "user", content: text }], max_tokens: 8 }),
        );
        expectWellFormed(r);
        // Raw bytes (0x80-0xFF: invalid UTF-8 on their own) spliced into a JSON string.
        const invalid = Buffer.concat([
          Buffer.from('{"prompt":"a'),
          Buffer.from(bytes.map((b) => (b === 0x22 || b === 0x5c || b < 0x20 ? 0xff : b))),
          Buffer.from('","max_tokens":8}'),
        ]);
        expectWellFormed(await post("/v1/completions", invalid));
      }),
      { numRuns: 60, seed: 11 },
    );
  });
});

describe("limits and sizes", () => {
  it("rejects empty, too many and enormous inputs with the right status", async () => {
    const chat = (body: unknown) => post("/v1/chat/completions", JSON.stringify(body));
    let r = await chat({ messages: [{ role: "user", content: "" }], max_tokens: 8 });
    expectWellFormed(r); // an empty message is a valid (short) prompt

    r = await post("/v1/completions", JSON.stringify({ prompt: "", max_tokens: 8 }));
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).param).toBe("prompt");

    r = await chat({ messages: Array.from({ length: 51 }, () => ({ role: "user", content: "x" })) });
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).message).toMatch(/at most 50 messages/);

    r = await chat({ ...validChat, stop: ["a", "b", "c", "d", "e"] });
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).param).toBe("stop");

    r = await chat({ ...validChat, stop: ["x".repeat(33)] });
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).message).toMatch(/at most 32 characters/);

    r = await chat({ ...validChat, max_tokens: 65 });
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).message).toMatch(/between 1 and 64/);

    // Longer than the context (128 tokens) but within the body limit.
    r = await chat({ messages: [{ role: "user", content: "word ".repeat(2000) }] });
    expect(r.status).toBe(400);
    expect(expectOpenAiErrorBody(r.text).code).toBe("context_length_exceeded");

    // Over the body limit.
    r = await chat({ messages: [{ role: "user", content: "x".repeat(bodyLimit) }] });
    expect(r.status).toBe(413);
    expect(expectOpenAiErrorBody(r.text).message).toMatch(/too large/);

    // Deeply nested JSON: the parser's recursion must not take the process down.
    r = await post("/v1/chat/completions", `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expect(r.status).toBe(400);
    expectOpenAiErrorBody(r.text);
  });

  it("never lets a model name reach a file: any name but the served one is a 404", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(
            "../../../../etc/passwd",
            "/etc/passwd",
            "..\\..\\windows\\win.ini",
            "hf:evil/model.gguf",
            "file:///etc/shadow",
            "tiny/../../secret",
            "tiny\u0000.gguf",
          ),
          fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s !== "tiny" && s !== "default"),
        ),
        async (model) => {
          const r = await post("/v1/chat/completions", JSON.stringify({ ...validChat, model }));
          expect(r.status).toBe(404);
          const error = expectOpenAiErrorBody(r.text);
          expect(error.code).toBe("model_not_found");
          expect(error.message).not.toMatch(/root:|\[extensions\]/);
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });
});

describe("odd methods, paths and headers", () => {
  it("answers every method on every path with a status and, for errors, OpenAI's body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"),
        fc.constantFrom(
          "/v1/chat/completions",
          "/v1/completions",
          "/v1/models",
          "/health",
          "/metrics",
          "/v1/embeddings",
          "/../../etc/passwd",
          "/v1/chat/completions?x=%ff",
          "/%00",
        ),
        fc.constantFrom(
          {},
          json,
          { "content-type": "text/plain" },
          { "content-type": "application/json; charset=latin1" },
          { "content-type": "multipart/form-data; boundary=x" },
          { "content-type": "application/json", "content-encoding": "gzip" },
          { "content-type": "application/json", authorization: "Bearer \u00ff" },
          { "content-type": "application/json", "x-forwarded-for": "1.2.3.4" },
        ),
        async (method, path, headers) => {
          const body =
            method === "GET" || method === "OPTIONS" || method === "TRACE"
              ? undefined
              : JSON.stringify(validChat);
          const r = await send(path, {
            method,
            headers: headers as Record<string, string>,
            ...(body === undefined ? {} : { body }),
          });
          expect(r.status).toBeLessThan(500);
          if (r.status >= 400) expectOpenAiErrorBody(r.text);
        },
      ),
      { numRuns: 150, seed: 9 },
    );
  });
});

/** Writes raw bytes on a fresh connection and returns everything the server sends before closing. */
function rawExchange(bytes: string): Promise<string> {
  requests++;
  return new Promise((resolve, reject) => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1", () => socket.end(bytes));
    let out = "";
    socket.on("data", (c: Buffer) => (out += c.toString("utf8")));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
  });
}

describe("bytes that are not HTTP", () => {
  it("answers a bad URL, garbage and oversized headers in OpenAI's shape", async () => {
    const badUrl = await send("/%ff", { method: "GET" });
    expect(badUrl.status).toBe(400);
    expect(expectOpenAiErrorBody(badUrl.text).message).toMatch(/not a valid url/);

    const garbage = await rawExchange("NOT-HTTP \u0001\u0002\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expectOpenAiErrorBody(garbage.slice(garbage.indexOf("\r\n\r\n") + 4));

    const huge = await rawExchange(`GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expectOpenAiErrorBody(huge.slice(huge.indexOf("\r\n\r\n") + 4));
  });
});

describe("afterwards", () => {
  it("has not grown in memory with the requests", async (ctx) => {
    // Only meaningful after the whole file ran (not under -t): the bounds are per request.
    if (requests < 500) ctx.skip();
    const after = await settledMemory();
    const heapPerRequest = (after.heap - memoryBefore.heap) / requests;
    const rssPerRequest = (after.rss - memoryBefore.rss) / requests;
    // Measured over the ~900 requests since the warm-up (several runs, 2 cores shared with other
    // jobs): the heap grew by about 1 KiB per request (code compiled for paths first taken after the
    // baseline) and the RSS by 5-30 KiB (malloc arenas and V8 pages kept for reuse; from one test to
    // the next it moves by up to 40 MB either way). A leak of what a request holds shows up: a Fastify
    // request retained per request measured 10.6 KiB of heap per request, a 64 KiB buffer kept per
    // request 160 KiB of RSS. Smaller leaks (an AbortController per request) pass; the soak
    // (docs/reliability.md) is for those. The bounds are 4x the heap figure and 2x the largest RSS
    // one, so a busy machine does not fail them.
    expect(heapPerRequest, `heap grew by ${Math.round(heapPerRequest)} bytes per request`).toBeLessThan(
      4 * 1024,
    );
    expect(rssPerRequest, `RSS grew by ${Math.round(rssPerRequest)} bytes per request`).toBeLessThan(
      64 * 1024,
    );
  });

  it("is still up, holds no sequence and never answered 500", async () => {
    const health = await rawRequest(`${server.url}/health`, { method: "GET" });
    expect(health.status).toBe(200);
    const metrics = (await rawRequest(`${server.url}/metrics`, { method: "GET" })).text;
    expect(metricValue(metrics, "servelab_requests_running")).toBe(0);
    expect(metricValue(metrics, "servelab_requests_waiting")).toBe(0);
    expect(metrics).not.toMatch(/status="5\d\d"/);
    expect(metrics).toMatch(/status="400"\} [1-9]/);
    expect(server.inflight()).toBe(0);
    // CORS is off unless configured: no allow-origin header, and no preflight route.
    const cors = await rawRequest(`${server.url}/v1/models`, {
      method: "GET",
      headers: { origin: "https://a.example" },
    });
    expect(cors.status).toBe(200);
    expect(cors.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await rawRequest(`${server.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: "https://a.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(404);
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
    const r = await post("/v1/chat/completions", JSON.stringify(validChat));
    expect(r.status).toBe(200);
  });
});
