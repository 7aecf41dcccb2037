/**
 * The OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health,
 * /metrics, in front of any Engine (embedded llama.cpp, vLLM, or an upstream server: a gateway).
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import Fastify from "fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  ContextLengthExceededError,
  EngineFailedError,
  InvalidRequestError,
  QueueFullError,
  ServelabError,
  TimeoutError,
  errorMessage,
} from "../core/errors.js";
import type { Engine, EngineInfo, GenerateRequest } from "../engines/engine.js";
import { applyProfileOverrides, type ProfileOverrides } from "../models/profile-options.js";
import {
  applySamplingDefaults,
  ensurePromptSuffix,
  prepareMessages,
  promptClosesReasoning,
  resolveProfile,
  type ModelProfile,
} from "../models/profiles.js";
import { appendMathInstruction } from "../core/math-answer.js";
import { createReasoningParser } from "../models/reasoning-parser.js";
import { createRepetitionGuard } from "../models/repetition-guard.js";
import type { AuditLog } from "./audit.js";
import { superviseEngine, type EngineSupervisor, type RestartPolicy } from "./engine-supervisor.js";
import { runGeneration, type GenerationEnd, type GenerationItem } from "./generation.js";
import { describeListenAddress, type ListenAddress } from "./listen-address.js";
import { ServerMetrics } from "./metrics.js";
import { toHttpError, openAiError } from "./openai-error.js";
import {
  defaultLimits,
  parseChatRequest,
  parseCompletionRequest,
  type ChatRequest,
  type CompletionRequest,
  type ServerLimits,
} from "./request.js";
import { EventStream, createChunkFramer } from "./sse.js";

export interface ServerOptions {
  engine: Engine;
  /** What /metrics answers, given this server's own metrics: `serve --workers` sums every worker's. */
  collectMetrics?: (local: string) => Promise<string>;
  /** Default 127.0.0.1. Binding wider must be asked for. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** When set, every route but /health needs `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Model profile name; default: chosen from the model's metadata. */
  profile?: string;
  /** Changes to the profile's behaviour (`--profile-option`), applied once the profile is chosen. */
  profileOptions?: ProfileOverrides;
  /** Largest request body in bytes. Default 4 MiB. */
  bodyLimit?: number;
  /** Milliseconds a request may take before it is aborted with 504. Default: none. */
  requestTimeoutMs?: number;
  /** max_tokens when a request leaves it unset. Default: whatever fits the context. */
  defaultMaxTokens?: number;
  limits?: Partial<ServerLimits>;
  /** Origins allowed by CORS; default none (CORS off). `*` allows any. */
  corsOrigins?: string[];
  /** Called once per finished request with counts and timings, never text (the access log). */
  onRequestLog?: (entry: RequestLogEntry) => void;
  /** The opt-in audit log (see ./audit.ts): one entry per generation request. */
  auditLog?: AuditLog;
  /** Milliseconds in-flight requests get to finish when the server closes before they are aborted.
   * Default 10 000. */
  shutdownGraceMs?: number;
  /** Restart an engine that failed while serving (a fatal llama.cpp error, a supervised vLLM that
   * died): bounded attempts with backoff (see `restartPolicy`). Only engines with a `restart()`
   * method; default false (the failure is logged and /health answers 503). */
  restartFailedEngine?: boolean;
  /** Attempts and backoff of those restarts. */
  restartPolicy?: RestartPolicy;
  /** One line per engine failure and per restart attempt (the CLI prints them). */
  onEngineEvent?: (line: string) => void;
}

export interface RequestLogEntry {
  time: string;
  method: string;
  url: string;
  status: number;
  client: string;
  durationMs: number;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: string;
}

export interface CloseOptions {
  /** Overrides ServerOptions.shutdownGraceMs. */
  graceMs?: number;
}

export interface CloseResult {
  /** Requests that finished within the grace period. */
  drained: number;
  /** Requests still running when it ended, aborted. */
  aborted: number;
}

