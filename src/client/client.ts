/**
 * The servelab client: chat with any OpenAI-compatible server (servelab, vLLM, llama-server, …) through
 * the official `openai` package, with the reasoning separated from the answer whichever way the server
 * sends it (`reasoning_content`, `reasoning`, `thinking`, or inline `<think>…</think>`), typed errors,
 * and retries only where they are safe.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import type { ChatMessage } from "../engines/engine.js";
import { appendMathInstruction, extractBoxed } from "../core/math-answer.js";
import { InvalidArgumentError } from "../core/errors.js";
import { profiles } from "../models/profiles.js";
import {
  createReasoningParser,
  type ReasoningDelta,
  type ReasoningParser,
  type ReasoningParserProfile,
} from "../models/reasoning-parser.js";
import {
  ClientAbortedError,
  ClientConnectionError,
  ClientError,
  ClientHttpError,
  ClientStreamError,
  ClientTimeoutError,
} from "./errors.js";

/** How the client treats `<think>` tags in content when the server sends no reasoning field. */
export type ThinkTagMode =
  /**
   * Split when the content starts with `<think>`, or when it contains `</think>` with no `<think>` before
   * it (a DeepSeek-R1 prompt opened the tag: everything before it is reasoning). A `<think>` anywhere else
   * is text the model mentions: no split.
   *
   * `stream()` decides the same way, but must decide before the text is shown. For a model whose chat
   * template opens the reasoning in the prompt (a model id naming DeepSeek-R1 or an R1 distill, as the
   * server's profile detection reads it, or QwQ) it holds the content back until the format is known:
   * a `</think>` arrives (the held text is reasoning), the text starts with `<think>`, a `<think>` appears
   * first (no split), the server sends a reasoning field (it splits itself), or the stream ends (all
   * content); the result is then exactly chat()'s. For other models the format is decided on the first
   * text that cannot begin `<think>` (a `</think>` already in it splits as chat() does), so their
   * answers stream at once — holding them back would stop every plain answer from streaming: when a
   * `</think>` with no `<think>` before it comes later, the tag and the whitespace after it are dropped,
   * never shown, and what came before stays content. Use `implicit` for such a model whose prompt opens
   * the reasoning. No mode ever shows a piece of a tag cut across chunks.
   */
  | "auto"
  /** The prompt opened the reasoning: everything before `</think>` is reasoning (raw R1 servers). */
  | "implicit"
  /** Never split: tags stay in the content. */
  | "off";

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** The API base URL, with its `/v1`. Default `http://127.0.0.1:8000/v1`. */
  baseURL?: string;
  /** Sent as `Authorization: Bearer …`. Default: none (servers without auth ignore it). */
  apiKey?: string;
  /** The `model` field. Default: the first model the server lists at `/models`. */
  model?: string;
  /** Milliseconds to wait for a response (for streams: for the response to start). Default 600000. */
  timeoutMs?: number;
  /** Retries of a request that is safe to repeat: connection refused before any byte, or HTTP 429/503.
   * Default 2. */
  maxRetries?: number;
  /** First back-off delay in ms (doubles each retry) when the server gives no Retry-After. Default 250. */
  retryDelayMs?: number;
  /** Longest wait between retries, Retry-After included, in ms. Default 30000. */
  maxRetryDelayMs?: number;
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>;
  /** Inline `<think>` handling; default `auto`. */
  thinkTags?: ThinkTagMode;
}

/** Options of one chat request. Unset sampling fields are left to the server (and its model profile). */
export interface ChatOptions {
  model?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop?: string[];
  seed?: number;
  /** Append the math instruction (`\boxed{}`) to the last user turn, client side. */
  math?: boolean;
  /** Aborting rejects with ClientAbortedError (and stops a stream). */
  signal?: AbortSignal;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  /** Extra fields for the request body (server-specific options). */
  extraBody?: Record<string, unknown>;
}

