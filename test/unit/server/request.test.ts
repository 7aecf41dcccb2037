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