export interface RunningServer {
  /** A URL that reaches the server from this machine (the loopback address for 0.0.0.0 and ::). */
  readonly url: string;
  /** The address bound, and where other machines may connect for a wildcard bind. */
  readonly address: ListenAddress;
  readonly app: FastifyInstance;
  readonly metrics: ServerMetrics;
  readonly profile: () => ModelProfile | undefined;
  /** Requests being generated now (streaming or not). */
  readonly inflight: () => number;
  /**
   * Graceful stop: stops accepting connections, answers new requests on open connections with 503,
   * lets in-flight requests finish within the grace period, aborts the rest, then closes.
   */
  shutdown(options?: CloseOptions): Promise<CloseResult>;
  /** shutdown() without its result. */
  close(options?: CloseOptions): Promise<void>;
}

/** What a generation request leaves for the access and audit logs. */
interface RequestRecord {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: string;
  prompt?: unknown;
  answer?: { reasoning: string; content: string };
  logged?: boolean;
}

interface ServerState {
  engine: Engine;
  profile: ModelProfile | undefined;
  metrics: ServerMetrics;
  limits: ServerLimits;
  options: ServerOptions;
  loadError: string | undefined;
  /** Abort controllers of the requests generating now. */
  inflight: Set<AbortController>;
  /** Generation requests per client address, running or queued. */
  perClient: Map<string, number>;
  closing: boolean;
  /** Set by startServer: watches for failures and restarts the engine. */
  supervisor: EngineSupervisor | undefined;
  records: WeakMap<FastifyRequest, RequestRecord>;
}

/** Bytes that are not HTTP at all (a body after a GET, a header too large): answered in the same
 * OpenAI shape, then the connection closes, as Node's own handler does. */
function answerMalformedHttp(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    err.code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"] : [400, "Bad Request"];
  const body = JSON.stringify(
    openAiError(status, `malformed HTTP request (${err.code ?? "parse error"})`, "invalid_request_error"),
  );
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function keyDigest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** Builds the Fastify app without listening (tests may use app.inject, the CLI listens). */
export function createServer(options: ServerOptions): { app: FastifyInstance; state: ServerState } {
  const engine = options.engine;
  const state: ServerState = {
    engine,
    profile: undefined,
    metrics: new ServerMetrics({
      running: () => engine.stats().running,
      waiting: () => engine.stats().waiting,
      engineUp: () => (engine.state === "ready" ? 1 : 0),
    }),
    limits: { ...defaultLimits, ...options.limits },
    options,
    loadError: undefined,
    inflight: new Set(),
    perClient: new Map(),
    closing: false,
    supervisor: undefined,
    records: new WeakMap(),
  };
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024,
    // Long generations: never cut a response by a server-wide timeout.
    requestTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Errors Fastify raises before routing (a URL with bad percent-encoding) get the same body.
    frameworkErrors: (error, _request, reply) => {
      const { status, body, headers } = toHttpError(error);
      void (reply as FastifyReply).code(status).headers(headers).send(body);
    },
    clientErrorHandler: answerMalformedHttp,
  });

  const expected = options.apiKey === undefined ? undefined : keyDigest(options.apiKey);
  const cors = options.corsOrigins ?? [];

  app.addHook("onRequest", async (request, reply) => {
    (request as FastifyRequest & { startedAt: number }).startedAt = performance.now();
    if (state.closing)
      return reply
        .code(503)
        .header("connection", "close")
        .send(openAiError(503, "the server is shutting down", "server_error", null, "server_shutting_down"));
    if (cors.length > 0) {
      const origin = request.headers.origin;
      if (origin !== undefined && (cors.includes("*") || cors.includes(origin))) {
        reply.header("access-control-allow-origin", cors.includes("*") ? "*" : origin);
        reply.header("vary", "origin");
        reply.header("access-control-allow-headers", "authorization, content-type");
        reply.header("access-control-allow-methods", "GET, POST, OPTIONS");
      }
      if (request.method === "OPTIONS") return reply.code(204).send();
    }
    if (expected === undefined || request.url === "/health") return;
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = match?.[1] === undefined ? undefined : keyDigest(match[1].trim());
    if (given === undefined || !timingSafeEqual(given, expected)) {
      return reply
        .code(401)
        .send(
          openAiError(
            401,
            given === undefined
              ? "missing API key: send 'Authorization: Bearer <key>'"
              : "incorrect API key provided",
            "authentication_error",
            null,
            "invalid_api_key",
          ),
        );
    }
  });

  app.addHook("onResponse", async (request, reply) => finishRequest(state, request, reply.statusCode));

  app.setErrorHandler(async (err, _request, reply) => {
    const { status, body, headers } = toHttpError(err);
    return reply.code(status).headers(headers).send(body);
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply
      .code(404)
      .send(
        openAiError(
          404,
          `no route for ${request.method} ${request.url}`,
          "invalid_request_error",
          null,
          "not_found",
        ),
      ),
  );

  app.get("/health", async (_request, reply) => {
    if (engine.state === "ready") return { status: "ok" };
    const restart = state.supervisor?.status;
    const error = engineFailure(state);
    return reply.code(503).send({
      status: isRestarting(state) ? "restarting" : engine.state === "failed" ? "failed" : "loading",
      ...(error === undefined ? {} : { error }),
      ...(restart === undefined
        ? {}
        : {
            restart: {
              attempt: restart.attempt,
              attempts: restart.attempts,
              phase: restart.phase,
              ...(restart.lastError === undefined ? {} : { last_error: restart.lastError }),
            },
          }),
    });
  });

  app.get("/metrics", async (_request, reply) => {
    const local = state.metrics.render();
    const text = options.collectMetrics === undefined ? local : await options.collectMetrics(local);
    return reply.type("text/plain; version=0.0.4; charset=utf-8").send(text);
  });

  app.get("/v1/models", async () => {
    requireReady(state);
    const info = engine.info();
    return {
      object: "list",
      data: [
        {
          id: info.modelId,
          object: "model",
          created: 0,
          owned_by: "servelab",
          max_model_len: info.contextSize,
          engine: info.kind,
          precision: info.precision,
        },
      ],
    };
  });

  app.post("/v1/chat/completions", async (request, reply) => {
    const parsed = parseChatRequest(request.body, state.limits);
    return handleGeneration(state, parsed, request, reply);
  });

  app.post("/v1/completions", async (request, reply) => {
    const parsed = parseCompletionRequest(request.body, state.limits);
    return handleGeneration(state, parsed, request, reply);
  });

  return { app, state };
}

