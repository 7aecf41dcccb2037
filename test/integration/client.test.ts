import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import {
  ClientAbortedError,
  ClientConnectionError,
  ClientHttpError,
  ClientStreamError,
  ClientTimeoutError,
  createClient,
  mathInstruction,
  type StreamEvent,
} from "../../src/client/index.js";
import { ServelabError } from "../../src/core/errors.js";
import {
  findClosedPort,
  startFakeOpenAiServer,
  type FakeOpenAiServer,
  type FakeReply,
  type FakeScript,
} from "../helpers/fake-openai-server.js";

let server: FakeOpenAiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(script: FakeScript | FakeReply): Promise<FakeOpenAiServer> {
  server = await startFakeOpenAiServer(typeof script === "function" ? script : () => script);
  return server;
}

async function collect(events: AsyncIterable<StreamEvent>) {
  let reasoning = "";
  let content = "";
  const types: string[] = [];
  let finish: StreamEvent | undefined;
  let usage: StreamEvent | undefined;
  for await (const event of events) {
    types.push(event.type);
    if (event.type === "reasoning") reasoning += event.text;
    else if (event.type === "content") content += event.text;
    else if (event.type === "finish") finish = event;
    else usage = event;
  }
  return { reasoning, content, types, finish, usage };
}

const user = [{ role: "user" as const, content: "What is 2+2?" }];

describe("reasoning fields", () => {
  for (const field of ["reasoning_content", "reasoning", "thinking"] as const) {
    it(`reads reasoning from ${field} (chat and stream)`, async () => {
      const s = await serve({
        deltas: [{ [field]: "Adding two " }, { [field]: "and two." }, { content: "\n\n4" }],
        usage: { prompt_tokens: 7, completion_tokens: 3 },
      });
      const client = createClient({ baseURL: s.url });
      const result = await client.chat(user);
      expect(result.reasoning).toBe("Adding two and two.");
      expect(result.content).toBe("4");
      expect(result.finishReason).toBe("stop");
      expect(result.usage).toEqual({ promptTokens: 7, completionTokens: 3, totalTokens: 10 });
      expect(result.reasoningTruncated).toBe(false);
      expect(result.raw.object).toBe("chat.completion");

      const streamed = await collect(client.stream(user));
      expect(streamed.reasoning).toBe("Adding two and two.");
      expect(streamed.content).toBe("4");
      expect(streamed.types.at(-1)).toBe("finish");
      expect(streamed.types.at(-2)).toBe("usage");
      expect(streamed.usage).toEqual({
        type: "usage",
        usage: { promptTokens: 7, completionTokens: 3, totalTokens: 10 },
      });
      // the request asked for usage and used the listed model
      const body = s.requests.at(-1)?.body;
      expect(body?.stream_options).toEqual({ include_usage: true });
      expect(body?.model).toBe("fake-model");
    });
  }

  it("splits inline <think> tags client side, also across chunk borders", async () => {
    const s = await serve({
      deltas: [
        { content: "<thi" },
        { content: "nk>\nHmm, 2+2" },
        { content: "=4.</th" },
        { content: "ink>\n\nIt is **4**." },
      ],
    });
    const client = createClient({ baseURL: s.url });
    const streamed = await collect(client.stream(user));
    expect(streamed.reasoning).toBe("Hmm, 2+2=4.");
    expect(streamed.content).toBe("It is **4**.");
    const result = await client.chat(user);
    expect(result).toMatchObject({ reasoning: "Hmm, 2+2=4.", content: "It is **4**." });
  });

  it("whole messages with only </think> (R1 prompt opened the tag) are split; thinkTags off keeps them", async () => {
    const s = await serve({ deltas: [{ content: "Let me see.\n</think>\n\n4" }] });
    expect(await createClient({ baseURL: s.url }).chat(user)).toMatchObject({
      reasoning: "Let me see.",
      content: "4",
    });
    expect(await createClient({ baseURL: s.url, thinkTags: "off" }).chat(user)).toMatchObject({
      reasoning: "",
      content: "Let me see.\n</think>\n\n4",
    });
    const implicit = await collect(createClient({ baseURL: s.url, thinkTags: "implicit" }).stream(user));
    expect(implicit).toMatchObject({ reasoning: "Let me see.\n", content: "4" });
  });

  it("tags a non-reasoning model merely mentions are not split in whole messages", async () => {
    const s = await serve({ deltas: [{ content: "Use <think>x</think> tags" }] });
    expect(await createClient({ baseURL: s.url, model: "m" }).chat(user)).toMatchObject({
      reasoning: "",
      content: "Use <think>x</think> tags",
    });
  });

  it("plain content stays content", async () => {
    const s = await serve({ deltas: [{ content: "Hello" }, { content: " there" }] });
    const client = createClient({ baseURL: s.url, model: "m1" });
    expect(await client.simple("hi", "be nice")).toBe("Hello there");
    expect(s.requests.at(-1)?.body?.messages).toEqual([
      { role: "system", content: "be nice" },
      { role: "user", content: "hi" },
    ]);
    expect(s.requests.at(-1)?.body?.model).toBe("m1");
  });
});

