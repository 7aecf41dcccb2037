/**
 * A scripted-timing OpenAI-compatible server for testing and benchmarking the bench harness itself.
 *
 * Every stream follows a script known in advance (time to first token, interval between tokens, tokens
 * per chunk, reasoning tokens first, usage chunks, errors on demand), scheduled by absolute time so
 * timer delays never accumulate. Each chunk also carries the monotonic time the server actually wrote it
 * (`x_sent`, milliseconds on the machine-wide monotonic clock of process.hrtime) and how many tokens it
 * holds (`x_tokens`), so tests compare the harness's measurements against what was really sent and
 * scheduler noise on the server side is not counted as harness error.
 *
 * This file imports only node built-ins so it can be transpiled alone and run as its own process.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What a scripted request does instead of finishing normally. */
export type ScriptedErrorMode = "none" | "status" | "reset" | "hang" | "stream-error";

/** How the server reports usage in streams. `auto` follows the request's `stream_options`. */
export type ScriptedUsageMode = "auto" | "none" | "final" | "continuous";

export interface ScriptedScript {
  /** Milliseconds from request arrival to the first token (default 50). */
  ttftMs: number;
  /** Adds a random 0 to this many milliseconds to each request's TTFT (default 0). Streams that start
   * together then do not send their tokens in the same instant, as independent streams would not. */
  ttftJitterMs: number;
  /** Milliseconds between consecutive tokens (default 10). */
  itlMs: number;
  /** Tokens per streamed chunk; a chunk is sent when its last token is due (default 1). */
  tokensPerChunk: number;
  /** Reasoning tokens streamed before any content token (default 0). */
  reasoningTokens: number;
  /** Delta field that carries reasoning (default `reasoning_content`). */
  reasoningField: "reasoning_content" | "reasoning" | "thinking";
  /** Tokens to generate in all, reasoning included; default the request's max_tokens, else 16. */
  outputTokens: number | undefined;
  /** Stop with finish_reason "stop" after this many tokens unless the request sets ignore_eos. */
  eosAfter: number | undefined;
  /** Whether `ignore_eos` is honoured (false imitates a server that ignores the field). */
  honourIgnoreEos: boolean;
  usage: ScriptedUsageMode;
  error: ScriptedErrorMode;
  /** HTTP status for `error: "status"` (default 500). */
  errorStatus: number;
  /** For `reset` and `stream-error`: tokens sent before the failure (default 2). */
  errorAfterTokens: number;
  /** Apply `error` only to every n-th completion request (1-based count; default 1: every one). */
  errorEvery: number;
}

export interface ScriptedServerOptions extends Partial<ScriptedScript> {
  /** Port to listen on; 0 (default) picks a free one. Always binds 127.0.0.1. */
  port?: number;
  /** Model id reported by /v1/models (default `scripted-model`). */
  modelId?: string;
}

/** A running scripted server. */
export interface ScriptedServer {
  /** Base URL ending in /v1. */
  readonly url: string;
  readonly port: number;
  /** Requests received so far. */
  readonly requestCount: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const defaultScript: ScriptedScript = {
  ttftMs: 50,
  ttftJitterMs: 0,
  itlMs: 10,
  tokensPerChunk: 1,
  reasoningTokens: 0,
  reasoningField: "reasoning_content",
  outputTokens: undefined,
  eosAfter: undefined,
  honourIgnoreEos: true,
  usage: "auto",
  error: "none",
  errorStatus: 500,
  errorAfterTokens: 2,
  errorEvery: 1,
};

/** Milliseconds on the machine-wide monotonic clock (CLOCK_MONOTONIC), comparable across processes. */
export function readMonotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * The constant to add to performance.now() to get {@link readMonotonicMs}'s clock (the clock of the `x_sent`
 * stamps). The two clocks differ by a constant, but one reading of each can be split by a preemption, which on
 * a busy machine is milliseconds: of many pairs (monotonic clock read first), the largest difference is one
 * read without a gap (stable to 0.1 us on the 2-core VM, where single pairs scattered over 18 ms under load).
 */
export function measureMonotonicOffsetMs(pairs = 2000): number {
  let offset = -Infinity;
  for (let i = 0; i < pairs; i++) {
    const monotonic = readMonotonicMs();
    const d = monotonic - performance.now();
    if (d > offset) offset = d;
  }
  return offset;
}

interface ParsedRequest {
  body: Record<string, unknown>;
  chat: boolean;
}