/** Token counts as the server reported them. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** The result of {@link ServelabClient.chat}. */
export interface ChatResult {
  /** The answer, without the reasoning. */
  content: string;
  /** The reasoning ("" when the model or server gives none). */
  reasoning: string;
  /** `stop`, `length`, `repetition` (servelab's repetition guard), … as the server sent it. */
  finishReason: string;
  usage: Usage | undefined;
  /** True when generation ended inside the reasoning (the server's `reasoning_truncated`, or, for
   * servers without it, finish reason `length` before `</think>`). */
  reasoningTruncated?: boolean;
  /** The response as received. */
  raw: ChatCompletion;
}

/** An event of {@link ServelabClient.stream}; `finish` is always the last. */
export type StreamEvent =
  | { type: "reasoning"; text: string }
  | { type: "content"; text: string }
  | { type: "usage"; usage: Usage }
  | { type: "finish"; reason: string; reasoningTruncated: boolean };

/** The result of {@link ServelabClient.answer}. */
export interface AnswerResult {
  /** The last `\boxed{}` of the content; undefined when there is none (e.g. truncated reasoning). */
  answer: string | undefined;
  reasoning: string;
  content: string;
  finishReason: string;
}

/** A client for one OpenAI-compatible server. */
export interface ServelabClient {
  /** The base URL requests go to. */
  readonly baseURL: string;
  /** One chat completion, reasoning separated. */
  chat(messages: readonly ChatMessage[], options?: ChatOptions): Promise<ChatResult>;
  /** A streamed chat completion. Breaking out of the loop aborts the HTTP request. */
  stream(messages: readonly ChatMessage[], options?: ChatOptions): AsyncIterable<StreamEvent>;
  /** The answer to one user message (with an optional system message), as a string. */
  simple(user: string, system?: string, options?: ChatOptions): Promise<string>;
  /** A math question answered with the math instruction; the answer is the last `\boxed{}`. */
  answer(question: string, options?: ChatOptions): Promise<AnswerResult>;
  /** The model ids the server lists. */
  listModels(options?: { signal?: AbortSignal }): Promise<string[]>;
}

/** The default base URL: a servelab server on this machine. */
export const defaultBaseURL = "http://127.0.0.1:8000/v1";

const thinkTagsExplicit: ReasoningParserProfile = {
  reasoning: { kind: "think-tags", openTag: "<think>", closeTag: "</think>", implicitOpen: false },
};
const thinkTagsImplicit: ReasoningParserProfile = {
  reasoning: { kind: "think-tags", openTag: "<think>", closeTag: "</think>", implicitOpen: true },
};
const noThinkTags: ReasoningParserProfile = { reasoning: { kind: "none" } };
const openTag = "<think>";
const closeTag = "</think>";
const nothing: ReasoningDelta = { reasoning: "", content: "" };

/** Whether a model's chat template opens the reasoning in the prompt, so that a server that does not
 * split it sends reasoning first and `</think>` with no `<think>`: DeepSeek-R1 and its distills (the
 * name rule of the server's deepseek-r1-distill profile), QwQ. */
function promptOpensReasoning(model: string): boolean {
  return profiles["deepseek-r1-distill"].detection.namePattern?.test(model) === true || /qwq/i.test(model);
}

/** The length of the longest proper prefix of `tag` that `text` ends with. */
function partialTagLength(text: string, tag: string): number {
  for (let k = Math.min(tag.length - 1, text.length); k > 0; k--)
    if (text.endsWith(tag.slice(0, k))) return k;
  return 0;
}

/**
 * Content that streams at once (auto mode, a model whose prompt does not open the reasoning): passed
 * through, except that a `</think>` before any `<think>` is dropped with the whitespace after it; a
 * possible partial tag at the end of a chunk is held back until the next one decides it.
 */