describe("streams from a server that does not split the reasoning (thinkTags auto)", () => {
  const r1Model = "DeepSeek-R1-Distill-Qwen-1.5B-Q8_0.gguf";
  /** A raw server: content only, cut into the chunks set before each request. */
  async function rawServer(model: string) {
    const state = { chunks: [] as string[], finishReason: "stop" };
    server = await startFakeOpenAiServer(
      () => ({ deltas: state.chunks.map((content) => ({ content })), finishReason: state.finishReason }),
      model,
    );
    return { state, client: createClient({ baseURL: server.url, maxRetries: 0 }) };
  }
  /** The stream's events, and what chat() makes of the same reply. */
  async function both(client: ReturnType<typeof createClient>) {
    const events: StreamEvent[] = [];
    for await (const event of client.stream(user)) events.push(event);
    const text = (type: string) =>
      events.map((e) => (e.type === type ? (e as { text: string }).text : "")).join("");
    return { events, reasoning: text("reasoning"), content: text("content"), whole: await client.chat(user) };
  }
  const texts = (events: StreamEvent[]) =>
    events.flatMap((e) => (e.type === "reasoning" || e.type === "content" ? [e.text] : []));

  it("a raw R1 reply with only </think> is split as chat() splits it, however the tag is cut", async () => {
    const { state, client } = await rawServer(r1Model);
    const reply = "Let me see: 2+2 is 4.\n</think>\n\nThe answer is 4.";
    const cuts: string[][] = [[...reply]]; // one character per chunk
    for (let i = 1; i < reply.length; i++) cuts.push([reply.slice(0, i), reply.slice(i)]);
    cuts.push(["Let me see: 2+2 is 4.\n</", "thi", "nk", ">\n", "\nThe answer is 4."]);
    for (const chunks of cuts) {
      state.chunks = chunks;
      const { events, reasoning, content, whole } = await both(client);
      const where = JSON.stringify(chunks);
      expect(whole, where).toMatchObject({ reasoning: "Let me see: 2+2 is 4.", content: "The answer is 4." });
      expect(content, where).toBe(whole.content);
      expect(reasoning.trimEnd(), where).toBe(whole.reasoning);
      // no piece of a tag in any event, and no answer text before the reasoning was decided
      for (const text of texts(events))
        expect(text, where).not.toMatch(/<\/?t?h?i?n?k?>?$|^\/?t?h?i?n?k?>|think>/);
      const firstContent = events.findIndex((e) => e.type === "content");
      expect(
        events.findIndex((e) => e.type === "reasoning"),
        where,
      ).toBeLessThan(firstContent);
    }
  });

  it("held text that can no longer be implicit reasoning comes out as content, as in chat()", async () => {
    const { state, client } = await rawServer(r1Model);
    for (const chunks of [
      ["Use <thi", "nk>x</think> tags"], // a tag the model mentions
      ["Just ", "4."], // no tag at all: decided when the stream ends
      ["  <th", "ink>\nHmm.</think>", "\n\n4"], // an explicit opening tag
    ]) {
      state.chunks = chunks;
      const { reasoning, content, whole } = await both(client);
      expect({ reasoning: reasoning.trimEnd(), content }, JSON.stringify(chunks)).toEqual({
        reasoning: whole.reasoning,
        content: whole.content,
      });
    }
    state.chunks = ["Just ", "4."];
    const { events } = await both(client);
    // held until the end: one content event
    expect(events.filter((e) => e.type === "content")).toEqual([{ type: "content", text: "Just 4." }]);
    // truncated before any tag: content, as chat() says, with no reasoning to call truncated
    state.chunks = ["Let me think about"];
    state.finishReason = "length";
    const truncated = await both(client);
    expect(truncated.content).toBe(truncated.whole.content);
    expect(truncated.events.at(-1)).toEqual({ type: "finish", reason: "length", reasoningTruncated: false });
  });

  it("other models' content streams at once; a </think> with no <think> is dropped, never shown", async () => {
    const { state, client } = await rawServer("Phi-3-mini-4k-instruct");
    state.chunks = ["Hello", " there", ", friend."];
    const plain = await both(client);
    expect(plain.events.filter((e) => e.type === "content").map((e) => (e as { text: string }).text)).toEqual(
      ["Hello", " there", ", friend."],
    );
    for (const chunks of [
      ["Let me see.\n</th", "ink>\n\n4"],
      ["Let me see.\n<", "/think>", "\n", "\n4"],
    ]) {
      state.chunks = chunks;
      const { events, content, whole } = await both(client);
      expect(content, JSON.stringify(chunks)).toBe("Let me see.\n4");
      expect(whole).toMatchObject({ reasoning: "Let me see.", content: "4" });
      for (const text of texts(events)) expect(text).not.toMatch(/[<>]/);
    }
    // a tag already in the first text is decided as chat() decides it
    state.chunks = ["Let me see.\n</think>\n\n4"];
    expect(await both(client)).toMatchObject({ reasoning: "Let me see.\n", content: "4" });
  });
});

