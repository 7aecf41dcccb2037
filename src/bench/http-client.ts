/**
 * The bench's streaming HTTP client: undici's Pool with keep-alive connections and the low-level dispatch
 * API (no body streams, no fetch), the hand-rolled SSE reader, and a timestamp from performance.now() taken
 * as each network read arrives, before anything else is done with it.
 */
import { Pool } from "undici";
import type { Dispatcher } from "undici";
import { SseParser, createChunkFacts, extractChunkText, scanChunk } from "./sse.js";
import type { Tokenizer } from "./tokenizer.js";
import type {
  ChunkLogEntry,
  RequestError,
  RequestErrorKind,
  RequestTiming,
  TokenCountMethod,
} from "./types.js";

export interface BenchClientOptions {
  /** Base URL ending in /v1. */
  baseUrl: string;
  /** Connections in the pool; at least the highest concurrency (default 64). */
  connections?: number;
  apiKey?: string;
  /** Per-request timeout in milliseconds, from send to the end of the stream (default 300,000). */
  timeoutMs?: number;
  /** Counts tokens of chunks when the server sends no per-chunk usage. */
  tokenizer?: Tokenizer;
  /** Keep every chunk's arrival time, token count and text in the timing (tests and debugging only). */
  keepChunks?: boolean;
}

/** A request ready to send: the path under the base URL and the serialized JSON body. */
export interface PreparedRequest {
  path: string;
  body: string;
}

class RequestTimeout extends Error {}
class RequestAborted extends Error {}

