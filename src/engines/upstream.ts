/**
 * The upstream engine: any running OpenAI-compatible server (vLLM, llama-server, SGLang, Ollama, TGI)
 * behind the Engine interface, so servelab can serve, benchmark and compare it like its own engines.
 */

import { Pool } from "undici";
import {
  EngineError,
  InvalidArgumentError,
  ModelNotFoundError,
  ServelabError,
  UpstreamError,
} from "../core/errors.js";
import type {
  Engine,
  EngineInfo,
  EngineKind,
  EngineState,
  EngineStats,
  FinishReason,
  GenerateEvent,
  GenerateRequest,
  Precision,
} from "./engine.js";
import { mapUpstreamHttpError, mapUpstreamNetworkError } from "./upstream/errors.js";
import { SseResponse } from "./upstream/stream.js";
import { parseUpstreamUrl } from "./upstream/url.js";
import type { UpstreamFlavor } from "./upstream/metrics.js";

export { scrapeMetrics, readUpstreamMetrics } from "./upstream/metrics.js";
export type { ScrapeMetricsOptions, UpstreamFlavor, UpstreamMetrics } from "./upstream/metrics.js";
export { readSseData } from "./upstream/sse.js";
export { parseUpstreamUrl } from "./upstream/url.js";
export type { UpstreamUrl } from "./upstream/url.js";