function createContentFilter(): ReasoningParser {
  let pending = "";
  let trimLead = true;
  let passThrough = false;
  const run = (text: string, final: boolean): ReasoningDelta => {
    let s = pending + text;
    pending = "";
    let content = "";
    while (s.length > 0) {
      if (trimLead) {
        s = s.replace(/^\s+/, "");
        if (s.length === 0) break;
        trimLead = false;
      }
      if (passThrough) {
        content += s;
        break;
      }
      const close = s.indexOf(closeTag);
      const open = s.indexOf(openTag);
      if (open >= 0 && (close < 0 || open < close)) {
        passThrough = true; // a tag the model mentions: the rest is text, as chat() keeps it
        continue;
      }
      if (close >= 0) {
        content += s.slice(0, close);
        s = s.slice(close + closeTag.length);
        passThrough = true;
        trimLead = true;
        continue;
      }
      const keep = final ? 0 : Math.max(partialTagLength(s, closeTag), partialTagLength(s, openTag));
      content += s.slice(0, s.length - keep);
      pending = s.slice(s.length - keep);
      break;
    }
    return { reasoning: "", content };
  };
  return {
    push: (text) => run(text, false),
    pushReasoning: (text) => ({ ...run("", true), reasoning: text }),
    finish: () => ({ ...run("", true), reasoningComplete: true }),
  };
}

/** `auto` for streams: see {@link ThinkTagMode}. `hold`: the model's prompt may have opened the
 * reasoning, so content waits until the format is decided. */
function createAutoParser(hold: boolean): ReasoningParser {
  let inner: ReasoningParser | undefined;
  let held = "";
  const merge = (a: ReasoningDelta, b: ReasoningDelta): ReasoningDelta => ({
    reasoning: a.reasoning + b.reasoning,
    content: a.content + b.content,
  });
  const decide = (parser: ReasoningParser): ReasoningDelta => {
    inner = parser;
    const text = held;
    held = "";
    return text.length > 0 ? parser.push(text) : nothing;
  };
  /** The parser the held text calls for, or undefined while it cannot be decided yet. */
  const choose = (final: boolean): ReasoningParser | undefined => {
    const start = held.replace(/^\s+/, "");
    if (start.startsWith(openTag)) return createReasoningParser(thinkTagsExplicit);
    const close = held.indexOf(closeTag);
    const open = held.indexOf(openTag);
    if (close >= 0 && (open < 0 || close < open)) return createReasoningParser(thinkTagsImplicit);
    // a <think> not at the start, or nothing more to come: no split
    if (open >= 0 || final) return createReasoningParser(thinkTagsExplicit);
    if (openTag.startsWith(start)) return undefined; // may still become the opening tag
    return hold ? undefined : createContentFilter();
  };
  return {
    push(text) {
      if (inner !== undefined) return inner.push(text);
      held += text;
      const parser = choose(false);
      return parser === undefined ? nothing : decide(parser);
    },
    pushReasoning(text) {
      // the server splits the reasoning itself: what was held is no reasoning of ours
      const flushed = inner === undefined ? decide(createReasoningParser(thinkTagsExplicit)) : nothing;
      return merge(flushed, inner!.pushReasoning(text));
    },
    finish() {
      const flushed = inner === undefined ? decide(choose(true)!) : nothing;
      const rest = inner!.finish();
      return { ...merge(flushed, rest), reasoningComplete: rest.reasoningComplete };
    },
  };
}

/** The reasoning text of a message or delta, from whichever field the server uses. */
function readReasoningField(object: unknown): string | undefined {
  if (typeof object !== "object" || object === null) return undefined;
  const record = object as Record<string, unknown>;
  for (const key of ["reasoning_content", "reasoning", "thinking"]) {
    const value = record[key];
    if (typeof value === "string" && value.length > 0) return value;
  }
  return undefined;
}

function readUsage(usage: ChatCompletion["usage"] | null | undefined): Usage | undefined {
  if (usage === undefined || usage === null) return undefined;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens,
  };
}

/** The system error code (`ECONNREFUSED`, …) somewhere in an error's cause chain. */
function findSyscallCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), if any. */
function parseRetryAfter(headers: Headers | undefined): number | undefined {
  const value = headers?.get("retry-after-ms") ?? undefined;
  if (value !== undefined && Number.isFinite(Number(value))) return Math.max(0, Number(value));
  const after = headers?.get("retry-after") ?? undefined;
  if (after === undefined) return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function checkNonNegativeInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new InvalidArgumentError(`client option ${name} must be a non-negative integer, got ${value}`, {
      param: name,
    });
  }
}