/** Send streaming completions and measure them. Holds sockets: call `close()`. */
export class BenchClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly tokenizer: Tokenizer | undefined;
  private readonly keepChunks: boolean;

  constructor(options: BenchClientOptions) {
    const url = new URL(options.baseUrl);
    this.basePath = url.pathname.replace(/\/$/u, "");
    this.pool = new Pool(url.origin, {
      connections: options.connections ?? 64,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.headers = { "content-type": "application/json", accept: "text/event-stream" };
    if (options.apiKey !== undefined) this.headers.authorization = `Bearer ${options.apiKey}`;
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.tokenizer = options.tokenizer;
    this.keepChunks = options.keepChunks ?? false;
  }

  /** GET a JSON document under the base URL (e.g. /models); undefined when it fails. */
  async getJson(path: string, timeoutMs = 5000): Promise<unknown> {
    try {
      const res = await this.pool.request({
        path: `${this.basePath}${path}`,
        method: "GET",
        headers:
          this.headers.authorization === undefined ? {} : { authorization: this.headers.authorization },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return undefined;
      }
      return await res.body.json();
    } catch {
      return undefined;
    }
  }

  /** GET a text document at an absolute path on the server's origin (e.g. /metrics); undefined when it fails. */
  async getText(absolutePath: string, timeoutMs = 5000): Promise<string | undefined> {
    try {
      const res = await this.pool.request({
        path: absolutePath,
        method: "GET",
        // Servers that require a key usually guard /metrics too (servelab serve does).
        headers:
          this.headers.authorization === undefined ? {} : { authorization: this.headers.authorization },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return undefined;
      }
      return await res.body.text();
    } catch {
      return undefined;
    }
  }

  /**
   * Send one streaming request and measure it. Never rejects: failures are classified in `error`.
   * @param intendedAt performance.now() time the load pattern meant to send it (for coordinated omission).
   */
  send(request: PreparedRequest, intendedAt: number, signal?: AbortSignal): Promise<RequestTiming> {
    return new Promise<RequestTiming>((resolve) => {
      const timing: RequestTiming = {
        intendedAt,
        startAt: 0,
        firstTokenAt: undefined,
        firstContentAt: undefined,
        lastTokenAt: undefined,
        endAt: 0,
        countedTokens: 0,
        reasoningTokens: 0,
        reportedCompletionTokens: undefined,
        reportedPromptTokens: undefined,
        finishReason: undefined,
        method: "chunks",
        chunks: 0,
        itl: [],
        error: undefined,
      };
      const chunkLog: ChunkLogEntry[] | undefined = this.keepChunks ? [] : undefined;
      if (chunkLog !== undefined) timing.chunkLog = chunkLog;
      const facts = createChunkFacts();
      const tokenizer = this.tokenizer;
      let now = 0;
      let status = 0;
      let errorBody = "";
      let sawDone = false;
      let lastUsageTokens = 0;
      let usageChunks = 0;
      let tokenizerChunks = 0;
      let outputChunks = 0;
      let pendingTokenizer: Promise<void> = Promise.resolve();
      let controller: Dispatcher.DispatchController | undefined;
      let settled = false;

      const fail = (kind: RequestErrorKind, message: string, httpStatus?: number): void => {
        if (timing.error !== undefined) return;
        const error: RequestError = { kind, message, midStream: timing.firstTokenAt !== undefined };
        if (httpStatus !== undefined) error.status = httpStatus;
        timing.error = error;
      };

      const finish = (): void => {
        if (settled) return;
        settled = true;
        timing.endAt = performance.now();
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        let method: TokenCountMethod = "chunks";
        if (outputChunks > 0 && usageChunks === outputChunks) method = "usage";
        else if (tokenizerChunks > 0) method = "tokenizer";
        timing.method = method;
        void pendingTokenizer.then(() => resolve(timing));
      };

      const addTokens = (tokens: number, at: number, isContent: boolean, isReasoning: boolean): void => {
        if (timing.firstTokenAt === undefined) {
          timing.firstTokenAt = at;
          timing.lastTokenAt = at;
        } else if (tokens > 0) {
          // Spread the chunk's interval over the tokens it holds: per-token ITL, not per-chunk.
          const per = (at - (timing.lastTokenAt as number)) / tokens;
          for (let i = 0; i < tokens; i++) timing.itl.push(per);
          timing.lastTokenAt = at;
        }
        if (isContent && timing.firstContentAt === undefined) timing.firstContentAt = at;
        timing.countedTokens += tokens;
        if (isReasoning && !isContent) timing.reasoningTokens += tokens;
      };

      const parser = new SseParser((buf, start, end) => {
        scanChunk(buf, start, end, facts);
        if (facts.done) {
          sawDone = true;
          return;
        }
        if (facts.error) {
          fail("stream", buf.toString("utf8", start, Math.min(end, start + 300)));
          return;
        }
        if (facts.finishReason !== undefined) timing.finishReason = facts.finishReason;
        if (facts.promptTokens >= 0) timing.reportedPromptTokens = facts.promptTokens;
        const hasOutput = facts.content || facts.reasoning;
        if (!hasOutput) {
          if (facts.completionTokens >= 0) timing.reportedCompletionTokens = facts.completionTokens;
          return;
        }
        timing.chunks++;
        outputChunks++;
        const at = now;
        let tokens = 1;
        if (facts.completionTokens >= 0) {
          usageChunks++;
          tokens = facts.completionTokens - lastUsageTokens;
          lastUsageTokens = facts.completionTokens;
          timing.reportedCompletionTokens = facts.completionTokens;
          if (tokens < 0) tokens = 0;
        } else if (tokenizer !== undefined) {
          tokenizerChunks++;
          const text = extractChunkText(buf.toString("utf8", start, end));
          const counted = tokenizer.countTokens(text);
          if (typeof counted === "number") tokens = Math.max(1, counted);
          else {
            // An asynchronous tokenizer: count now, book the tokens when the count arrives (times were taken).
            const isContent = facts.content;
            const isReasoning = facts.reasoning;
            pendingTokenizer = pendingTokenizer.then(async () =>
              addTokens(Math.max(1, await counted), at, isContent, isReasoning),
            );
            if (chunkLog !== undefined)
              chunkLog.push({ at, tokens: -1, data: buf.toString("utf8", start, end) });
            return;
          }
        }
        if (chunkLog !== undefined) chunkLog.push({ at, tokens, data: buf.toString("utf8", start, end) });
        addTokens(tokens, at, facts.content, facts.reasoning);
      });

      const onAbort = (): void => {
        controller?.abort(new RequestAborted("aborted"));
      };
      const timer = setTimeout(
        () => controller?.abort(new RequestTimeout(`no complete response within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      if (signal !== undefined) {
        if (signal.aborted) {
          timing.startAt = performance.now();
          fail("aborted", "aborted before sending");
          finish();
          return;
        }
        signal.addEventListener("abort", onAbort, { once: true });
      }

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          controller = c;
        },
        onResponseStart: (_c, statusCode) => {
          status = statusCode;
        },
        onResponseData: (_c, chunk) => {
          now = performance.now();
          if (status >= 200 && status < 300) parser.push(chunk);
          else if (errorBody.length < 2000) errorBody += chunk.toString("utf8");
        },
        onResponseEnd: () => {
          if (status < 200 || status >= 300) {
            fail("http", `HTTP ${status}: ${summarizeErrorBody(errorBody)}`, status);
          } else {
            parser.end();
            if (timing.error === undefined && !sawDone && timing.finishReason === undefined)
              fail("stream", "the stream ended without a finish_reason or [DONE]");
          }
          finish();
        },
        onResponseError: (_c, err) => {
          if (err instanceof RequestTimeout) fail("timeout", err.message);
          else if (err instanceof RequestAborted) fail("aborted", "aborted");
          else fail(classifyNetworkError(err), describeError(err));
          finish();
        },
      };
      timing.startAt = performance.now();
      this.pool.dispatch(
        {
          path: `${this.basePath}${request.path}`,
          method: "POST",
          headers: this.headers,
          body: request.body,
        },
        handler,
      );
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

function summarizeErrorBody(body: string): string {
  try {
    const json = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof json.error === "string") return json.error;
    if (typeof json.error?.message === "string") return json.error.message;
    if (typeof json.message === "string") return json.message;
  } catch {
    // not JSON: show the text
  }
  return body.slice(0, 200).trim() || "(empty body)";
}

function classifyNetworkError(err: Error): RequestErrorKind {
  const code = (err as { code?: unknown }).code;
  if (
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  )
    return "timeout";
  if (
    code === "UND_ERR_SOCKET" ||
    code === "ECONNRESET" ||
    code === "ECONNREFUSED" ||
    code === "EPIPE" ||
    code === "UND_ERR_CLOSED" ||
    code === "UND_ERR_DESTROYED" ||
    code === "ENOTFOUND" ||
    code === "EHOSTUNREACH"
  )
    return "connection";
  return "stream";
}

function describeError(err: Error): string {
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === "string" ? ` (${cause.code})` : "";
  return `${typeof code === "string" ? `${code}: ` : ""}${err.message}${detail}`;
}