describe("truncation and finish reasons", () => {
  it("finish reason length inside the reasoning is reported as truncated, with no answer", async () => {
    const s = await serve({ deltas: [{ content: "<think>step 1, step 2" }], finishReason: "length" });
    const client = createClient({ baseURL: s.url });
    const streamed = await collect(client.stream(user));
    expect(streamed.finish).toEqual({ type: "finish", reason: "length", reasoningTruncated: true });
    expect(streamed.content).toBe("");
    const answer = await client.answer("2+2?");
    expect(answer.answer).toBeUndefined();
    expect(answer.reasoning).toBe("step 1, step 2");
  });
  it("uses the server's reasoning_truncated flag and passes finish reason repetition through", async () => {
    const s = await serve({
      deltas: [{ reasoning_content: "again again" }],
      finishReason: "repetition",
      choiceExtra: { reasoning_truncated: true },
    });
    const client = createClient({ baseURL: s.url });
    expect(await client.chat(user)).toMatchObject({ finishReason: "repetition", reasoningTruncated: true });
    expect((await collect(client.stream(user))).finish).toEqual({
      type: "finish",
      reason: "repetition",
      reasoningTruncated: true,
    });
  });
});

describe("answer()", () => {
  it("sends the math instruction and extracts the last boxed answer", async () => {
    const s = await serve({
      deltas: [{ reasoning_content: "maybe \\boxed{3}? no" }, { content: "So $\\boxed{\\frac{1}{2}}$." }],
    });
    const result = await createClient({ baseURL: s.url }).answer("Half of one?", {
      temperature: 0.6,
      maxTokens: 100,
    });
    expect(result.answer).toBe("\\frac{1}{2}");
    const body = s.requests.at(-1)?.body;
    expect(body?.messages).toEqual([{ role: "user", content: `Half of one?\n\n${mathInstruction}` }]);
    expect(body).toMatchObject({ temperature: 0.6, max_tokens: 100 });
    expect(body?.top_p).toBeUndefined();
  });
});

describe("streams and aborts", () => {
  it("breaking out of the loop aborts the HTTP request", async () => {
    const s = await serve({
      deltas: Array.from({ length: 200 }, (_, i) => ({ content: `w${i} ` })),
      delayMs: 20,
    });
    const client = createClient({ baseURL: s.url, model: "m" });
    let seen = 0;
    for await (const event of client.stream(user)) {
      if (event.type === "content") seen++;
      if (seen === 3) break;
    }
    const request = s.requests.at(-1);
    await Promise.race([request?.finished, new Promise((r) => setTimeout(r, 3000))]);
    expect(request?.closedEarly).toBe(true);
  });
  it("an AbortSignal stops a stream with ClientAbortedError and closes the request", async () => {
    const s = await serve({ deltas: Array.from({ length: 200 }, () => ({ content: "x" })), delayMs: 20 });
    const client = createClient({ baseURL: s.url, model: "m" });
    const controller = new AbortController();
    const run = (async () => {
      for await (const event of client.stream(user, { signal: controller.signal })) {
        if (event.type === "content") controller.abort();
      }
    })();
    await expect(run).rejects.toBeInstanceOf(ClientAbortedError);
    const request = s.requests.at(-1);
    await Promise.race([request?.finished, new Promise((r) => setTimeout(r, 3000))]);
    expect(request?.closedEarly).toBe(true);
  });
  it("an aborted chat() rejects with ClientAbortedError", async () => {
    const s = await serve({ deltas: [{ content: "late", delayMs: 0 }] });
    const controller = new AbortController();
    controller.abort();
    await expect(
      createClient({ baseURL: s.url, model: "m" }).chat(user, { signal: controller.signal }),
    ).rejects.toBeInstanceOf(ClientAbortedError);
  });
  it("an SSE error event becomes ClientStreamError", async () => {
    const s = await serve({ deltas: [{ content: "a" }], streamError: { message: "engine crashed" } });
    const error = await collect(createClient({ baseURL: s.url, model: "m" }).stream(user)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ClientStreamError);
    expect((error as Error).message).toContain("engine crashed");
  });
  it("a stream cut off without finish reason is an error, not a silent success", async () => {
    const s = await serve({ deltas: [{ content: "a" }], cutStream: true });
    await expect(collect(createClient({ baseURL: s.url, model: "m" }).stream(user))).rejects.toBeInstanceOf(
      ClientStreamError,
    );
  });
});