/**
 * Creates a client.
 * @example
 * const client = createClient({ baseURL: "http://127.0.0.1:8000/v1" });
 * for await (const event of client.stream([{ role: "user", content: "2+2?" }])) {
 *   if (event.type === "content") process.stdout.write(event.text);
 * }
 */
export function createClient(options: ClientOptions = {}): ServelabClient {
  const baseURL = (options.baseURL ?? defaultBaseURL).replace(/\/+$/, "");
  try {
    new URL(baseURL);
  } catch {
    throw new InvalidArgumentError(`client baseURL must be a URL like ${defaultBaseURL}, got '${baseURL}'`, {
      param: "baseURL",
    });
  }
  checkNonNegativeInteger("maxRetries", options.maxRetries);
  checkNonNegativeInteger("timeoutMs", options.timeoutMs);
  const timeoutMs = options.timeoutMs ?? 600_000;
  const maxRetries = options.maxRetries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const thinkTags = options.thinkTags ?? "auto";
  const openai = new OpenAI({
    baseURL,
    apiKey: options.apiKey ?? "none",
    timeout: timeoutMs,
    maxRetries: 0, // retries are ours: only where repeating the request is safe
    ...(options.headers === undefined ? {} : { defaultHeaders: options.headers }),
  });
  let modelPromise: Promise<string> | undefined;

  const toClientError = (
    err: unknown,
    signal: AbortSignal | undefined,
    requestTimeout: number,
  ): ClientError => {
    if (err instanceof ClientError) return err;
    if (
      err instanceof APIUserAbortError ||
      (signal?.aborted === true && !(err instanceof APIError && err.status))
    )
      return new ClientAbortedError(baseURL, { cause: err });
    if (err instanceof APIConnectionTimeoutError)
      return new ClientTimeoutError(baseURL, requestTimeout, { cause: err });
    if (err instanceof APIConnectionError)
      return new ClientConnectionError(baseURL, findSyscallCode(err), { cause: err });
    if (err instanceof APIError) {
      const body = err.error;
      const message =
        typeof body === "object" &&
        body !== null &&
        typeof (body as { message?: unknown }).message === "string"
          ? (body as { message: string }).message
          : typeof body === "string"
            ? body
            : undefined;
      if (err.status === undefined) {
        return new ClientStreamError(baseURL, `the server reported an error: ${message ?? err.message}`, {
          cause: err,
        });
      }
      return new ClientHttpError(
        baseURL,
        err.status,
        message,
        body,
        { errorType: err.type, errorCode: err.code ?? undefined, param: err.param ?? undefined },
        { cause: err },
      );
    }
    const text = err instanceof Error ? err.message : String(err);
    return new ClientStreamError(baseURL, `unexpected response: ${text}`, { cause: err });
  };

  /** Runs `attempt` with retries where safe; errors come out as ClientErrors. */
  const withRetries = async <T>(
    attempt: (signal: AbortSignal | undefined) => Promise<T>,
    signal: AbortSignal | undefined,
    requestTimeout: number,
  ): Promise<T> => {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt(signal);
      } catch (err) {
        const error = toClientError(err, signal, requestTimeout);
        const refused = error instanceof ClientConnectionError && error.syscallCode === "ECONNREFUSED";
        const busy = error instanceof ClientHttpError && (error.status === 429 || error.status === 503);
        if (retry >= maxRetries || !(refused || busy) || signal?.aborted) throw error;
        const asked = err instanceof APIError ? parseRetryAfter(err.headers) : undefined;
        const delay = Math.min(maxRetryDelayMs, asked ?? retryDelayMs * 2 ** retry);
        try {
          await sleep(delay, signal);
        } catch (abortReason) {
          throw new ClientAbortedError(baseURL, { cause: abortReason });
        }
      }
    }
  };

  const listModels = async (listOptions: { signal?: AbortSignal } = {}): Promise<string[]> => {
    const signal = listOptions.signal;
    return withRetries(
      async (s) => {
        const ids: string[] = [];
        for await (const model of openai.models.list(s === undefined ? {} : { signal: s }))
          ids.push(model.id);
        return ids;
      },
      signal,
      timeoutMs,
    );
  };

  const resolveModel = async (chatOptions: ChatOptions): Promise<string> => {
    if (chatOptions.model !== undefined) return chatOptions.model;
    if (options.model !== undefined) return options.model;
    modelPromise ??= listModels(chatOptions.signal === undefined ? {} : { signal: chatOptions.signal }).then(
      (ids) => ids[0] ?? "default",
      (err: unknown) => {
        modelPromise = undefined;
        throw err;
      },
    );
    return modelPromise;
  };

  const buildBody = async (messages: readonly ChatMessage[], chatOptions: ChatOptions) => {
    const finalMessages = chatOptions.math === true ? appendMathInstruction(messages) : messages;
    const body: Record<string, unknown> = {
      model: await resolveModel(chatOptions),
      messages: finalMessages.map((m) => ({
        role: m.role,
        content: m.content,
      })) as ChatCompletionMessageParam[],
    };
    if (chatOptions.temperature !== undefined) body.temperature = chatOptions.temperature;
    if (chatOptions.topP !== undefined) body.top_p = chatOptions.topP;
    if (chatOptions.maxTokens !== undefined) body.max_tokens = chatOptions.maxTokens;
    if (chatOptions.stop !== undefined) body.stop = chatOptions.stop;
    if (chatOptions.seed !== undefined) body.seed = chatOptions.seed;
    return { ...body, ...chatOptions.extraBody };
  };

  const requestOptions = (signal: AbortSignal | undefined, chatOptions: ChatOptions) => ({
    ...(signal === undefined ? {} : { signal }),
    ...(chatOptions.timeoutMs === undefined ? {} : { timeout: chatOptions.timeoutMs }),
  });

  const chat = async (
    messages: readonly ChatMessage[],
    chatOptions: ChatOptions = {},
  ): Promise<ChatResult> => {
    const requestTimeout = chatOptions.timeoutMs ?? timeoutMs;
    const body = await buildBody(messages, chatOptions);
    const raw = await withRetries(
      (signal) =>
        openai.chat.completions.create(
          { ...body, stream: false } as ChatCompletionCreateParamsNonStreaming,
          requestOptions(signal, chatOptions),
        ),
      chatOptions.signal,
      requestTimeout,
    );
    const choice = raw.choices?.[0];
    if (choice === undefined) throw new ClientStreamError(baseURL, "the response has no choices");
    const text = choice.message?.content ?? "";
    const fieldReasoning = readReasoningField(choice.message);
    let reasoning = fieldReasoning ?? "";
    let content = text;
    let reasoningComplete = true;
    if (fieldReasoning !== undefined) {
      content = text.replace(/^\s+/, ""); // as the stream parser does after the reasoning
    } else if (thinkTags === "implicit" || (thinkTags === "auto" && /<\/?think>/.test(text))) {
      // a prompt-opened reasoning shows as a closing tag with no opening tag before it
      const close = text.indexOf("</think>");
      const implicit = thinkTags === "implicit" || (close >= 0 && !text.slice(0, close).includes("<think>"));
      const parser = createReasoningParser(implicit ? thinkTagsImplicit : thinkTagsExplicit);
      const first = parser.push(text);
      const last = parser.finish();
      reasoning = (first.reasoning + last.reasoning).trimEnd();
      content = first.content + last.content;
      reasoningComplete = last.reasoningComplete;
    }
    const finishReason = String(choice.finish_reason ?? "stop");
    const serverFlag = (choice as unknown as { reasoning_truncated?: unknown }).reasoning_truncated;
    const reasoningTruncated =
      typeof serverFlag === "boolean" ? serverFlag : finishReason === "length" && !reasoningComplete;
    return { content, reasoning, finishReason, usage: readUsage(raw.usage), reasoningTruncated, raw };
  };

  async function* stream(
    messages: readonly ChatMessage[],
    chatOptions: ChatOptions = {},
  ): AsyncGenerator<StreamEvent, void, undefined> {
    const requestTimeout = chatOptions.timeoutMs ?? timeoutMs;
    const body = await buildBody(messages, chatOptions);
    const controller = new AbortController();
    const userSignal = chatOptions.signal;
    const signal =
      userSignal === undefined ? controller.signal : AbortSignal.any([userSignal, controller.signal]);
    const response = await withRetries(
      (s) =>
        openai.chat.completions.create(
          {
            ...body,
            stream: true,
            stream_options: { include_usage: true },
          } as ChatCompletionCreateParamsStreaming,
          requestOptions(s, chatOptions),
        ),
      signal,
      requestTimeout,
    );
    const parser =
      thinkTags === "auto"
        ? createAutoParser(promptOpensReasoning(String(body.model)))
        : createReasoningParser(thinkTags === "off" ? noThinkTags : thinkTagsImplicit);
    let finishReason: string | undefined;
    let serverTruncated: boolean | undefined;
    let usage: Usage | undefined;
    let completed = false;
    try {
      const iterator = response[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<ChatCompletionChunk>;
        try {
          next = await iterator.next();
        } catch (err) {
          throw toClientError(err, userSignal, requestTimeout);
        }
        if (next.done === true) break;
        const chunk = next.value;
        usage = readUsage(chunk.usage) ?? usage;
        for (const choice of chunk.choices ?? []) {
          if (choice.index !== 0) continue;
          const delta = choice.delta ?? {};
          const reasoningText = readReasoningField(delta);
          if (reasoningText !== undefined) {
            const out = parser.pushReasoning(reasoningText);
            if (out.reasoning.length > 0) yield { type: "reasoning", text: out.reasoning };
            if (out.content.length > 0) yield { type: "content", text: out.content };
          }
          if (typeof delta.content === "string" && delta.content.length > 0) {
            const out = parser.push(delta.content);
            if (out.reasoning.length > 0) yield { type: "reasoning", text: out.reasoning };
            if (out.content.length > 0) yield { type: "content", text: out.content };
          }
          if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
            finishReason = String(choice.finish_reason);
          }
          const flag = (choice as unknown as { reasoning_truncated?: unknown }).reasoning_truncated;
          if (typeof flag === "boolean") serverTruncated = flag;
        }
      }
      if (userSignal?.aborted === true) throw new ClientAbortedError(baseURL, { cause: userSignal.reason });
      const rest = parser.finish();
      if (rest.reasoning.length > 0) yield { type: "reasoning", text: rest.reasoning };
      if (rest.content.length > 0) yield { type: "content", text: rest.content };
      if (finishReason === undefined) {
        throw new ClientStreamError(baseURL, "the stream ended before the server sent a finish reason");
      }
      if (usage !== undefined) yield { type: "usage", usage };
      completed = true;
      yield {
        type: "finish",
        reason: finishReason,
        reasoningTruncated: serverTruncated ?? (finishReason === "length" && !rest.reasoningComplete),
      };
    } finally {
      // leaving the loop early (break, throw, abort) must not leave the HTTP request running
      if (!completed) controller.abort();
    }
  }

  return {
    baseURL,
    chat,
    stream,
    async simple(user, system, chatOptions = {}) {
      const messages: ChatMessage[] = [];
      if (system !== undefined) messages.push({ role: "system", content: system });
      messages.push({ role: "user", content: user });
      return (await chat(messages, chatOptions)).content;
    },
    async answer(question, chatOptions = {}) {
      const result = await chat([{ role: "user", content: question }], { ...chatOptions, math: true });
      return {
        answer: extractBoxed(result.content),
        reasoning: result.reasoning,
        content: result.content,
        finishReason: result.finishReason,
      };
    },
    listModels,
  };
}
