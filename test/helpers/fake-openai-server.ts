/**
 * A scripted OpenAI-compatible HTTP server on 127.0.0.1 for client and chat tests. It speaks OpenAI's
 * wire format exactly: `chat.completion` objects, SSE `data: {...}\n\n` chunks of
 * `chat.completion.chunk` with a first role delta, a finish chunk, a final usage chunk (choices: [])
 * when `stream_options.include_usage` is set, and `data: [DONE]`; error bodies
 * `{"error":{"message","type","param","code"}}`.
 *
 * Each request is answered by the script: a function of the recorded request returning a reply.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One scripted delta. Reasoning can come in any of the fields servers use. */
export interface FakeDelta {
  content?: string;
  reasoning_content?: string;
  reasoning?: string;
  thinking?: string;
  /** Milliseconds to wait before sending this delta (overrides the reply's delayMs). */
  delayMs?: number;
}

export interface FakeReply {
  /** HTTP status; default 200. A status >= 400 sends `error` as an OpenAI error body. */
  status?: number;
  headers?: Record<string, string>;
  error?: { message: string; type?: string; param?: string | null; code?: string | null };
  /** A raw body to send instead of a JSON answer (for malformed responses). */
  rawBody?: string;
  deltas?: FakeDelta[];
  finishReason?: string | null;
  /** Extra fields on the (last) choice, e.g. `{ reasoning_truncated: true }`. */
  choiceExtra?: Record<string, unknown>;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Milliseconds between stream chunks. */
  delayMs?: number;
  /** Send an SSE error event after the deltas instead of finishing. */
  streamError?: { message: string };
  /** Close the connection after the deltas without finishing (no finish chunk, no [DONE]). */
  cutStream?: boolean;
  /** Destroy the socket without answering. */
  destroy?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown> | undefined;
  /** When the response ended, and whether the client went away first. */
  closedEarly: boolean;
  finished: Promise<void>;
}

export interface FakeOpenAiServer {
  /** Base URL with /v1. */
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type FakeScript = (request: RecordedRequest, index: number) => FakeReply | Promise<FakeReply>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Starts the fake server; `model` is what /v1/models lists. */
export async function startFakeOpenAiServer(
  script: FakeScript,
  model = "fake-model",
): Promise<FakeOpenAiServer> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let completionIndex = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await readBody(req);
    let resolveFinished: () => void = () => {};
    const recorded: RecordedRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: req.headers,
      body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : undefined,
      closedEarly: false,
      finished: new Promise<void>((resolve) => (resolveFinished = resolve)),
    };
    requests.push(recorded);
    res.on("close", () => {
      recorded.closedEarly = !res.writableFinished;
      resolveFinished();
    });
    if (recorded.path === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ id: model, object: "model", created: 0, owned_by: "fake" }],
        }),
      );
      return;
    }
    if (recorded.path !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: { message: "not found", type: "invalid_request_error", param: null, code: null },
        }),
      );
      return;
    }
    const reply = await script(recorded, completionIndex++);
    if (reply.destroy === true) {
      req.socket.destroy();
      return;
    }
    const status = reply.status ?? 200;
    if (status >= 400 || reply.rawBody !== undefined) {
      res.writeHead(status, { "content-type": "application/json", ...reply.headers });
      res.end(
        reply.rawBody ??
          JSON.stringify({
            error: { type: "invalid_request_error", param: null, code: null, ...reply.error },
          }),
      );
      return;
    }
    const body = recorded.body ?? {};
    const id = `chatcmpl-fake-${completionIndex}`;
    const created = Math.floor(Date.now() / 1000);
    const deltas = reply.deltas ?? [];
    const usage = reply.usage ?? { prompt_tokens: 5, completion_tokens: deltas.length };
    const fullUsage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
    const finishReason = reply.finishReason === undefined ? "stop" : reply.finishReason;
    if (body.stream !== true) {
      const message: Record<string, unknown> = { role: "assistant", content: "" };
      for (const delta of deltas) {
        for (const key of ["content", "reasoning_content", "reasoning", "thinking"] as const) {
          const value = delta[key];
          if (value !== undefined) message[key] = String(message[key] ?? "") + value;
        }
      }
      res.writeHead(200, { "content-type": "application/json", ...reply.headers });
      res.end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model: body.model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason, ...reply.choiceExtra }],
          usage: fullUsage,
        }),
      );
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...reply.headers,
    });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: body.model, choices, ...extra })}\n\n`;
    const write = (data: string): boolean => {
      if (res.destroyed) return false;
      res.write(data);
      return true;
    };
    write(
      chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]),
    );
    for (const delta of deltas) {
      const wait = delta.delayMs ?? reply.delayMs ?? 0;
      if (wait > 0) await sleep(wait);
      const { delayMs: _delay, ...fields } = delta;
      if (!write(chunk([{ index: 0, delta: fields, logprobs: null, finish_reason: null }]))) return;
    }
    if (reply.streamError !== undefined) {
      write(
        `data: ${JSON.stringify({ error: { message: reply.streamError.message, type: "server_error" } })}\n\n`,
      );
      res.end();
      return;
    }
    if (reply.cutStream === true) {
      res.end();
      return;
    }
    write(
      chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason, ...reply.choiceExtra }]),
    );
    const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
    if (streamOptions?.include_usage === true) write(chunk([], { usage: fullUsage }));
    write("data: [DONE]\n\n");
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ error: { message: String(err), type: "server_error", param: null, code: null } }),
      );
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A reserved-then-freed port on 127.0.0.1 where nothing listens (for connection-refused tests). */
export async function findClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
