import { createServer, get, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { EventStream, createChunkFramer } from "../../../src/server/sse.js";

/** Serves one request with `handle`; resolves with when the head and the whole body arrived. */
async function serveOnce(handle: (res: ServerResponse) => void): Promise<{
  headAfterMs: number;
  body: string;
  contentType: string | undefined;
  /** When each read of the body arrived (ms after the request) and what it held. */
  reads: Array<{ atMs: number; text: string }>;
}> {
  const server = createServer((_req, res) => handle(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const t0 = performance.now();
      get(`http://127.0.0.1:${port}/`, (res) => {
        const headAfterMs = performance.now() - t0;
        let body = "";
        const reads: Array<{ atMs: number; text: string }> = [];
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
          reads.push({ atMs: performance.now() - t0, text: c });
        });
        res.on("end", () => resolve({ headAfterMs, body, contentType: res.headers["content-type"], reads }));
      }).on("error", reject);
    });
  } finally {
    server.close();
  }
}

/** The chunk as an object, serialized the plain way: what the framer must give byte for byte. */
function reference(
  envelope: {
    id: string;
    object: string;
    created: number;
    model: string;
    chat: boolean;
    includeUsage: boolean;
  },
  reasoning: string,
  content: string,
  usage: { prompt: number; completion: number } | undefined,
): string {
  const { id, object, created, model } = envelope;
  const delta: Record<string, string> = {};
  if (reasoning.length > 0) {
    delta.reasoning_content = reasoning;
    delta.reasoning = reasoning;
  }
  if (content.length > 0) delta.content = content;
  const choice = envelope.chat
    ? { index: 0, delta, finish_reason: null, logprobs: null }
    : { index: 0, text: content, finish_reason: null, logprobs: null };
  const usageField =
    usage !== undefined
      ? {
          usage: {
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            total_tokens: usage.prompt + usage.completion,
          },
        }
      : envelope.includeUsage
        ? { usage: null }
        : {};
  return `data: ${JSON.stringify({ id, object, created, model, choices: [choice], ...usageField })}\n\n`;
}

describe("createChunkFramer", () => {
  it("gives exactly the bytes JSON.stringify gives for the chunk object", () => {
    // Any text: quotes, backslashes, control characters, U+2028, astral characters, lone surrogates.
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("", '"', "\\", "\n", "\u2028", "\ud800", "🙂", "</think>"),
    );
    fc.assert(
      fc.property(
        fc.record({
          id: fc.string({ maxLength: 40 }),
          created: fc.integer({ min: 0, max: 2 ** 31 }),
          model: fc.string({ unit: "binary", maxLength: 20 }),
          chat: fc.boolean(),
          includeUsage: fc.boolean(),
        }),
        text,
        text,
        fc.option(fc.record({ prompt: fc.nat(100_000), completion: fc.nat(100_000) }), { nil: undefined }),
        (e, reasoning, content, usage) => {
          const envelope = { ...e, object: e.chat ? "chat.completion.chunk" : "text_completion" };
          const framer = createChunkFramer(envelope);
          expect(framer.text(reasoning, content, usage)).toBe(reference(envelope, reasoning, content, usage));
          const { id, object, created, model } = envelope;
          expect(framer.role()).toBe(
            `data: ${JSON.stringify({
              id,
              object,
              created,
              model,
              choices: [
                { index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null },
              ],
              ...(envelope.includeUsage ? { usage: null } : {}),
            })}\n\n`,
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("frames a chat delta with reasoning and content, and completion text", () => {
    const envelope = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 7, model: "m" };
    expect(createChunkFramer({ ...envelope, chat: true, includeUsage: true }).text("why", "4")).toBe(
      'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,' +
        '"delta":{"reasoning_content":"why","reasoning":"why","content":"4"},"finish_reason":null,"logprobs":null}],"usage":null}\n\n',
    );
    expect(
      createChunkFramer({ ...envelope, object: "text_completion", chat: false, includeUsage: false }).text(
        "",
        "a\nb",
        { prompt: 3, completion: 2 },
      ),
    ).toBe(
      'data: {"id":"chatcmpl-1","object":"text_completion","created":7,"model":"m","choices":[{"index":0,' +
        '"text":"a\\nb","finish_reason":null,"logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
    );
  });
});

describe("EventStream", () => {
  it("sends the head with an event written in the same turn of the event loop, not on its own", async () => {
    let flushes = 0;
    const { body, contentType } = await serveOnce((res) => {
      const flush = vi.spyOn(res, "flushHeaders");
      const stream = new EventStream(res);
      // The first event comes through a few promise hops, as it does through the generators.
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => {
          stream.event({ a: 1 });
          setTimeout(() => {
            flushes = flush.mock.calls.length;
            stream.end();
          }, 20);
        });
    });
    expect(flushes).toBe(0);
    expect(contentType).toBe("text/event-stream; charset=utf-8");
    expect(body).toBe('data: {"a":1}\n\ndata: [DONE]\n\n');
  });

  it("flushes the head on its own when no event follows at once (an engine still reading the prompt)", async () => {
    const { headAfterMs, body } = await serveOnce((res) => {
      const stream = new EventStream(res);
      setTimeout(() => {
        stream.write("data: late\n\n");
        stream.end();
      }, 400);
    });
    expect(headAfterMs).toBeLessThan(300);
    expect(body).toBe("data: late\n\ndata: [DONE]\n\n");
  });

  it("joins the events written in one turn into one write, and holds none past the turn", async () => {
    let writesInTurn = -1;
    const { body, reads } = await serveOnce((res) => {
      const write = vi.spyOn(res, "write");
      const stream = new EventStream(res);
      void Promise.resolve()
        .then(() => stream.write("data: 1\n\n"))
        .then(() => stream.write("data: 2\n\n"))
        .then(() => stream.event({ three: 3 }));
      setTimeout(() => {
        writesInTurn = write.mock.calls.length;
        stream.write("data: later\n\n");
        setTimeout(() => stream.end(), 300);
      }, 50);
    });
    expect(writesInTurn).toBe(1);
    expect(body).toBe('data: 1\n\ndata: 2\n\ndata: {"three":3}\n\ndata: later\n\ndata: [DONE]\n\n');
    // "later" went out in its own turn, long before the end.
    const later = reads.find((r) => r.text.includes("later"));
    expect(later?.text.includes("[DONE]")).toBe(false);
  });
});