/** Counts a finished request in the metrics and writes the access and audit logs, once. */
function finishRequest(state: ServerState, request: FastifyRequest, status: number): void {
  const record = state.records.get(request);
  if (record?.logged) return;
  if (record !== undefined) record.logged = true;
  const route = request.routeOptions.url ?? "unknown";
  state.metrics.countRequest(route, status);
  const { onRequestLog, auditLog } = state.options;
  if (onRequestLog === undefined && (auditLog === undefined || record === undefined)) return;
  const durationMs = performance.now() - (request as FastifyRequest & { startedAt: number }).startedAt;
  const time = new Date().toISOString();
  onRequestLog?.({
    time,
    method: request.method,
    url: route,
    status,
    client: request.ip,
    durationMs,
    ...(record?.promptTokens === undefined ? {} : { promptTokens: record.promptTokens }),
    ...(record?.completionTokens === undefined ? {} : { completionTokens: record.completionTokens }),
    ...(record?.finishReason === undefined ? {} : { finishReason: record.finishReason }),
  });
  if (record !== undefined)
    auditLog?.record({
      time,
      client: request.ip,
      route,
      status,
      model: record.model,
      prompt_tokens: record.promptTokens,
      completion_tokens: record.completionTokens,
      finish_reason: record.finishReason,
      latency_ms: Math.round(durationMs * 10) / 10,
      ...(record.prompt === undefined ? {} : { prompt: record.prompt }),
      ...(record.answer === undefined ? {} : { answer: record.answer }),
    });
}

/** Why the engine does not serve: the failure being recovered from, the engine's, or the load's. */
function engineFailure(state: ServerState): string | undefined {
  return state.supervisor?.status?.reason ?? state.engine.failure?.message ?? state.loadError;
}

