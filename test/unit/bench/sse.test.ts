import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SseParser, createChunkFacts, extractChunkText, scanChunk } from "../../../src/bench/sse.js";
import type { ChunkFacts } from "../../../src/bench/sse.js";

/** Feed `text` to a parser in reads split at `cuts` and collect the payloads (and `end()`'s). */
function parseIn(text: string, cuts: number[]): string[] {
  const bytes = Buffer.from(text);
  const payloads: string[] = [];
  const parser = new SseParser((buf, start, end) => payloads.push(buf.toString("utf8", start, end)));
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    parser.push(bytes.subarray(at, cut));
    at = cut;
  }
  parser.push(bytes.subarray(at));
  parser.end();
  return payloads;
}

function scan(payload: string): ChunkFacts {
  const buf = Buffer.from(payload);
  return { ...scanChunk(buf, 0, buf.length, createChunkFacts()) };
}

const stream = [
  'data: {"choices":[{"delta":{"reasoning_content":"Let me think é","content":null}}]}',
  ": keep-alive comment",
  "event: message",
  'data:{"choices":[{"delta":{"content":"Hi 👋 \\"x\\":"}}],"usage":{"prompt_tokens":7,"completion_tokens":2}}',
  'id: 3\r\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\r',
  "data: [DONE]",
  "",
].join("\n\n");
const expected = [
  '{"choices":[{"delta":{"reasoning_content":"Let me think é","content":null}}]}',
  '{"choices":[{"delta":{"content":"Hi 👋 \\"x\\":"}}],"usage":{"prompt_tokens":7,"completion_tokens":2}}',
  '{"choices":[{"delta":{},"finish_reason":"stop"}]}',
  "[DONE]",
];

describe("SseParser", () => {
  it("hands over each data: payload of one read, skipping comments, event: and id: lines, CRLF or LF", () => {
    expect(parseIn(stream, [])).toEqual(expected);
  });

  it("gives the same payloads however the bytes are split into reads (inside UTF-8 characters too)", () => {
    const length = Buffer.byteLength(stream);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: length - 1 }), { maxLength: 12 }), (cuts) => {
        expect(parseIn(stream, cuts)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
    // Every single-byte read.
    expect(
      parseIn(
        stream,
        Array.from({ length: length - 1 }, (_, i) => i + 1),
      ),
    ).toEqual(expected);
  });

  it("hands over a last line without a newline at end()", () => {
    expect(parseIn('data: {"a":1}\n\ndata: [DONE]', [5])).toEqual(['{"a":1}', "[DONE]"]);
  });
});