function countPromptWords(body: Record<string, unknown>): number {
  let text = "";
  if (typeof body.prompt === "string") text = body.prompt;
  else if (Array.isArray(body.messages)) {
    for (const m of body.messages as { content?: unknown }[])
      if (typeof m.content === "string") text += ` ${m.content}`;
  }
  const words = text
    .trim()
    .split(/\s+/u)
    .filter((w) => w.length > 0);
  return words.length;
}

function pickScript(base: ScriptedScript, body: Record<string, unknown>): ScriptedScript {
  const override = body.scripted;
  if (override === null || typeof override !== "object") return base;
  return { ...base, ...(override as Partial<ScriptedScript>) };
}

/** Start a scripted server on 127.0.0.1. */
export async function startScriptedServer(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const { port = 0, modelId = "scripted-model", ...scriptOptions } = options;
  const base: ScriptedScript = { ...defaultScript };
  for (const [k, v] of Object.entries(scriptOptions))
    if (v !== undefined) (base as unknown as Record<string, unknown>)[k] = v;
  let requestCount = 0;
  let running = 0;
  let counter = 0;
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const arrival = readMonotonicMs();
    const url = req.url ?? "/";
    if (req.method === "GET" && url.startsWith("/v1/models")) {
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({ object: "list", data: [{ id: modelId, object: "model", owned_by: "scripted" }] }),
      );
      return;
    }
    if (req.method === "GET" && url === "/metrics") {
      res.setHeader("content-type", "text/plain; version=0.0.4");
      res.end(
        `# HELP scripted_requests_total Requests received.\n# TYPE scripted_requests_total counter\nscripted_requests_total ${requestCount}\n` +
          `# TYPE scripted_requests_running gauge\nscripted_requests_running ${running}\n`,
      );
      return;
    }
    const chat = url.startsWith("/v1/chat/completions");
    if (req.method !== "POST" || (!chat && !url.startsWith("/v1/completions"))) {
      res.statusCode = 404;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url}`, type: "not_found" } }));
      return;
    }
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>;
      } catch {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: { message: "body is not JSON", type: "invalid_request_error" } }));
        return;
      }
      requestCount++;
      running++;
      res.on("close", () => running--);
      const picked = pickScript(base, body);
      const script =
        picked.ttftJitterMs > 0
          ? { ...picked, ttftMs: picked.ttftMs + Math.random() * picked.ttftJitterMs }
          : picked;
      const every = Math.max(1, Math.floor(script.errorEvery));
      serveCompletion(
        res,
        { body, chat },
        requestCount % every === 0 ? script : { ...script, error: "none" },
        arrival,
        `cmpl-${++counter}`,
      );
    });
  });
  server.on("connection", (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;
  server.maxRequestsPerSocket = 0;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    return closed;
  };
  return {
    url: `http://127.0.0.1:${actualPort}/v1`,
    port: actualPort,
    get requestCount() {
      return requestCount;
    },
    close,
    [Symbol.asyncDispose]: close,
  };

  function serveCompletion(
    res: http.ServerResponse,
    request: ParsedRequest,
    script: ScriptedScript,
    arrival: number,
    id: string,
  ): void {
    const { body, chat } = request;
    const model = typeof body.model === "string" ? body.model : modelId;
    const maxTokens = typeof body.max_tokens === "number" ? body.max_tokens : undefined;
    let total = script.outputTokens ?? maxTokens ?? 16;
    if (maxTokens !== undefined) total = Math.min(total, maxTokens);
    let finishReason = "length";
    const ignoreEos = body.ignore_eos === true && script.honourIgnoreEos;
    if (script.eosAfter !== undefined && !ignoreEos && script.eosAfter < total) {
      total = script.eosAfter;
      finishReason = "stop";
    }
    const promptTokens = countPromptWords(body);
    const streamOptions = (body.stream_options ?? {}) as {
      include_usage?: unknown;
      continuous_usage_stats?: unknown;
    };
    const usageMode =
      script.usage !== "auto"
        ? script.usage
        : streamOptions.continuous_usage_stats === true
          ? "continuous"
          : streamOptions.include_usage === true
            ? "final"
            : "none";

    if (script.error === "status") {
      res.statusCode = script.errorStatus;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          error: { message: "scripted failure", type: "server_error", code: script.errorStatus },
        }),
      );
      return;
    }
    if (body.stream !== true) {
      const delay = Math.max(
        0,
        arrival + script.ttftMs + Math.max(0, total - 1) * script.itlMs - readMonotonicMs(),
      );
      setTimeout(() => {
        const text = Array.from({ length: total }, (_, i) => `t${i + 1} `).join("");
        res.setHeader("content-type", "application/json");
        const usage = {
          prompt_tokens: promptTokens,
          completion_tokens: total,
          total_tokens: promptTokens + total,
        };
        res.end(
          JSON.stringify(
            chat
              ? {
                  id,
                  object: "chat.completion",
                  model,
                  choices: [
                    { index: 0, message: { role: "assistant", content: text }, finish_reason: finishReason },
                  ],
                  usage,
                }
              : {
                  id,
                  object: "text_completion",
                  model,
                  choices: [{ index: 0, text, finish_reason: finishReason }],
                  usage,
                },
          ),
        );
      }, delay);
      return;
    }

    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.flushHeaders();
    if (script.error === "hang") return;

    const created = Math.floor(Date.now() / 1000);
    const reasoning = Math.min(script.reasoningTokens, total);
    const perChunk = Math.max(1, Math.floor(script.tokensPerChunk));
    // Chunk boundaries: groups of perChunk tokens, never mixing reasoning and content.
    const boundaries: number[] = [];
    for (let i = 0; i < reasoning;) {
      i = Math.min(reasoning, i + perChunk);
      boundaries.push(i);
    }
    for (let i = reasoning; i < total;) {
      i = Math.min(total, i + perChunk);
      boundaries.push(i);
    }
    const failAt =
      script.error === "reset" || script.error === "stream-error" ? script.errorAfterTokens : Infinity;
    let sent = 0;
    let chunkIndex = 0;
    let timer: NodeJS.Timeout | undefined;
    let aborted = false;
    res.on("close", () => {
      aborted = true;
      if (timer !== undefined) clearTimeout(timer);
    });

    const usageJson = (completion: number): string =>
      `{"prompt_tokens":${promptTokens},"completion_tokens":${completion},"total_tokens":${promptTokens + completion}}`;

    const step = (): void => {
      timer = undefined;
      if (aborted) return;
      const end = boundaries[chunkIndex];
      if (end === undefined) return;
      if (sent >= failAt) {
        fail();
        return;
      }
      const isReasoning = end <= reasoning;
      let text = "";
      for (let i = sent + 1; i <= end; i++) text += isReasoning ? `r${i} ` : `t${i - reasoning} `;
      const last = end === total;
      const tokens = end - sent;
      const finish = last ? `"${finishReason}"` : "null";
      const escaped = JSON.stringify(text);
      const choice = chat
        ? `{"index":0,"delta":{${chunkIndex === 0 ? '"role":"assistant",' : ""}${isReasoning ? `"${script.reasoningField}":${escaped},"content":null` : `"content":${escaped}`}},"finish_reason":${finish}}`
        : `{"index":0,"text":${escaped},"finish_reason":${finish}}`;
      const usage = usageMode === "continuous" ? `,"usage":${usageJson(end)}` : "";
      const head = `data: {"id":"${id}","object":"${chat ? "chat.completion.chunk" : "text_completion"}","created":${created},"model":${JSON.stringify(model)},"choices":[${choice}]${usage},"x_tokens":${tokens}`;
      const sentAt = readMonotonicMs();
      const recv = chunkIndex === 0 ? `,"x_recv":${arrival.toFixed(4)}` : "";
      let out = `${head}${recv},"x_sent":${sentAt.toFixed(4)}}\n\n`;
      sent = end;
      chunkIndex++;
      if (last) {
        if (usageMode !== "none")
          out += `data: {"id":"${id}","object":"${chat ? "chat.completion.chunk" : "text_completion"}","created":${created},"model":${JSON.stringify(model)},"choices":[],"usage":${usageJson(total)}}\n\n`;
        out += "data: [DONE]\n\n";
        res.end(out);
        return;
      }
      res.write(out);
      schedule();
    };

    const fail = (): void => {
      if (script.error === "reset") {
        res.socket?.resetAndDestroy();
        return;
      }
      res.end('data: {"error":{"message":"scripted stream failure","type":"server_error","code":500}}\n\n');
    };

    const schedule = (): void => {
      const end = boundaries[chunkIndex];
      if (end === undefined) return;
      // Absolute schedule: token k is due at arrival + ttft + (k - 1) * itl; a chunk goes when its last token is due.
      const due = arrival + script.ttftMs + (Math.min(end, failAt + 1) - 1) * script.itlMs;
      const delay = due - readMonotonicMs();
      timer = setTimeout(step, delay > 0 ? delay : 0);
    };

    if (total === 0) {
      res.end("data: [DONE]\n\n");
      return;
    }
    schedule();
  }
}