function isRestarting(state: ServerState): boolean {
  const phase = state.supervisor?.status?.phase;
  return phase === "waiting" || phase === "restarting";
}

function requireReady(state: ServerState): void {
  const engineState = state.engine.state;
  if (engineState === "ready") return;
  if (isRestarting(state))
    throw new EngineFailedError(
      `${engineFailure(state) ?? "the engine failed"}; it is restarting, retry when /health answers 200`,
    );
  if (engineState === "failed")
    throw new EngineFailedError(engineFailure(state) ?? "the engine failed; see the server log");
  throw new ServelabError("ENGINE_FAILED", "the model is still loading; retry when /health answers 200");
}

function checkModel(id: string, requested: string | undefined): void {
  if (requested === undefined || requested === id || requested === "default") return;
  throw new ServelabError(
    "MODEL_NOT_FOUND",
    `the model '${requested}' does not exist; this server serves '${id}'`,
    {
      param: "model",
    },
  );
}

/** What the reasoning parser of one generation needs to know. */
interface ReasoningPlan {
  /** Split reasoning from the answer (chat requests of a profile that splits). */
  split: boolean;
  /** The prompt closed the reasoning (thinking disabled): the output is all answer. */
  closed: boolean;
}

async function buildGenerateRequest(
  state: ServerState,
  info: EngineInfo,
  parsed: ChatRequest | CompletionRequest,
  signal: AbortSignal,
): Promise<{ request: GenerateRequest; reasoning: ReasoningPlan }> {
  const engine = state.engine;
  const profile = state.profile;
  const sampling = profile === undefined ? parsed.sampling : applySamplingDefaults(profile, parsed.sampling);
  const stop = [...parsed.stop, ...(profile?.stop ?? [])];
  const maxTokens = parsed.maxTokens ?? state.options.defaultMaxTokens ?? info.contextSize;
  if (parsed.kind === "completion")
    return {
      request: {
        input: { type: "text", text: parsed.prompt },
        maxTokens,
        sampling,
        stop,
        ignoreEos: parsed.ignoreEos,
        signal,
      },
      reasoning: { split: false, closed: false },
    };
  let messages = profile === undefined ? parsed.messages : prepareMessages(profile, parsed.messages);
  if (parsed.math) messages = appendMathInstruction(messages);
  const split = profile?.splitReasoning ?? false;
  const kwargs = parsed.chatTemplateKwargs;
  if (engine.renderChat === undefined) {
    if (kwargs !== undefined)
      throw new InvalidRequestError(
        `'chat_template_kwargs' needs an engine that renders the chat template itself (embedded); this server's engine is ${info.kind}`,
        { param: "chat_template_kwargs" },
      );
    return {
      request: {
        input: { type: "chat", messages },
        maxTokens,
        sampling,
        stop,
        ignoreEos: parsed.ignoreEos,
        signal,
      },
      reasoning: { split, closed: false },
    };
  }
  const rendered = await engine.renderChat(messages, kwargs === undefined ? {} : { variables: kwargs });
  const thinking = kwargs?.enable_thinking;
  const text =
    profile === undefined
      ? rendered
      : ensurePromptSuffix(profile, rendered, typeof thinking === "boolean" ? { thinking } : {});
  return {
    request: {
      input: { type: "text", text },
      maxTokens,
      sampling,
      stop,
      ignoreEos: parsed.ignoreEos,
      signal,
    },
    reasoning: { split, closed: profile !== undefined && promptClosesReasoning(profile, text) },
  };
}

