/**
 * The real path end to end: a scripted synthetic model in llama.cpp (node-llama-cpp), the servelab
 * server on a real socket, and the official `openai` client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { startServer } from "../../src/server/index.js";
import { gatedLoadEngine } from "../helpers/engines.js";
import { tinyModel } from "../helpers/models.js";

const script = "<think>\nLet me compute 4*4.\n</think>\n\nThe answer is \\boxed{16}.";

type Running = Awaited<ReturnType<typeof startServer>>;

async function postJson(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

function expectOpenAiError(body: Record<string, unknown>, pattern: RegExp) {
  const error = body.error as Record<string, unknown>;
  expect(error).toBeTypeOf("object");
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(String(error.message)).toMatch(pattern);
}

describe("servelab serve with a scripted R1 model", () => {
  let server: Running;
  let client: OpenAI;
  let engine: ReturnType<typeof createLlamaCppEngine>;

  beforeAll(async () => {
    const model = await tinyModel({ script });
    engine = createLlamaCppEngine({ model, modelId: "r1-test", parallel: 2, contextSize: 256, maxQueue: 1 });
    server = await startServer({ engine, port: 0, bodyLimit: 64 * 1024 });
    await server.ready;
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
  });

  it("answers chat with the reasoning split from the answer, and usage", async () => {
    const res = await client.chat.completions.create({
      model: "r1-test",
      messages: [{ role: "user", content: "What is 4*4?" }],
    });
    const choice = res.choices[0]!;
    const message = choice.message as typeof choice.message & {
      reasoning_content?: string;
      reasoning?: string;
    };
    expect(message.content).toBe("The answer is \\boxed{16}.");
    expect(message.reasoning_content).toBe("Let me compute 4*4.\n");
    expect(message.reasoning).toBe(message.reasoning_content);
    expect(choice.finish_reason).toBe("stop");
    expect(res.usage?.completion_tokens).toBeGreaterThan(5);
    expect(res.usage?.prompt_tokens).toBeGreaterThan(3);
    expect(res.usage?.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
    expect(res.object).toBe("chat.completion");
  });

  it("streams chat as OpenAI does, with a final usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "r1-test",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is 4*4?" },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let reasoning = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      const delta = choice.delta as typeof choice.delta & { reasoning_content?: string };
      content += delta.content ?? "";
      reasoning += delta.reasoning_content ?? "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(chunks).toBeGreaterThan(5);
    expect(content).toBe("The answer is \\boxed{16}.");
    expect(reasoning).toBe("Let me compute 4*4.\n");
    expect(content).not.toContain("think>");
    expect(finish).toBe("stop");
    expect(usage?.completion_tokens).toBeGreaterThan(5);
  });

  it("puts the prompt's token count in every chunk with continuous usage stats", async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        messages: [{ role: "user", content: "What is 4*4?" }],
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      }),
    });
    const chunks = (await res.text())
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { usage?: { prompt_tokens: number; completion_tokens: number } });
    const final = chunks.at(-1)!.usage!;
    expect(final.prompt_tokens).toBeGreaterThan(5);
    const withUsage = chunks.filter((c) => c.usage !== undefined && c.usage !== null);
    expect(withUsage.length).toBeGreaterThan(5);
    for (const c of withUsage) expect(c.usage!.prompt_tokens).toBe(final.prompt_tokens);
  });

  it("serves completions, raw text and streaming", async () => {
    const res = await client.completions.create({ model: "r1-test", prompt: "Hello", max_tokens: 100 });
    expect(res.choices[0]!.text).toBe(script);
    expect(res.choices[0]!.finish_reason).toBe("stop");
    expect(res.usage?.completion_tokens).toBeGreaterThan(5);

    const stream = await client.completions.create({
      model: "r1-test",
      prompt: "Hello",
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(script);
    expect(usage?.completion_tokens).toBe(res.usage?.completion_tokens);
  });

  it("keeps the reasoning and flags truncation when max_tokens ends it inside <think>", async () => {
    const res = await client.chat.completions.create({
      model: "r1-test",
      messages: [{ role: "user", content: "What is 4*4?" }],
      max_tokens: 3,
    });
    const choice = res.choices[0] as (typeof res.choices)[0] & { reasoning_truncated?: boolean };
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.content).toBe("");
    expect((choice.message as { reasoning_content?: string }).reasoning_content?.length).toBeGreaterThan(0);
    expect(choice.reasoning_truncated).toBe(true);
    expect(res.usage?.completion_tokens).toBe(3);
  });

  it("stops at a stop string and does not return it", async () => {
    const res = await client.completions.create({
      model: "r1-test",
      prompt: "Hi",
      stop: ["4*4"],
      max_tokens: 50,
    });
    expect(res.choices[0]!.text).toBe("<think>\nLet me compute ");
    expect(res.choices[0]!.finish_reason).toBe("stop");
  });

  it("lists the model and reports health", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["r1-test"]);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
  });

  it("returns OpenAI-shaped errors for bad requests and keeps serving", async () => {
    const url = `${server.url}/v1/chat/completions`;
    let r = await postJson(url, "{not json");
    expect(r.status).toBe(400);
    expectOpenAiError(r.body, /not valid JSON/);

    r = await postJson(
      url,
      JSON.stringify({ messages: [{ role: "user", content: "x" }], temperature: "hot" }),
    );
    expect(r.status).toBe(400);
    expectOpenAiError(r.body, /temperature/);
    expect((r.body.error as { param: string }).param).toBe("temperature");

    r = await postJson(url, JSON.stringify({ model: "gpt-4", messages: [{ role: "user", content: "x" }] }));
    expect(r.status).toBe(404);
    expectOpenAiError(r.body, /gpt-4/);

    r = await postJson(url, JSON.stringify({ messages: [{ role: "user", content: "x" }], n: 2 }));
    expect(r.status).toBe(400);
    expectOpenAiError(r.body, /n = 1/);

    r = await postJson(url, JSON.stringify({ messages: [{ role: "user", content: "word ".repeat(400) }] }));
    expect(r.status).toBe(400);
    expectOpenAiError(r.body, /256 tokens.*\d+ tokens/);
    expect(r.body.error).toMatchObject({ code: "context_length_exceeded", param: "messages" });
    // On /v1/completions the field at fault is the prompt, streamed or not.
    for (const stream of [false, true]) {
      r = await postJson(
        `${server.url}/v1/completions`,
        JSON.stringify({ prompt: "word ".repeat(400), stream }),
      );
      expect(r.status).toBe(400);
      expectOpenAiError(r.body, /256 tokens.*\d+ tokens/);
      expect(r.body.error).toMatchObject({ code: "context_length_exceeded", param: "prompt" });
    }

    r = await postJson(
      url,
      JSON.stringify({ messages: [{ role: "user", content: "x".repeat(100 * 1024) }] }),
    );
    expect(r.status).toBe(413);
    expectOpenAiError(r.body, /too large/);

    r = await postJson(url, JSON.stringify({ messages: [] }));
    expect(r.status).toBe(400);
    expectOpenAiError(r.body, /at least one message/);

    const res = await client.chat.completions.create({
      messages: [{ role: "user", content: "still there?" }],
      model: "r1-test",
    });
    expect(res.choices[0]!.message.content).toBe("The answer is \\boxed{16}.");
  });

  it("counts requests, tokens and latencies in /metrics", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/servelab_requests_total\{route="\/v1\/chat\/completions",status="200"\} [1-9]/);
    expect(text).toMatch(/servelab_requests_total\{route="\/v1\/chat\/completions",status="400"\} [1-9]/);
    expect(text).toMatch(/servelab_generation_tokens_total [1-9]\d*/);
    expect(text).toMatch(/servelab_time_to_first_token_seconds_count [1-9]/);
    expect(text).toMatch(/servelab_requests_running 0/);
  });
});

