/** Properties of the request parser: whatever the body, the result is a typed request within the
 * limits or an InvalidRequestError naming a parameter; never another exception. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../src/core/errors.js";
import { defaultLimits, parseChatRequest, parseCompletionRequest } from "../../../src/server/request.js";

const limits = { ...defaultLimits, maxMessages: 8, maxStops: 3, maxStopLength: 10, maxTokensCeiling: 100 };

const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(undefined, null, -1, 0, 1, 1e308, -1e308, 0.5, Number.NaN, Infinity, "", [], {}),
);
const body = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      "messages",
      "prompt",
      "max_tokens",
      "temperature",
      "top_p",
      "top_k",
      "seed",
      "n",
      "stop",
      "stream",
      "stream_options",
      "model",
      "tools",
    ),
    fc.string({ maxLength: 8 }),
  ),
  fieldValue,
  { maxKeys: 6 },
);
const messages = fc.array(
  fc.record({
    role: fc.oneof(
      fc.constantFrom("system", "user", "assistant", "tool", "developer"),
      fc.string({ maxLength: 6 }),
    ),
    content: fc.oneof(fc.string({ unit: "binary", maxLength: 20 }), fieldValue),
  }),
  { maxLength: 10 },
);

function parsesOrRefuses(parse: () => unknown): unknown {
  try {
    return parse();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).param).toBeTypeOf("string");
    return undefined;
  }
}

describe("request parsing (property-based)", () => {
  it("parses any JSON body into a request within the limits, or refuses it with InvalidRequestError", () => {
    fc.assert(
      fc.property(body, messages, fc.boolean(), (raw, msgs, withMessages) => {
        const input = withMessages ? { ...raw, messages: msgs } : raw;
        const chat = parsesOrRefuses(() => parseChatRequest(input, limits)) as
          ReturnType<typeof parseChatRequest> | undefined;
        if (chat !== undefined) {
          expect(chat.messages.length).toBeGreaterThan(0);
          expect(chat.messages.length).toBeLessThanOrEqual(limits.maxMessages);
          for (const m of chat.messages) expect(typeof m.content).toBe("string");
          if (chat.maxTokens !== undefined) {
            expect(Number.isInteger(chat.maxTokens)).toBe(true);
            expect(chat.maxTokens).toBeGreaterThanOrEqual(1);
            expect(chat.maxTokens).toBeLessThanOrEqual(limits.maxTokensCeiling);
          }
          expect(chat.stop.length).toBeLessThanOrEqual(limits.maxStops);
          for (const s of chat.stop) expect(s.length).toBeLessThanOrEqual(limits.maxStopLength);
          const t = chat.sampling.temperature;
          if (t !== undefined) expect(t >= 0 && t <= 2).toBe(true);
        }
        const completion = parsesOrRefuses(() => parseCompletionRequest(input, limits)) as
          ReturnType<typeof parseCompletionRequest> | undefined;
        if (completion !== undefined) expect(completion.prompt.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000, seed: 17 },
    );
  });

  it("refuses anything but an object as the body", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v))),
        (raw) => {
          expect(() => parseChatRequest(raw, limits)).toThrow(InvalidRequestError);
          expect(() => parseCompletionRequest(raw, limits)).toThrow(InvalidRequestError);
        },
      ),
      { numRuns: 300, seed: 2 },
    );
  });

  it("accepts every valid max_tokens and refuses every other one", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true })), (value) => {
        const valid = Number.isInteger(value) && value >= 1 && value <= limits.maxTokensCeiling;
        const parse = () => parseCompletionRequest({ prompt: "x", max_tokens: value }, limits);
        if (valid) expect(parse().maxTokens).toBe(value);
        else expect(parse).toThrow(/max_tokens/);
      }),
      { numRuns: 500, seed: 4 },
    );
  });
});

describe("the field policy", () => {
  const chat = { messages: [{ role: "user", content: "Hi" }], max_tokens: 8 };
  const completion = { prompt: "Hi", max_tokens: 8 };
  const refusal = (parse: () => unknown): InvalidRequestError => {
    try {
      parse();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidRequestError);
      return err as InvalidRequestError;
    }
    throw new Error("the request was accepted");
  };

  // Fields that cannot change the output, in their harmless forms: accepted, and the parsed request
  // is exactly the one without them (ignoring them changes nothing).
  const harmlessBoth: Record<string, unknown> = {
    user: "alice",
    metadata: { run: "7" },
    store: false,
    service_tier: "auto",
    safety_identifier: "hash",
    prompt_cache_key: "k",
    cache_prompt: true,
    logprobs: false,
    logit_bias: {},
    include_stop_str_in_output: false,
    n: 1,
  };
  const harmlessChat: Record<string, unknown> = {
    ...harmlessBoth,
    top_logprobs: 0,
    tools: [],
    functions: [],
    tool_choice: "none",
    function_call: "auto",
    parallel_tool_calls: true,
    response_format: { type: "text" },
    modalities: ["text"],
    prediction: { type: "content", content: "Hello" },
  };
  const harmlessCompletion: Record<string, unknown> = {
    ...harmlessBoth,
    best_of: 1,
    echo: false,
    suffix: "",
  };

  it("accepts the harmless fields and ignores them: the request is the same without them", () => {
    for (const [key, value] of Object.entries(harmlessChat)) {
      expect(parseChatRequest({ ...chat, [key]: value }), key).toEqual(parseChatRequest(chat));
      expect(parseChatRequest({ ...chat, [key]: null }), key).toEqual(parseChatRequest(chat));
    }
    for (const [key, value] of Object.entries(harmlessCompletion))
      expect(parseCompletionRequest({ ...completion, [key]: value }), key).toEqual(
        parseCompletionRequest(completion),
      );
    const streamed = { ...chat, stream: true, stream_options: { include_usage: true } };
    expect(
      parseChatRequest({ ...streamed, stream_options: { include_usage: true, include_obfuscation: false } }),
    ).toEqual(parseChatRequest(streamed));
    // A response's assistant message sent back as history.
    const history = {
      messages: [
        { role: "user", content: "Hi" },
        {
          role: "assistant",
          content: "Hello",
          reasoning_content: "greet",
          reasoning: "greet",
          refusal: null,
          annotations: [],
          tool_calls: [],
          function_call: null,
          audio: null,
        },
        { role: "user", content: "Again" },
      ],
    };
    expect(parseChatRequest(history).messages).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "Again" },
    ]);
  });

  it("refuses those fields in any form that would change the output, naming the field", () => {
    const changing: [string, unknown, "chat" | "completion"][] = [
      ["logprobs", true, "chat"],
      ["logprobs", 5, "completion"],
      ["top_logprobs", 3, "chat"],
      ["logit_bias", { "50256": -100 }, "chat"],
      ["tools", [{ type: "function", function: { name: "f" } }], "chat"],
      ["tool_choice", "required", "chat"],
      ["response_format", { type: "json_object" }, "chat"],
      ["modalities", ["text", "audio"], "chat"],
      ["include_stop_str_in_output", true, "chat"],
      ["best_of", 3, "completion"],
      ["echo", true, "completion"],
      ["suffix", "}", "completion"],
      ["user", 42, "chat"],
    ];
    for (const [key, value, kind] of changing) {
      const err = refusal(() =>
        kind === "chat"
          ? parseChatRequest({ ...chat, [key]: value })
          : parseCompletionRequest({ ...completion, [key]: value }),
      );
      expect(err.param, key).toBe(key);
      expect(err.message, key).toMatch(
        new RegExp(`'${key}' is not supported by servelab: only .+ is accepted`),
      );
    }
  });

  it("refuses every field it does not know, and known fields on the wrong route, with a 400 naming it", () => {
    const known = new Set([
      ...Object.keys(harmlessChat),
      ...Object.keys(harmlessCompletion),
      ...["model", "messages", "prompt", "stream", "stream_options", "max_tokens", "max_completion_tokens"],
      ...["temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty", "frequency_penalty"],
      ...["repetition_penalty", "ignore_eos", "math"],
    ]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom("reasoning_effort", "verbosity", "web_search_options", "audio", "min_tokens"),
          fc.string({ minLength: 1, maxLength: 16 }).filter((k) => !known.has(k)),
        ),
        fieldValue,
        (key, value) => {
          for (const parse of [
            () => parseChatRequest({ ...chat, [key]: value }),
            () => parseCompletionRequest({ ...completion, [key]: value }),
          ]) {
            const err = refusal(parse);
            expect(err.param).toBe(key);
            expect(err.message).toContain(`'${key}' is not supported by servelab`);
          }
        },
      ),
      { numRuns: 300, seed: 23 },
    );
    const effort = refusal(() => parseChatRequest({ ...chat, reasoning_effort: "high" }));
    expect(effort.message).toMatch(/cap the tokens with max_tokens/);
    // Chat-only and completion-only fields on the other route.
    expect(refusal(() => parseCompletionRequest({ ...completion, math: true })).param).toBe("math");
    expect(refusal(() => parseCompletionRequest({ ...completion, tools: [] })).param).toBe("tools");
    expect(refusal(() => parseChatRequest({ ...chat, echo: false })).param).toBe("echo");
  });

  it("applies the policy inside stream_options and messages", () => {
    const streamed = { ...chat, stream: true };
    let err = refusal(() => parseChatRequest({ ...streamed, stream_options: { include_usage: true, x: 1 } }));
    expect(err.param).toBe("stream_options.x");
    err = refusal(() =>
      parseChatRequest({ messages: [{ role: "user", content: "Hi", name: "alice" }], max_tokens: 8 }),
    );
    expect(err.param).toBe("messages[0].name");
    expect(err.message).toMatch(/no place for participant names/);
    err = refusal(() =>
      parseChatRequest({
        messages: [
          { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function" }] },
          { role: "user", content: "Hi" },
        ],
      }),
    );
    expect(err.param).toBe("messages[0].tool_calls");
  });

  it("accepts everything servelab's own bench and client send", () => {
    // src/bench/index.ts (a synthetic workload: ignore_eos) and src/client/client.ts (stream + usage).
    const bench = {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
      ignore_eos: true,
    };
    expect(parseChatRequest(bench).ignoreEos).toBe(true);
    const { messages: _, ...benchCompletion } = bench;
    expect(parseCompletionRequest({ ...benchCompletion, prompt: "x" }).continuousUsage).toBe(true);
    const client = {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      temperature: 0.6,
      top_p: 0.95,
      max_tokens: 8,
      stop: ["\n"],
      seed: 1,
      stream: true,
      stream_options: { include_usage: true },
    };
    expect(parseChatRequest(client).includeUsage).toBe(true);
  });
});