describe("errors and retries", () => {
  it("HTTP errors carry the status and the server's error body", async () => {
    const s = await serve({
      status: 400,
      error: {
        message: "max_tokens must be positive",
        type: "invalid_request_error",
        param: "max_tokens",
        code: "bad",
      },
    });
    const error = await createClient({ baseURL: s.url, model: "m" })
      .chat(user)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientHttpError);
    expect(error).toBeInstanceOf(ServelabError);
    const http = error as ClientHttpError;
    expect(http.status).toBe(400);
    expect(http.code).toBe("INVALID_REQUEST");
    expect(http.param).toBe("max_tokens");
    expect(http.errorType).toBe("invalid_request_error");
    expect(http.message).toContain("max_tokens must be positive");
    expect(http.body).toMatchObject({ message: "max_tokens must be positive" });
    expect(s.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(1); // 400 is not retried
  });
  it("retries 429 and 503 honouring Retry-After, then succeeds", async () => {
    const s = await serve((_req, i) =>
      i === 0
        ? { status: 429, headers: { "retry-after": "0.2" }, error: { message: "busy" } }
        : i === 1
          ? { status: 503, headers: { "retry-after": "0" }, error: { message: "loading" } }
          : { deltas: [{ content: "ok" }] },
    );
    const started = performance.now();
    const result = await createClient({ baseURL: s.url, model: "m", retryDelayMs: 5000 }).chat(user);
    expect(result.content).toBe("ok");
    expect(performance.now() - started).toBeGreaterThanOrEqual(180);
    expect(performance.now() - started).toBeLessThan(4000); // Retry-After, not the 5 s back-off
    expect(s.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(3);
  });
  it("does not retry 500 and gives up on 429 after maxRetries", async () => {
    const s = await serve({ status: 500, error: { message: "boom", type: "server_error" } });
    await expect(createClient({ baseURL: s.url, model: "m" }).chat(user)).rejects.toMatchObject({
      status: 500,
    });
    expect(s.requests).toHaveLength(1);
    await s.close();
    const busy = await serve({ status: 429, headers: { "retry-after": "0" }, error: { message: "busy" } });
    await expect(
      createClient({ baseURL: busy.url, model: "m", maxRetries: 1 }).chat(user),
    ).rejects.toMatchObject({
      status: 429,
      code: "QUEUE_FULL",
    });
    expect(busy.requests).toHaveLength(2);
  });
  it("connection refused is retried, then a ClientConnectionError with a fix-it message", async () => {
    const port = await findClosedPort();
    const client = createClient({
      baseURL: `http://127.0.0.1:${port}/v1`,
      model: "m",
      retryDelayMs: 10,
      maxRetries: 2,
    });
    const error = await client.chat(user).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientConnectionError);
    expect((error as ClientConnectionError).syscallCode).toBe("ECONNREFUSED");
    expect((error as Error).message).toMatch(/is the server running/);
  });
  it("a server that comes up during the retries is reached", async () => {
    const port = await findClosedPort();
    const client = createClient({
      baseURL: `http://127.0.0.1:${port}/v1`,
      model: "m",
      retryDelayMs: 300,
      maxRetries: 3,
    });
    const pending = client.simple("hi");
    const late = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "x",
          object: "chat.completion",
          created: 0,
          model: "m",
          choices: [{ index: 0, message: { role: "assistant", content: "up" }, finish_reason: "stop" }],
        }),
      );
    });
    await new Promise<void>((resolve) => late.listen(port, "127.0.0.1", resolve));
    try {
      expect(await pending).toBe("up");
    } finally {
      await new Promise<void>((resolve) => late.close(() => resolve()));
    }
  });
  it("a dropped connection is not retried (the server may have started)", async () => {
    const s = await serve({ destroy: true });
    await expect(createClient({ baseURL: s.url, model: "m" }).chat(user)).rejects.toBeInstanceOf(
      ClientConnectionError,
    );
    expect(s.requests).toHaveLength(1);
  });
  it("times out with ClientTimeoutError", async () => {
    const s = await serve(async () => {
      await new Promise((r) => setTimeout(r, 2000));
      return { deltas: [{ content: "late" }] };
    });
    await expect(
      createClient({ baseURL: s.url, model: "m", timeoutMs: 200 }).chat(user),
    ).rejects.toBeInstanceOf(ClientTimeoutError);
    expect(s.requests).toHaveLength(1);
  });
});