async function handleGeneration(
  state: ServerState,
  parsed: ChatRequest | CompletionRequest,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const record: RequestRecord = {
    ...(parsed.model === undefined ? {} : { model: parsed.model }),
    ...(state.options.auditLog === undefined
      ? {}
      : { prompt: parsed.kind === "chat" ? parsed.messages : parsed.prompt }),
  };
  state.records.set(request, record);
  requireReady(state);
  const info = state.engine.info();
  checkModel(info.modelId, parsed.model);
  record.model = info.modelId;
  // One client may not take every sequence and queue place: a fair share, then 429.
  const client = request.ip;
  const active = state.perClient.get(client) ?? 0;
  if (active >= state.limits.maxConcurrentPerClient)
    throw new QueueFullError(
      `this client already has ${active} requests running or queued (the limit is ${state.limits.maxConcurrentPerClient}); try again shortly`,
    );
  state.perClient.set(client, active + 1);
  const controller = new AbortController();
  state.inflight.add(controller);
  const res = reply.raw;
  // A client that goes away aborts its generation and frees its sequence.
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error("client disconnected"));
  };
  res.on("close", onClose);
  // It may have gone before this handler ran (the body was read, then the socket closed).
  if (res.destroyed || request.raw.destroyed) onClose();
  let timer: NodeJS.Timeout | undefined;
  if (state.options.requestTimeoutMs !== undefined)
    timer = setTimeout(
      () =>
        controller.abort(
          new TimeoutError(`the request took longer than ${state.options.requestTimeoutMs} ms`),
        ),
      state.options.requestTimeoutMs,
    );
  try {
    const { request: generateRequest, reasoning: plan } = await buildGenerateRequest(
      state,
      info,
      parsed,
      controller.signal,
    );
    const profile = state.profile;
    const generation = runGeneration(state.engine, generateRequest, {
      ...(plan.split && profile !== undefined
        ? { parser: createReasoningParser(profile, { reasoningClosed: plan.closed }) }
        : {}),
      ...(profile?.repetitionGuard ? { guard: createRepetitionGuard(profile.repetitionGuard) } : {}),
    })[Symbol.asyncIterator]();
    // Wait for admission before answering: queue-full and context-length errors become plain JSON errors.
    const first = await generation.next();
    if (first.done || first.value.type !== "start")
      throw new ServelabError("ENGINE_FAILED", "the engine did not start");
    record.promptTokens = first.value.promptTokens;
    const id = `${parsed.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const model = info.modelId;
    if (parsed.stream) {
      reply.hijack();
      await streamResponse(state, parsed, generation, res, { id, created, model }, controller.signal, record);
      finishRequest(state, request, res.statusCode);
      return reply;
    }
    let reasoning = "";
    let content = "";
    let end: GenerationEnd | undefined;
    for (let item = await generation.next(); !item.done; item = await generation.next()) {
      const value = item.value;
      if (value.type === "delta") {
        reasoning += value.reasoning;
        content += value.content;
      } else if (value.type === "end") end = value;
    }
    if (controller.signal.aborted) throw abortReason(controller.signal);
    if (end === undefined) throw new ServelabError("ENGINE_FAILED", "the generation ended without a result");
    recordEnd(state, end);
    record.promptTokens = end.promptTokens;
    record.completionTokens = end.completionTokens;
    record.finishReason = end.finishReason;
    if (state.options.auditLog !== undefined) record.answer = { reasoning, content };
    return buildFinalResponse(parsed, { id, created, model }, reasoning, content, end);
  } catch (err) {
    if (controller.signal.aborted && controller.signal.reason instanceof ServelabError)
      throw controller.signal.reason;
    // Engines cannot tell a chat prompt from a completion one; the field at fault is this route's.
    if (err instanceof ContextLengthExceededError && parsed.kind === "completion" && err.param !== "prompt")
      throw new ContextLengthExceededError(err.promptTokens, err.contextSize, err.maxTokens, {
        param: "prompt",
        cause: err,
      });
    throw err;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    res.off("close", onClose);
    state.inflight.delete(controller);
    const left = (state.perClient.get(client) ?? 1) - 1;
    if (left <= 0) state.perClient.delete(client);
    else state.perClient.set(client, left);
    if (controller.signal.aborted) {
      state.metrics.countFinish("abort");
      record.finishReason ??= "abort";
    }
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason instanceof ServelabError
    ? signal.reason
    : new ServelabError("ABORTED", "the request was aborted");
}

function recordEnd(state: ServerState, end: GenerationEnd): void {
  const m = state.metrics;
  m.countFinish(end.finishReason);
  m.countTokens(end.promptTokens, end.completionTokens, end.cachedPromptTokens);
  if (end.ttftMs !== undefined) m.ttft.observe(end.ttftMs / 1000);
  for (const gap of end.interTokenMs) m.itl.observe(gap / 1000);
  m.e2e.observe(end.totalMs / 1000);
}

function usageOf(end: { promptTokens: number; completionTokens: number; cachedPromptTokens: number }) {
  return {
    prompt_tokens: end.promptTokens,
    completion_tokens: end.completionTokens,
    total_tokens: end.promptTokens + end.completionTokens,
    prompt_tokens_details: { cached_tokens: end.cachedPromptTokens },
  };
}

interface ResponseIds {
  id: string;
  created: number;
  model: string;
}

function buildFinalResponse(
  parsed: ChatRequest | CompletionRequest,
  ids: ResponseIds,
  reasoning: string,
  content: string,
  end: GenerationEnd,
): unknown {
  if (parsed.kind === "completion")
    return {
      id: ids.id,
      object: "text_completion",
      created: ids.created,
      model: ids.model,
      choices: [{ index: 0, text: content, finish_reason: end.finishReason, logprobs: null }],
      usage: usageOf(end),
    };
  const message: Record<string, unknown> = { role: "assistant", content };
  if (reasoning.length > 0) {
    message.reasoning_content = reasoning;
    message.reasoning = reasoning;
  }
  return {
    id: ids.id,
    object: "chat.completion",
    created: ids.created,
    model: ids.model,
    choices: [
      {
        index: 0,
        message,
        finish_reason: end.finishReason,
        logprobs: null,
        ...(end.reasoningTruncated ? { reasoning_truncated: true } : {}),
      },
    ],
    usage: usageOf(end),
  };
}

async function streamResponse(
  state: ServerState,
  parsed: ChatRequest | CompletionRequest,
  generation: AsyncIterator<GenerationItem, void, undefined>,
  res: ServerResponse,
  ids: ResponseIds,
  signal: AbortSignal,
  record: RequestRecord,
): Promise<void> {
  const chat = parsed.kind === "chat";
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const base = { id: ids.id, object, created: ids.created, model: ids.model };
  const usageField = parsed.includeUsage ? { usage: null } : {};
  // Text chunks, the bulk of a stream, are framed from strings made once per response.
  const framer = createChunkFramer({ ...base, chat, includeUsage: parsed.includeUsage });
  const continuous = parsed.continuousUsage;
  // The start item was taken by the caller: the prompt's count as it knew it is in the record.
  const usage = { prompt: record.promptTokens ?? 0, completion: 0 };
  let reasoningText = "";
  let contentText = "";
  const keepText = state.options.auditLog !== undefined;
  const stream = new EventStream(res);
  try {
    if (chat) stream.write(framer.role());
    for (let item = await generation.next(); !item.done; item = await generation.next()) {
      const value = item.value;
      if (value.type === "delta") {
        usage.completion += value.tokens;
        if (value.promptTokens !== undefined) usage.prompt = value.promptTokens;
        if (keepText) {
          reasoningText += value.reasoning;
          contentText += value.content;
        }
        if (value.reasoning.length === 0 && value.content.length === 0 && !continuous) continue;
        stream.write(framer.text(value.reasoning, value.content, continuous ? usage : undefined));
        continue;
      }
      if (value.type === "start") continue; // only first, and the caller took it
      // end
      if (signal.aborted) break;
      recordEnd(state, value);
      record.promptTokens = value.promptTokens;
      record.finishReason = value.finishReason;
      const finish = chat
        ? {
            index: 0,
            delta: {},
            finish_reason: value.finishReason,
            logprobs: null,
            ...(value.reasoningTruncated ? { reasoning_truncated: true } : {}),
          }
        : { index: 0, text: "", finish_reason: value.finishReason, logprobs: null };
      stream.event({
        ...base,
        choices: [finish],
        ...(continuous ? { usage: usageOf(value) } : usageField),
      });
      if (parsed.includeUsage) stream.event({ ...base, choices: [], usage: usageOf(value) });
    }
    // Aborted by the server (deadline, shutdown), not by a client that left: say why.
    if (signal.aborted && signal.reason instanceof ServelabError) {
      const { body } = toHttpError(signal.reason);
      stream.event(body);
    }
  } catch (err) {
    // An error in the middle of a stream becomes a final event; the stream still closes below.
    if (!signal.aborted || signal.reason instanceof ServelabError) {
      const { body } = toHttpError(signal.aborted ? signal.reason : err);
      stream.event(body);
    }
  } finally {
    record.completionTokens = usage.completion;
    if (keepText) record.answer = { reasoning: reasoningText, content: contentText };
    await generation.return?.();
    stream.end();
  }
}

/**
 * Starts listening at once (so /health can answer 503 while loading), then loads the engine if it
 * is not loaded yet. Resolves when the server listens; `ready` resolves when the model is loaded.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer & { ready: Promise<void> }> {
  // A wrong profile name, or options the named profile cannot take, are configuration errors: refuse them
  // before listening and loading, not after.
  if (options.profile !== undefined) {
    const named = resolveProfile({ override: options.profile });
    if (!["", "auto"].includes(options.profile.trim().toLowerCase()))
      applyProfileOverrides(named, options.profileOptions ?? {});
  }
  const { app, state } = createServer(options);
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8000;
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw new ServelabError("IO_FAILED", `cannot listen on ${host}:${port}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const bound = app.server.address();
  const address = describeListenAddress(
    host,
    typeof bound === "object" && bound !== null ? bound.port : port,
  );
  const url = address.local;
  const ready = (async () => {
    try {
      if (options.engine.state === "created") await options.engine.load();
      const info = options.engine.info();
      const profile = resolveProfile({
        name: `${info.modelId} ${String(info.metadata?.name ?? "")}`,
        ...(info.architecture === undefined ? {} : { architecture: info.architecture }),
        ...(info.chatTemplate === undefined ? {} : { chatTemplate: info.chatTemplate }),
        ...(options.profile === undefined ? {} : { override: options.profile }),
      });
      state.profile = applyProfileOverrides(profile, options.profileOptions ?? {});
    } catch (err) {
      state.loadError = errorMessage(err);
      throw err;
    }
  })();
  ready.catch(() => {});
  const supervisor = superviseEngine(options.engine, {
    restart: options.restartFailedEngine === true,
    ...(options.restartPolicy === undefined ? {} : { policy: options.restartPolicy }),
    metrics: state.metrics,
    log: options.onEngineEvent,
    ready,
  });
  state.supervisor = supervisor;
  const stopWatching = () => supervisor.stop();
  let closing: Promise<CloseResult> | undefined;
  const shutdown = (closeOptions: CloseOptions = {}): Promise<CloseResult> => {
    stopWatching();
    closing ??= drainAndClose(state, app, closeOptions.graceMs ?? options.shutdownGraceMs ?? 10_000);
    return closing;
  };
  return {
    url,
    address,
    app,
    metrics: state.metrics,
    profile: () => state.profile,
    inflight: () => state.inflight.size,
    ready,
    shutdown,
    async close(closeOptions = {}) {
      await shutdown(closeOptions);
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function drainAndClose(
  state: ServerState,
  app: FastifyInstance,
  graceMs: number,
): Promise<CloseResult> {
  state.closing = true;
  // No new connections; idle keep-alive ones go now, busy ones once their response ends.
  if (app.server.listening) app.server.close(() => undefined);
  app.server.closeIdleConnections();
  const before = state.inflight.size;
  const deadline = performance.now() + graceMs;
  while (state.inflight.size > 0 && performance.now() < deadline) await sleep(20);
  const aborted = state.inflight.size;
  for (const controller of state.inflight)
    controller.abort(new ServelabError("ENGINE_FAILED", "the server is shutting down"));
  // Aborted generations end within a decode step or two; do not wait for a stuck one forever.
  const abortDeadline = performance.now() + 2_000;
  while (state.inflight.size > 0 && performance.now() < abortDeadline) await sleep(10);
  await app.close();
  return { drained: before - aborted, aborted };
}