export interface UpstreamEngineOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1`; a URL with no path gets
   * `/v1`. /health, /tokenize, /props and /metrics are looked up at the root (the URL without `/v1`). */
  baseUrl: string;
  /** Model to use (default: the first one /v1/models lists). */
  model?: string;
  /** Sent as `Authorization: Bearer <apiKey>` (vLLM --api-key, llama-server --api-key). */
  apiKey?: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** Context size when the server does not report it (vLLM's max_model_len and llama-server's
   * /props n_ctx win; default 4096). */
  contextSize?: number;
  /** Sequences the upstream decodes together, for info() (default 1). */
  parallel?: number;
  /** Precision for info() (default "unknown"). */
  precision?: Precision;
  /** Device for info() (default "unknown"). */
  device?: string;
  /** Most concurrent keep-alive connections to the upstream (default 256). */
  connections?: number;
  /** Longest wait for response headers and between streamed bytes, in ms (default 600 000). */
  timeoutMs?: number;
  /** Timeout of each check load() makes, in ms (default 10 000). */
  loadTimeoutMs?: number;
  /** Ask for vLLM's `stream_options.continuous_usage_stats` (usage in every chunk, so each text event
   * carries its exact token count). Default true; turn off for servers that reject unknown fields. */
  continuousUsageStats?: boolean;
  /** Reported as info().kind (default "upstream"; the vLLM engine passes "vllm"). */
  kind?: EngineKind;
  /** Reported as info().source (default: the base URL). */
  source?: string;
}

interface ModelEntry {
  id?: unknown;
  owned_by?: unknown;
  max_model_len?: unknown;
}

interface UsageChunk {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

interface StreamChunk {
  choices?: Array<{
    delta?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      thinking?: string | null;
    };
    text?: string | null;
    finish_reason?: string | null;
    stop_reason?: string | number | null;
  }>;
  usage?: UsageChunk | null;
  error?: unknown;
}

/** Maps an OpenAI/vLLM/llama-server finish_reason to servelab's. */
export function mapFinishReason(reason: string): FinishReason {
  switch (reason) {
    case "length":
      return "length";
    case "abort":
    case "cancelled":
      return "abort";
    default:
      // stop, eos, tool_calls, content_filter and anything new: the model (or upstream) ended it.
      return "stop";
  }
}

/** An Engine that attaches to a running OpenAI-compatible server. */
export interface UpstreamEngine extends Engine {
  /** Which server it looks like, known after load(). */
  readonly flavor: UpstreamFlavor;
  /** The normalized base URL. */
  readonly baseUrl: string;
}

/**
 * Attaches to an OpenAI-compatible server at `options.baseUrl`. load() checks /health (when present)
 * and /v1/models; generate() streams /v1/chat/completions (chat input) or /v1/completions (text input)
 * and turns each upstream chunk into events as it arrives.
 */
export function createUpstreamEngine(options: UpstreamEngineOptions): UpstreamEngine {
  const url = parseUpstreamUrl(options.baseUrl);
  for (const key of ["contextSize", "parallel", "connections"] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new InvalidArgumentError(`${key} must be a positive integer, got ${value}`, { param: key });
    }
  }
  const timeoutMs = options.timeoutMs ?? 600_000;
  const streamOptions =
    options.continuousUsageStats === false
      ? { include_usage: true }
      : { include_usage: true, continuous_usage_stats: true };
  const loadTimeoutMs = options.loadTimeoutMs ?? 10_000;
  const headers: Record<string, string> = { ...options.headers };
  if (options.apiKey !== undefined) headers["authorization"] = `Bearer ${options.apiKey}`;
  const jsonHeaders: Record<string, string> = { ...headers, "content-type": "application/json" };
  const streamHeaders: Record<string, string> = { ...jsonHeaders, accept: "text/event-stream" };

  let pool: Pool | undefined;
  let state: EngineState = "created";
  let modelId: string | undefined;
  let contextSize = options.contextSize ?? 4096;
  let flavor: UpstreamFlavor = "unknown";
  let loadTimeMs: number | undefined;
  let running = 0;
  let waiting = 0;
  /** How /tokenize worked last time; "estimate" once neither form did. */
  let tokenizeForm: "vllm" | "llama.cpp" | "estimate" | undefined;

  const getPool = (): Pool => {
    pool ??= new Pool(url.origin, {
      connections: options.connections ?? 256,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return pool;
  };

  /** One small JSON request (load checks, tokenize). Network failures become UpstreamError. */
  async function requestJson(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; text: string }> {
    const timeout = AbortSignal.timeout(loadTimeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      const response = await getPool().request({
        origin: url.origin,
        path,
        method,
        headers: body === undefined ? headers : jsonHeaders,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: combined,
      });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (err) {
      throw mapUpstreamNetworkError(err, `${url.origin}${path}`, `${method}`);
    }
  }

  const parseJson = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };

  async function load(signal?: AbortSignal): Promise<void> {
    if (state === "disposed") throw new EngineError("the upstream engine was disposed");
    const t0 = performance.now();
    state = "loading";
    try {
      let health;
      try {
        health = await requestJson("GET", `${url.rootPath}/health`, undefined, signal);
      } catch (err) {
        throw new UpstreamError(
          `cannot reach the upstream server at ${url.href}: ${(err as Error).message}. Is it running, and is the URL right (like http://127.0.0.1:8000/v1)?`,
          undefined,
          url.href,
          { cause: err },
        );
      }
      // 404/405: a server without /health (Ollama, some proxies) is fine; 503 means still loading.
      if (health.status >= 500) {
        throw new UpstreamError(
          `the upstream server at ${url.href} is not healthy (/health answered ${health.status}${health.text === "" ? "" : `: ${health.text.slice(0, 200)}`})`,
          health.status,
          url.href,
        );
      }
      const models = await requestJson("GET", `${url.basePath}/models`, undefined, signal);
      if (models.status !== 200) {
        const err = mapUpstreamHttpError(models.status, models.text, url.href);
        const hint =
          models.status === 401 || models.status === 403 ? " (set the API key the server expects)" : "";
        throw new UpstreamError(
          `listing models at ${url.href}/models failed: ${err.message}${hint}`,
          models.status,
          url.href,
        );
      }
      const list = (parseJson(models.text) as { data?: ModelEntry[] } | undefined)?.data;
      if (!Array.isArray(list) || list.length === 0) {
        throw new UpstreamError(
          `the upstream server at ${url.href} lists no models at /models`,
          200,
          url.href,
        );
      }
      const ids = list.map((m) => String(m.id));
      const entry = options.model === undefined ? list[0] : list.find((m) => m.id === options.model);
      if (entry === undefined) {
        throw new ModelNotFoundError(
          options.model ?? "",
          `model '${options.model}' is not served by ${url.href}; it serves: ${ids.join(", ")}`,
        );
      }
      modelId = String(entry.id);
      if (entry.owned_by === "vllm") flavor = "vllm";
      else if (entry.owned_by === "llamacpp") flavor = "llama.cpp";
      if (typeof entry.max_model_len === "number" && entry.max_model_len > 0) {
        contextSize = entry.max_model_len;
      } else {
        const props = await requestJson("GET", `${url.rootPath}/props`, undefined, signal).catch(
          () => undefined,
        );
        if (props?.status === 200) {
          const parsed = parseJson(props.text) as
            { default_generation_settings?: { n_ctx?: unknown }; n_ctx?: unknown } | undefined;
          const nCtx = parsed?.default_generation_settings?.n_ctx ?? parsed?.n_ctx;
          if (typeof nCtx === "number" && nCtx > 0) {
            contextSize = nCtx;
            flavor = "llama.cpp";
          }
        }
      }
      loadTimeMs = performance.now() - t0;
      state = "ready";
    } catch (err) {
      state = "failed";
      throw err;
    }
  }

  function requireReady(): string {
    if (state !== "ready" || modelId === undefined) {
      throw new EngineError(
        state === "disposed"
          ? "the upstream engine was disposed"
          : `the upstream engine is not ready (state: ${state}); call load() first`,
      );
    }
    return modelId;
  }

  function buildBody(request: GenerateRequest, model: string): Record<string, unknown> {
    const body: Record<string, unknown> = {
      model,
      stream: true,
      stream_options: streamOptions,
      max_tokens: request.maxTokens,
    };
    if (request.input.type === "chat") body["messages"] = request.input.messages;
    else body["prompt"] = request.input.text;
    const s = request.sampling;
    if (s.temperature !== undefined) body["temperature"] = s.temperature;
    if (s.topP !== undefined) body["top_p"] = s.topP;
    if (s.topK !== undefined) body["top_k"] = s.topK;
    if (s.minP !== undefined) body["min_p"] = s.minP;
    if (s.seed !== undefined) body["seed"] = s.seed;
    if (s.presencePenalty !== undefined) body["presence_penalty"] = s.presencePenalty;
    if (s.frequencyPenalty !== undefined) body["frequency_penalty"] = s.frequencyPenalty;
    if (s.repeatPenalty !== undefined) {
      // vLLM calls it repetition_penalty, llama-server repeat_penalty; each ignores the other's name.
      body["repetition_penalty"] = s.repeatPenalty;
      body["repeat_penalty"] = s.repeatPenalty;
    }
    if (request.stop !== undefined && request.stop.length > 0) body["stop"] = request.stop;
    if (request.ignoreEos === true) body["ignore_eos"] = true;
    return body;
  }

  async function* generate(request: GenerateRequest): AsyncGenerator<GenerateEvent> {
    const model = requireReady();
    const chat = request.input.type === "chat";
    const path = chat ? `${url.basePath}/chat/completions` : `${url.basePath}/completions`;
    const userSignal = request.signal;
    let response: SseResponse | undefined;
    const onAbort = (): void => response?.abort(new Error("the request was aborted"));
    const aborted = (): boolean => userSignal?.aborted === true;
    userSignal?.addEventListener("abort", onAbort, { once: true });

    let done = false;
    // Stats: waiting until the first chunk arrives, running from then on.
    waiting++;
    let streaming = false;
    let started = false;
    let promptTokens = 0;
    let cachedPromptTokens = 0;
    /** Prompt counts learned since the last text event, to go with the next one. */
    let promptNews = false;
    let completionTokens = 0;
    let finish: string | undefined;
    let stopReason: string | number | null | undefined;
    const startEvent = (): GenerateEvent => {
      started = true;
      return { type: "start", promptTokens, cachedPromptTokens, time: performance.now() };
    };
    const abortedEvents = function* (): Generator<GenerateEvent> {
      if (!started) yield startEvent();
      yield { type: "done", finishReason: "abort", promptTokens, completionTokens, time: performance.now() };
    };
    const textEvent = (
      text: string,
      tokens: number,
      time: number,
      channel: "reasoning" | undefined,
    ): GenerateEvent => {
      const event: GenerateEvent = { type: "text", text, tokens, time };
      if (channel !== undefined) event.channel = channel;
      if (promptNews) {
        event.promptTokens = promptTokens;
        event.cachedPromptTokens = cachedPromptTokens;
        promptNews = false;
      }
      return event;
    };

    try {
      if (aborted()) {
        yield* abortedEvents();
        return;
      }
      let status: number;
      try {
        response = new SseResponse(getPool(), {
          origin: url.origin,
          path,
          method: "POST",
          headers: streamHeaders,
          body: JSON.stringify(buildBody(request, model)),
        });
        status = await response.started();
      } catch (err) {
        if (aborted()) {
          yield* abortedEvents();
          return;
        }
        throw mapUpstreamNetworkError(err, `${url.origin}${path}`, "POST");
      }
      if (status !== 200) throw mapUpstreamHttpError(status, await response.text(), url.href);
      // The upstream accepted the request: start now, so that a client gets its response head while the
      // first token is computed rather than with it (a head that comes with the first token is on that
      // token's path). The prompt's token counts come with the first chunk that has usage.
      yield startEvent();

      let usageSeen = false;
      try {
        // Events that arrived together are taken one after another without waiting; the loop waits only
        // when none is left. It reads on to the end of the body (a fully read body keeps the connection).
        for (;;) {
          const data = response.take();
          if (data === undefined) {
            if (response.done) break;
            await response.wait();
            continue;
          }
          if (data === "[DONE]") continue;
          let chunk: StreamChunk;
          try {
            chunk = JSON.parse(data) as StreamChunk;
          } catch {
            throw new UpstreamError(
              `upstream ${url.href} sent a malformed stream chunk: ${data.slice(0, 200)}`,
              200,
              url.href,
            );
          }
          if (chunk.error !== undefined && chunk.error !== null) {
            throw mapUpstreamHttpError(undefined, JSON.stringify({ error: chunk.error }), url.href);
          }
          if (!streaming) {
            streaming = true;
            waiting--;
            running++;
          }
          const usage = chunk.usage;
          let newTokens: number | undefined;
          if (usage !== undefined && usage !== null) {
            if (typeof usage.prompt_tokens === "number" && usage.prompt_tokens !== promptTokens) {
              promptTokens = usage.prompt_tokens;
              promptNews = true;
            }
            const cached = usage.prompt_tokens_details?.cached_tokens;
            if (typeof cached === "number" && cached !== cachedPromptTokens) {
              cachedPromptTokens = cached;
              promptNews = true;
            }
            if (typeof usage.completion_tokens === "number") {
              usageSeen = true;
              newTokens = usage.completion_tokens - completionTokens;
              completionTokens = usage.completion_tokens;
            }
          }
          const choice = chunk.choices?.[0];
          if (choice === undefined) continue;
          let text: string | null | undefined;
          let reasoning: string | null | undefined;
          if (chat) {
            const delta = choice.delta;
            if (delta !== undefined) {
              text = delta.content;
              reasoning = delta.reasoning_content ?? delta.reasoning ?? delta.thinking;
            }
          } else {
            text = choice.text;
          }
          const hasText = typeof text === "string" && text !== "";
          const hasReasoning = typeof reasoning === "string" && reasoning !== "";
          if (hasText || hasReasoning) {
            if (newTokens === undefined) {
              newTokens = 1;
              if (!usageSeen) completionTokens++;
            }
            const time = performance.now();
            if (hasReasoning)
              yield textEvent(reasoning as string, hasText ? 0 : newTokens, time, "reasoning");
            if (hasText) yield textEvent(text as string, newTokens, time, undefined);
          }
          if (typeof choice.finish_reason === "string") {
            finish = choice.finish_reason;
            stopReason = choice.stop_reason;
          }
        }
      } catch (err) {
        if (aborted()) {
          yield* abortedEvents();
          return;
        }
        if (err instanceof ServelabError) throw err;
        throw new UpstreamError(
          `the stream from ${url.href} broke off (${(err as { code?: string }).code ?? (err as Error).message}); the upstream server may have crashed`,
          undefined,
          url.href,
          { cause: err },
        );
      }
      if (finish === undefined) {
        if (aborted()) {
          yield* abortedEvents();
          return;
        }
        throw new UpstreamError(
          `the stream from ${url.href} ended without a finish_reason`,
          undefined,
          url.href,
        );
      }
      const last: GenerateEvent = {
        type: "done",
        finishReason: mapFinishReason(finish),
        promptTokens,
        cachedPromptTokens,
        completionTokens,
        time: performance.now(),
      };
      if (typeof stopReason === "string" && request.stop?.includes(stopReason) === true)
        last.stopSequence = stopReason;
      done = true;
      yield last;
    } finally {
      userSignal?.removeEventListener("abort", onAbort);
      // Breaking out of the loop (or an error) cancels the upstream request.
      if (!done) response?.abort(new Error("the generation ended before the upstream response"));
      if (streaming) running--;
      else waiting--;
    }
  }

  async function countTokens(text: string): Promise<number> {
    const model = requireReady();
    const estimate = (): number => Math.max(1, Math.ceil(text.length / 4));
    if (tokenizeForm === "estimate") return estimate();
    const forms: Array<"vllm" | "llama.cpp"> =
      tokenizeForm !== undefined
        ? [tokenizeForm]
        : flavor === "llama.cpp"
          ? ["llama.cpp"]
          : ["vllm", "llama.cpp"];
    for (const form of forms) {
      const body = form === "vllm" ? { model, prompt: text } : { content: text };
      const response = await requestJson("POST", `${url.rootPath}/tokenize`, body).catch(() => undefined);
      if (response?.status !== 200) continue;
      const parsed = parseJson(response.text) as { count?: unknown; tokens?: unknown } | undefined;
      const count =
        typeof parsed?.count === "number"
          ? parsed.count
          : Array.isArray(parsed?.tokens)
            ? parsed.tokens.length
            : undefined;
      if (count === undefined) continue;
      tokenizeForm = form;
      return count;
    }
    if (tokenizeForm === undefined) tokenizeForm = "estimate";
    return estimate();
  }

  async function dispose(): Promise<void> {
    if (state === "disposed") return;
    state = "disposed";
    const p = pool;
    pool = undefined;
    await p?.destroy().catch(() => undefined);
  }

  return {
    get state() {
      return state;
    },
    get flavor() {
      return flavor;
    },
    baseUrl: url.href,
    info(): EngineInfo {
      const model = requireReadyOrFailed();
      return {
        kind: options.kind ?? "upstream",
        modelId: model,
        source: options.source ?? url.href,
        precision: options.precision ?? "unknown",
        device: options.device ?? "unknown",
        contextSize,
        parallel: options.parallel ?? 1,
      };
    },
    stats(): EngineStats {
      return { loadTimeMs, ramBytes: undefined, vramBytes: undefined, running, waiting };
    },
    load,
    countTokens,
    generate,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };

  function requireReadyOrFailed(): string {
    if (modelId === undefined)
      throw new EngineError(`info() is valid once load() resolved (state: ${state})`);
    return modelId;
  }
}