describe("scanChunk", () => {
  it("tells [DONE] apart from a payload that merely contains it", () => {
    expect(scan("[DONE]").done).toBe(true);
    expect(scan('{"choices":[{"delta":{"content":"[DONE]"}}]}')).toMatchObject({
      done: false,
      content: true,
    });
  });

  it("reads answer text, reasoning (three field names), usage and the finish reason", () => {
    expect(scan(expected[0] as string)).toMatchObject({
      content: false,
      reasoning: true,
      completionTokens: -1,
    });
    expect(scan(expected[1] as string)).toMatchObject({
      content: true,
      reasoning: false,
      completionTokens: 2,
      promptTokens: 7,
      finishReason: undefined,
    });
    expect(scan(expected[2] as string)).toMatchObject({
      content: false,
      reasoning: false,
      finishReason: "stop",
    });
    expect(scan('{"choices":[{"delta":{"reasoning":"hm"}}]}').reasoning).toBe(true);
    expect(scan('{"choices":[{"delta":{"thinking":"hm"}}]}').reasoning).toBe(true);
    expect(scan('{"choices":[{"index":0,"text":"x","finish_reason":"length"}]}')).toMatchObject({
      content: true,
      finishReason: "length",
    });
    // Empty strings and null carry no output.
    expect(scan('{"choices":[{"delta":{"content":"","reasoning_content":null}}]}')).toMatchObject({
      content: false,
      reasoning: false,
    });
    // A usage-only chunk (include_usage) after the last token.
    expect(scan('{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":128}}')).toMatchObject({
      content: false,
      completionTokens: 128,
      promptTokens: 12,
    });
  });

  it("is not fooled by keys written inside text values", () => {
    const facts = scan('{"choices":[{"delta":{"content":"say \\"error\\": \\"completion_tokens\\": 9"}}]}');
    expect(facts).toMatchObject({ error: false, content: true, completionTokens: -1 });
  });

  it("flags error events, but not an error field that is null", () => {
    expect(scan('{"error":{"message":"boom","type":"server_error"}}').error).toBe(true);
    expect(scan('{"error": "overloaded"}').error).toBe(true);
    expect(scan('{"choices":[{"delta":{"content":"a"}}],"error":null}')).toMatchObject({
      error: false,
      content: true,
    });
  });

  it("agrees with JSON.parse on any chunk: first occurrence of each key, text with quotes, escapes and keys", () => {
    const names = [
      "content",
      "text",
      "reasoning_content",
      "reasoning",
      "thinking",
      "completion_tokens",
      "prompt_tokens",
      "finish_reason",
      "error",
      "created",
      "role",
      "x_tokens",
      "choices",
    ];
    const tricky = fc.constantFrom('"content":"x"', "\\", '"', '"error":1', "", "stop", "é👋", '\\"text\\":');
    const text = fc.oneof(
      fc.string(),
      tricky,
      fc.array(tricky).map((parts) => parts.join("")),
    );
    const leaf = fc.oneof(text, fc.nat(100000), fc.constant(null), fc.boolean());
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.array(tie("value"), { maxLength: 3 }),
        fc
          .array(fc.tuple(fc.constantFrom(...names), tie("value")), { maxLength: 5 })
          .map((entries) => Object.fromEntries(entries) as unknown),
      ),
    }));
    /** What scanChunk should report, from the parsed value walked in serialization order. */
    function reference(root: unknown): Partial<ChunkFacts> {
      const first = new Map<string, unknown>();
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v !== null && typeof v === "object")
          for (const [k, child] of Object.entries(v)) {
            if (!first.has(k)) first.set(k, child);
            walk(child);
          }
      };
      walk(root);
      const nonEmpty = (k: string): boolean => typeof first.get(k) === "string" && first.get(k) !== "";
      const int = (k: string): number => (typeof first.get(k) === "number" ? (first.get(k) as number) : -1);
      if (first.has("error") && first.get("error") !== null)
        return {
          error: true,
          content: false,
          reasoning: false,
          completionTokens: -1,
          finishReason: undefined,
        };
      const finish = first.get("finish_reason");
      return {
        error: false,
        content: nonEmpty("content") || nonEmpty("text"),
        reasoning: nonEmpty("reasoning_content") || nonEmpty("reasoning") || nonEmpty("thinking"),
        completionTokens: int("completion_tokens"),
        promptTokens: int("completion_tokens") === -1 ? -1 : int("prompt_tokens"),
        // The scanner reads the finish reason as latin1 up to the next quote: compare plain ASCII reasons.
        ...(typeof finish !== "string"
          ? { finishReason: undefined }
          : /^[\x20-\x7e]*$/u.test(finish) && !/["\\]/u.test(finish)
            ? { finishReason: finish }
            : {}),
      };
    }
    fc.assert(
      fc.property(value, (v) => {
        const payload = JSON.stringify(v);
        expect(scan(payload)).toMatchObject(reference(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("scans only its slice of a larger buffer", () => {
    const first = '{"choices":[{"delta":{"content":"a"}}]}';
    const buf = Buffer.from(`xx${first}\n{"error":{},"usage":{"completion_tokens":5}}`);
    const facts = scanChunk(buf, 2, 2 + first.length, createChunkFacts());
    expect(facts).toMatchObject({ content: true, error: false, completionTokens: -1 });
  });
});

describe("extractChunkText", () => {
  it("joins reasoning and answer text of chat and completions chunks; bad JSON gives nothing", () => {
    expect(extractChunkText(expected[0] as string)).toBe("Let me think é");
    expect(extractChunkText(expected[1] as string)).toBe('Hi 👋 "x":');
    expect(extractChunkText('{"choices":[{"text":"abc"}]}')).toBe("abc");
    expect(extractChunkText("{not json")).toBe("");
  });
});
