import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mapUpstreamHttpError } from "../../../src/engines/upstream/errors.js";
import { SseDataDecoder, readSseData } from "../../../src/engines/upstream/sse.js";
import { parseUpstreamUrl } from "../../../src/engines/upstream/url.js";
import { ContextLengthExceededError, InvalidArgumentError, UpstreamError } from "../../../src/core/errors.js";

async function collect(chunks: Array<string | Uint8Array>): Promise<string[]> {
  async function* source(): AsyncGenerator<string | Uint8Array> {
    yield* chunks;
  }
  const out: string[] = [];
  for await (const data of readSseData(source())) out.push(data);
  return out;
}

describe("readSseData", () => {
  it("yields each event's data, ignoring comments and other fields", async () => {
    const stream = ': ping\n\nevent: message\nid: 1\ndata: {"a":1}\n\ndata:{"b":2}\r\n\r\ndata: [DONE]\n\n';
    expect(await collect([stream])).toEqual(['{"a":1}', '{"b":2}', "[DONE]"]);
  });

  it("joins multi-line data and flushes a final event without a blank line", async () => {
    expect(await collect(["data: one\ndata: two\n\ndata: last"])).toEqual(["one\ntwo", "last"]);
  });

  it("gives the same events however the bytes are split (UTF-8 included)", async () => {
    const events = ['{"t":"héllo 世界"}', '{"t":"🙂"}', "[DONE]"];
    const bytes = new TextEncoder().encode(events.map((e) => `data: ${e}\n\n`).join(""));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            parts.push(bytes.slice(prev, p));
            prev = p;
          }
          expect(await collect(parts)).toEqual(events);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("SseDataDecoder", () => {
  it("finds every event of any stream however it is split: LF or CRLF, comments, fields, multi-line data", () => {
    const line = fc.string({ unit: "grapheme", maxLength: 8 }).map((t) => t.replace(/[\r\n]/g, " "));
    const event = fc.record({
      data: fc.array(line, { minLength: 1, maxLength: 3 }),
      comment: fc.option(line, { nil: undefined }),
      id: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 6 }),
        fc.constantFrom("\n", "\r\n"),
        fc.array(fc.nat(), { maxLength: 8 }),
        (events, eol, cuts) => {
          const text = events
            .map(
              (e) =>
                (e.comment === undefined ? "" : `:${e.comment}${eol}`) +
                (e.id ? `id: 7${eol}` : "") +
                // One space after the colon is not part of the value, so the form without it needs a
                // value that does not start with one.
                e.data
                  .map((d, i) => `data:${i % 2 === 0 || d.startsWith(" ") ? " " : ""}${d}${eol}`)
                  .join("") +
                eol,
            )
            .join("");
          const bytes = Buffer.from(text);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const out: string[] = [];
          const decoder = new SseDataDecoder((d) => out.push(d));
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            decoder.push(bytes.subarray(prev, p));
            prev = p;
          }
          decoder.end();
          expect(out).toEqual(events.map((e) => e.data.join("\n")));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("mapUpstreamHttpError", () => {
  it("reads vLLM's context-length message", () => {
    const err = mapUpstreamHttpError(
      400,
      JSON.stringify({
        object: "error",
        message:
          "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
        type: "BadRequestError",
        code: 400,
      }),
      "http://x/v1",
    );
    expect(err).toBeInstanceOf(ContextLengthExceededError);
    expect(err).toMatchObject({ promptTokens: 4000, contextSize: 4096 });
    expect(err.message).toContain("max_tokens asks for 1000");
  });

  it("reads newer vLLM and llama-server context errors", () => {
    const newer = mapUpstreamHttpError(
      400,
      JSON.stringify({
        error: {
          message:
            "This model's maximum context length is 2048 tokens. However, your request has 3000 input tokens. Please reduce the length of the input messages.",
          code: 400,
        },
      }),
      "u",
    );
    expect(newer).toMatchObject({ promptTokens: 3000, contextSize: 2048 });
    const llama = mapUpstreamHttpError(
      400,
      JSON.stringify({
        error: {
          code: 400,
          message: "the request exceeds the available context size, try increasing it",
          type: "exceed_context_size_error",
          n_prompt_tokens: 9000,
          n_ctx: 8192,
        },
      }),
      "u",
    );
    expect(llama).toBeInstanceOf(ContextLengthExceededError);
    expect(llama).toMatchObject({ promptTokens: 9000, contextSize: 8192 });
  });

  it("keeps the upstream status and message otherwise", () => {
    const err = mapUpstreamHttpError(
      503,
      JSON.stringify({ error: { message: "Loading model", code: 503 } }),
      "http://h/v1",
    );
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).status).toBe(503);
    expect(err.code).toBe("UPSTREAM_FAILED");
    expect(err.message).toContain("Loading model");
    expect(mapUpstreamHttpError(502, "<html>Bad Gateway</html>", "u").message).toContain("Bad Gateway");
    // The numbers cannot be read: stay an UpstreamError.
    expect(
      mapUpstreamHttpError(400, JSON.stringify({ message: "maximum context length is 10 tokens" }), "u"),
    ).toBeInstanceOf(UpstreamError);
  });
});

describe("parseUpstreamUrl", () => {
  it("splits the API path from the server root", () => {
    expect(parseUpstreamUrl("http://127.0.0.1:8000/v1/")).toEqual({
      origin: "http://127.0.0.1:8000",
      basePath: "/v1",
      rootPath: "",
      href: "http://127.0.0.1:8000/v1",
    });
    expect(parseUpstreamUrl("http://127.0.0.1:8000").basePath).toBe("/v1");
    expect(parseUpstreamUrl("https://h/proxy/v1").rootPath).toBe("/proxy");
    expect(() => parseUpstreamUrl("127.0.0.1:8000")).toThrow(InvalidArgumentError);
  });
});