describe("startServer with a wrong profile", () => {
  it("rejects it before listening or loading the engine", async () => {
    const engine = createLlamaCppEngine({ model: "/nonexistent.gguf", threads: 1 });
    await expect(startServer({ engine, port: 0, profile: "bogus" })).rejects.toThrow(
      /unknown profile 'bogus'/,
    );
    expect(engine.state).toBe("created");
    await engine.dispose();
  });
});

describe("while the model loads", () => {
  it("/health answers 503 with a JSON body, requests 503 in OpenAI's shape; then 200", async () => {
    const engine = gatedLoadEngine(
      createLlamaCppEngine({ model: await tinyModel({ script }), threads: 1, contextSize: 256 }),
    );
    // startServer listens first and loads after: it resolves while the load waits for release().
    const server = await startServer({ engine, port: 0 });
    try {
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      expect(health.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await health.json()).toEqual({ status: "loading" });

      const chat = await postJson(
        `${server.url}/v1/chat/completions`,
        JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
      );
      expect(chat.status).toBe(503);
      expectOpenAiError(chat.body, /still loading/);
      expect((await fetch(`${server.url}/v1/models`)).status).toBe(503);

      engine.release();
      await server.ready;
      const ready = await fetch(`${server.url}/health`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ok" });
    } finally {
      engine.release();
      await server.close();
      await engine.dispose();
    }
  });
});
