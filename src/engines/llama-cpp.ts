/**
 * The embedded engine: llama.cpp through node-llama-cpp, in this process.
 *
 * One model, one context with `parallel` sequences. Concurrent requests each take a free sequence
 * and their decode steps are shared: a step barrier (see #awaitStep) lets every generating sequence
 * ask for its next token at the same moment, so node-llama-cpp decodes them in one batch; requests
 * beyond `parallel` wait in a bounded queue. A free sequence keeps its tokens, so a request whose prompt shares a prefix with
 * what a sequence already holds skips that prefix (the prompt cache).
 *
 * A fatal failure (see isFatalNativeError: node-llama-cpp's model or context disposed under the engine,
 * a decode that failed for a reason no request caused) turns the engine "failed": every running and
 * waiting generation ends at once with EngineFailedError, what is left of the native objects is
 * released, and restart() loads the model again. Errors a request causes do not fail the engine.
 */
import os from "node:os";
import v8 from "node:v8";
import vm from "node:vm";
import path from "node:path";
import { stat } from "node:fs/promises";
import type {
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
  Token,
  LlamaContextSequenceRepeatPenalty,
} from "node-llama-cpp";
import {
  AbortedError,
  ContextLengthExceededError,
  EngineError,
  EngineFailedError,
  InvalidArgumentError,
  ModelNotFoundError,
  QueueFullError,
  ServelabError,
  errorMessage,
} from "../core/errors.js";
import { followSignals } from "../core/abort.js";
import { createStopMatcher } from "../core/stop-matcher.js";
import type {
  ChatMessage,
  Engine,
  EngineInfo,
  EngineState,
  EngineStats,
  FinishReason,
  GenerateEvent,
  GenerateRequest,
  Precision,
} from "./engine.js";

export type GpuChoice = "auto" | "cuda" | "vulkan" | "metal" | "cpu";

export interface LlamaCppEngineOptions {
  /** A local GGUF path or an `hf:` URI (downloaded into `modelsDir` when a network is available). */
  model: string;
  /** Name clients send in `model`. Default: the file name without `.gguf`. */
  modelId?: string;
  /** Default "auto": the best GPU backend llama.cpp finds, else the CPU. */
  gpu?: GpuChoice;
  /** Layers to offload to the GPU. Default "auto". */
  gpuLayers?: number | "auto" | "max";
  /** CPU threads. Default: the cores available to this process (node-llama-cpp's own default
   * over-subscribes small machines: on 2 cores it decoded 50x slower). */
  threads?: number;
  /** Sequences that decode together (continuous batching). Default 4. */
  parallel?: number;
  /** Tokens per sequence. Default: min(model's training context, 4096). */
  contextSize?: number;
  /** Tokens per decode batch. Default: node-llama-cpp's (max(contextSize, 512) capped). */
  batchSize?: number;
  /** Requests that may wait for a sequence before new ones get QueueFullError. Default 64. */
  maxQueue?: number;
  flashAttention?: boolean;
  /** Longest wait, in ms, at the step barrier for a sequence whose previous token is still with its
   * consumer (a slow client, a request being admitted) before a decode step starts without it.
   * Default 3. */
  batchWaitMs?: number;
  /** Where `hf:` models are stored. Default ~/.cache/servelab/models. */
  modelsDir?: string;
  /** Called with llama.cpp log lines at warn level and above (verbose mode). */
  onLog?: (level: string, message: string) => void;
}

/** Resolved options, exported for tests and `servelab doctor`. */
export function resolveThreads(threads: number | undefined): number {
  if (threads === undefined) return Math.max(1, os.availableParallelism());
  if (!Number.isInteger(threads) || threads < 1)
    throw new InvalidArgumentError(`threads must be a positive integer, got ${String(threads)}`, {
      param: "threads",
    });
  return threads;
}

/**
 * node-llama-cpp frees part of the native memory of a finished generation only when its JS objects are
 * garbage-collected, and V8 does not count that memory, so under steady load it piles up between full
 * collections (a soak with a 20 MB model reached 5 GB). A full collection whenever resident memory has
 * grown by `growthBytes` since the last one (at most every `minIntervalMs`) keeps it flat: measured, 900
 * generations at parallel 4 stayed at 598 MB instead of swinging between 580 MB and 1 GB.
 */
export function createNativeMemoryCollector(
  growthBytes = 256 * 1024 * 1024,
  minIntervalMs = 2000,
): () => void {
  let collect: (() => void) | undefined;
  try {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as () => void;
  } catch {
    collect = undefined;
  }
  let baseline = process.memoryUsage.rss();
  let last = 0;
  return () => {
    if (collect === undefined) return;
    const rss = process.memoryUsage.rss();
    const now = performance.now();
    if (rss - baseline < growthBytes || now - last < minIntervalMs) return;
    collect();
    last = now;
    baseline = process.memoryUsage.rss();
  };
}

/**
 * Whether an error from node-llama-cpp in the middle of a generation means the engine cannot go on
 * (true), or only that this generation failed (false). Fatal: the native model or context is gone
 * (node-llama-cpp's DisposedError, the addon's "... is disposed"), llama_decode failed with a
 * compute or allocation error ("Eval has failed", or an exception out of llama_decode: llama.cpp
 * leaves the state of every sequence in that batch in doubt), memory exhausted, a failed ggml
 * assertion. Not fatal: a batch that found no KV slot (the context is full for that request), a
 * token that could not be sampled, and anything else unrecognised: such a generation fails and its
 * sequence is cleared, and the engine fails only if three generations in a row end that way.
 */
export function isFatalNativeError(err: unknown): boolean {
  if (err instanceof ServelabError) return false;
  // lifecycle-utils' DisposedError keeps the name "Error"; its message is "Object is disposed".
  if (err instanceof Error && err.constructor.name === "DisposedError") return true;
  const message = errorMessage(err);
  return /\bis disposed\b|\bis not loaded\b|Eval has failed|when calling "llama_decode"|out of memory|failed to allocate|bad_alloc|GGML_ASSERT/i.test(
    message,
  );
}

/** Native failures in a row (no generation succeeding between them) that fail the engine. */
const nativeFailuresToFail = 3;

/** Where a busy sequence is in its generation loop, for the step barrier. */
type SlotPhase =
  /** Admitted, or its last token is with the consumer: it will come to the barrier. */
  | "outside"
  /** At the barrier, waiting for the others. */
  | "waiting"
  /** Inside a one-token decode step: back at the barrier after it. */
  | "decoding"
  /** Evaluating its prompt (may take many steps): the barrier does not wait for it. */
  | "prefill";

interface Slot {
  readonly index: number;
  readonly sequence: LlamaContextSequence;
  busy: boolean;
  phase: SlotPhase;
}

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  tokens: readonly Token[];
}

const fileTypeToPrecision: Readonly<Record<number, Precision>> = {
  0: "f32",
  1: "f16",
  2: "q4_0",
  7: "q8_0",
  32: "bf16",
};

export class LlamaCppEngine implements Engine {
  readonly #options: LlamaCppEngineOptions;
  #state: EngineState = "created";
  #llama: Llama | undefined;
  #model: LlamaModel | undefined;
  #context: LlamaContext | undefined;
  #slots: Slot[] = [];
  #waiters: Waiter[] = [];
  #info: EngineInfo | undefined;
  #loadTimeMs: number | undefined;
  readonly #threads: number;
  readonly #parallel: number;
  readonly #maxQueue: number;
  readonly #collectNativeMemory = createNativeMemoryCollector();
  /** Sequences at the step barrier, released together, in slot order (see #checkStep). */
  #stepWaiters: { index: number; release: () => void }[] = [];
  #stepTimer: NodeJS.Timeout | undefined;
  #stepTimerExpired = false;
  #steps = 0;
  #stepSequences = 0;
  #failure: ServelabError | undefined;
  /** One per generation running or waiting for a sequence: a failure or a restart aborts them all. */
  readonly #generations = new Set<AbortController>();
  /** Stops listening to node-llama-cpp's dispose events (the engine's own disposal is no failure). */
  #unwatchNative: (() => void) | undefined;
  /** A load or restart in progress. */
  #starting: Promise<void> | undefined;
  /** Releasing what a failure left (see #fail). */
  #releasing: Promise<void> | undefined;
  #nativeFailuresInARow = 0;

  constructor(options: LlamaCppEngineOptions) {
    this.#options = options;
    this.#threads = resolveThreads(options.threads);
    this.#parallel = options.parallel ?? 4;
    if (!Number.isInteger(this.#parallel) || this.#parallel < 1 || this.#parallel > 256)
      throw new InvalidArgumentError(
        `parallel must be an integer from 1 to 256, got ${String(options.parallel)}`,
        {
          param: "parallel",
        },
      );
    this.#maxQueue = options.maxQueue ?? 64;
    if (!Number.isInteger(this.#maxQueue) || this.#maxQueue < 0)
      throw new InvalidArgumentError(
        `maxQueue must be a non-negative integer, got ${String(options.maxQueue)}`,
      );
    if (
      options.contextSize !== undefined &&
      (!Number.isInteger(options.contextSize) || options.contextSize < 16)
    )
      throw new InvalidArgumentError(
        `contextSize must be an integer >= 16, got ${String(options.contextSize)}`,
      );
  }

  get state(): EngineState {
    return this.#state;
  }

  get failure(): ServelabError | undefined {
    return this.#state === "failed" ? this.#failure : undefined;
  }

  info(): EngineInfo {
    if (this.#info === undefined) throw new EngineError("the engine is not loaded yet");
    return this.#info;
  }

  stats(): EngineStats {
    const busy = this.#slots.filter((s) => s.busy).length;
    return {
      loadTimeMs: this.#loadTimeMs,
      ramBytes: process.memoryUsage.rss(),
      vramBytes: this.#vramUsed,
      running: busy,
      waiting: this.#waiters.length,
    };
  }

  #vramUsed: number | undefined;

  /** Decode steps the step barrier started (first tokens excluded) and the sequences they carried
   * in all: `sequences / steps` is how many requests shared a step on average. */
  stepStats(): { steps: number; sequences: number } {
    return { steps: this.#steps, sequences: this.#stepSequences };
  }

  async load(signal?: AbortSignal): Promise<void> {
    if (this.#state !== "created") throw new EngineError(`cannot load an engine in state ${this.#state}`);
    this.#starting = this.#start(signal).finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  /**
   * Loads the model again: aborts the generations running and waiting (EngineError "restarting"),
   * disposes what is left of the old model and context, then loads as load() does. For an engine
   * that failed; on a ready one it reloads all the same.
   */
  async restart(signal?: AbortSignal): Promise<void> {
    if (this.#state === "disposed") throw new EngineError("the engine was disposed");
    await this.#starting?.catch(() => undefined);
    this.#starting = (async () => {
      this.#state = "loading";
      this.#abortAll(new EngineError("the engine is restarting"));
      await this.#releasing;
      await this.#whenIdle();
      await this.#disposeNative({ keepBackend: true });
      if (this.#state !== "loading") throw new EngineError("the engine was disposed");
      await this.#start(signal);
    })().finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    this.#state = "loading";
    this.#failure = undefined;
    this.#nativeFailuresInARow = 0;
    const started = performance.now();
    try {
      const { getLlama, LlamaLogLevel, resolveModelFile } = await import("node-llama-cpp");
      const modelPath = await resolveModelPath(this.#options, resolveModelFile);
      signal?.throwIfAborted();
      const gpu = this.#options.gpu ?? "auto";
      // A restart keeps the backend (loading it takes seconds) unless it is what was disposed.
      if (this.#llama?.disposed === true) this.#llama = undefined;
      this.#llama ??= await getLlama({
        gpu: gpu === "cpu" ? false : gpu,
        build: "never",
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => this.#options.onLog?.(String(level), message.trimEnd()),
      });
      signal?.throwIfAborted();
      this.#model = await this.#llama.loadModel({
        modelPath,
        gpuLayers: this.#options.gpuLayers ?? "auto",
        ...(signal === undefined ? {} : { loadSignal: signal }),
      });
      const trainContext = this.#model.trainContextSize;
      const contextSize = this.#options.contextSize ?? Math.min(trainContext, 4096);
      this.#context = await this.#model.createContext({
        sequences: this.#parallel,
        contextSize,
        threads: this.#threads,
        ...(this.#options.batchSize === undefined ? {} : { batchSize: this.#options.batchSize }),
        ...(this.#options.flashAttention === undefined
          ? {}
          : { flashAttention: this.#options.flashAttention }),
        ...(signal === undefined ? {} : { createSignal: signal }),
        // The step barrier decides when sequences queue their decodes; they all queue in one tick.
        batching: { dispatchSchedule: "nextCycle" },
      });
      for (let i = 0; i < this.#parallel; i++)
        this.#slots.push({
          index: i,
          sequence: this.#context.getSequence(),
          busy: false,
          phase: "outside",
        });

      const metadata = this.#model.fileInfo.metadata;
      const general = metadata.general as unknown as Record<string, unknown>;
      const fileType = typeof general.file_type === "number" ? general.file_type : undefined;
      const tokenizer = (metadata as unknown as { tokenizer?: { chat_template?: string } }).tokenizer;
      const bos = this.#model.tokens.bos;
      const eos = this.#model.tokens.eos;
      this.#info = {
        kind: "llama-cpp",
        modelId: this.#options.modelId ?? path.basename(modelPath).replace(/\.gguf$/i, ""),
        source: this.#options.model,
        architecture: String(general.architecture ?? "unknown"),
        precision: fileType === undefined ? "unknown" : (fileTypeToPrecision[fileType] ?? "mixed"),
        device: this.#llama.gpu === false ? "cpu" : this.#llama.gpu,
        contextSize: this.#context.contextSize,
        parallel: this.#parallel,
        ...(tokenizer?.chat_template === undefined ? {} : { chatTemplate: tokenizer.chat_template }),
        ...(bos === null ? {} : { bosToken: this.#model.detokenize([bos], true) }),
        ...(eos === null ? {} : { eosToken: this.#model.detokenize([eos], true) }),
        metadata: {
          ...(typeof general.name === "string" ? { name: general.name } : {}),
          threads: this.#threads,
          trainContextSize: trainContext,
        },
      };
      if (this.#llama.gpu !== false) {
        const vram = await this.#llama.getVramState();
        this.#vramUsed = vram.used;
      }
      this.#loadTimeMs = performance.now() - started;
      if (this.#state !== "loading") throw new AbortedError("the engine was disposed while loading");
      this.#watchNative(this.#llama, this.#model, this.#context);
      this.#state = "ready";
    } catch (err) {
      await this.#disposeNative();
      if (this.#state !== "loading") throw err;
      this.#state = "failed";
      this.#failure =
        err instanceof ServelabError
          ? err
          : signal?.aborted
            ? new AbortedError("model loading was aborted", { cause: err })
            : new ServelabError(
                "MODEL_LOAD_FAILED",
                `could not load ${this.#options.model}: ${errorMessage(err)}`,
                { cause: err },
              );
      throw this.#failure;
    }
  }

  /** A model, context or backend disposed by anyone but the engine can never decode again. */
  #watchNative(llama: Llama, model: LlamaModel, context: LlamaContext): void {
    // Disposing the backend disposes its models, and a model its contexts; the events come
    // innermost first, and the reason names the outermost object that was disposed.
    const onDispose = () =>
      this.#fail(
        `the llama.cpp ${llama.disposed ? "backend" : model.disposed ? "model" : "context"} was disposed`,
      );
    const listeners = [llama, model, context].map((o) => o.onDispose.createListener(onDispose));
    this.#unwatchNative = () => listeners.forEach((listener) => listener.dispose());
  }

  /**
   * The engine cannot go on: state "failed", every generation running or waiting ends now with the
   * failure (none waits for a decode that will never come), and the native objects are released
   * once the aborted generations have unwound. The first failure's reason is the one kept.
   */
  #fail(reason: string, cause?: unknown): void {
    if (this.#state !== "ready") return;
    const failure = new EngineFailedError(
      `the engine failed: ${reason}`,
      cause === undefined ? {} : { cause },
    );
    this.#state = "failed";
    this.#failure = failure;
    this.#abortAll(failure);
    this.#releasing = (async () => {
      await this.#whenIdle();
      if (this.#state === "failed") await this.#disposeNative({ keepBackend: true }).catch(() => undefined);
    })().finally(() => (this.#releasing = undefined));
  }

  #abortAll(reason: ServelabError): void {
    for (const controller of this.#generations) controller.abort(reason);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(reason);
    // Sequences at the step barrier go on to their (aborted) step now.
    if (this.#stepTimer !== undefined) clearTimeout(this.#stepTimer);
    this.#stepTimer = undefined;
    this.#stepTimerExpired = false;
    for (const waiter of this.#stepWaiters.splice(0)) waiter.release();
  }

  /** Resolves once no generation holds a sequence (aborted ones end within a decode step), or after
   * 5 s: a generation stuck in native code must not keep a restart waiting forever. */
  async #whenIdle(): Promise<void> {
    const deadline = performance.now() + 5000;
    while (this.#slots.some((s) => s.busy) && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
  }

  async countTokens(text: string): Promise<number> {
    return this.#tokenize(text).length;
  }

  #tokenize(text: string): Token[] {
    const model = this.#requireModel();
    return model.tokenize(text, true);
  }

  async renderChat(
    messages: readonly ChatMessage[],
    options: { variables?: Readonly<Record<string, unknown>> } = {},
  ): Promise<string> {
    const info = this.info();
    const { renderChatTemplate } = await import("../models/chat-template.js");
    return renderChatTemplate(
      info,
      messages,
      options.variables === undefined ? {} : { variables: options.variables },
    );
  }

  generate(request: GenerateRequest): AsyncIterable<GenerateEvent> {
    return { [Symbol.asyncIterator]: () => this.#generate(request) };
  }

  async *#generate(request: GenerateRequest): AsyncGenerator<GenerateEvent, void, undefined> {
    this.#requireModel();
    if (request.input.type === "chat") {
      const prompt = await this.renderChat(request.input.messages);
      yield* this.#generate({ ...request, input: { type: "text", text: prompt } });
      return;
    }
    // The engine's own abort (a failure, a restart) ends the generation with the reason; the
    // request's signal (a client that left, a deadline) ends it with finish reason "abort".
    const engineAbort = new AbortController();
    this.#generations.add(engineAbort);
    // not AbortSignal.any: it leaked one signal a request (src/core/abort.ts)
    const followed = followSignals([request.signal, engineAbort.signal]);
    const signal = followed.signal;
    try {
      for await (const event of this.#generateText(request.input.text, { ...request, signal })) {
        if (event.type === "done" && engineAbort.signal.aborted) break;
        yield event;
      }
    } catch (err) {
      if (engineAbort.signal.aborted) throw engineAbort.signal.reason;
      if (err instanceof ServelabError) throw err;
      if (isFatalNativeError(err) || ++this.#nativeFailuresInARow >= nativeFailuresToFail) {
        this.#fail(errorMessage(err), err);
        throw this.#failure ?? err;
      }
      throw err;
    } finally {
      followed.dispose();
      this.#generations.delete(engineAbort);
    }
    if (engineAbort.signal.aborted) throw engineAbort.signal.reason;
  }

  async *#generateText(
    text: string,
    request: GenerateRequest,
  ): AsyncGenerator<GenerateEvent, void, undefined> {
    const model = this.#requireModel();
    const promptTokens = this.#tokenize(text);
    const contextSize = this.info().contextSize;
    if (promptTokens.length === 0) throw new EngineError("the prompt is empty after tokenization");
    if (promptTokens.length >= contextSize)
      throw new ContextLengthExceededError(promptTokens.length, contextSize);
    const maxTokens = Math.min(request.maxTokens, contextSize - promptTokens.length);

    const slot = await this.#acquireSlot(promptTokens, request.signal);
    let finishReason: FinishReason = "length";
    let stopSequence: string | undefined;
    let completionTokens = 0;
    let nativeError = false;
    try {
      const sequence = slot.sequence;
      // Reuse the longest prefix the sequence already holds; keep at least one token to evaluate.
      const { firstDifferentIndex } = sequence.compareContextTokens(promptTokens);
      const keep = Math.min(firstDifferentIndex, promptTokens.length - 1);
      if (keep < sequence.nextTokenIndex)
        await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
      const cached = sequence.nextTokenIndex;
      yield {
        type: "start",
        promptTokens: promptTokens.length,
        cachedPromptTokens: cached,
        time: performance.now(),
      };

      const sampling = request.sampling;
      const repeatPenalty: LlamaContextSequenceRepeatPenalty | undefined =
        sampling.presencePenalty || sampling.frequencyPenalty || (sampling.repeatPenalty ?? 1) !== 1
          ? {
              punishTokens: () => sequence.contextTokens.slice(-64),
              maxPunishTokens: 64,
              penalty: sampling.repeatPenalty ?? 1,
              presencePenalty: sampling.presencePenalty ?? 0,
              frequencyPenalty: sampling.frequencyPenalty ?? 0,
            }
          : undefined;
      const stops = createStopMatcher(request.stop ?? []);
      const detok = createIncrementalDetokenizer(model);
      const iterator = sequence.evaluate(promptTokens.slice(cached), {
        temperature: sampling.temperature ?? 0.8,
        topK: sampling.topK ?? 40,
        topP: sampling.topP ?? 0.95,
        minP: sampling.minP ?? 0.05,
        ...(sampling.seed === undefined ? {} : { seed: sampling.seed }),
        ...(repeatPenalty === undefined ? {} : { repeatPenalty }),
        yieldEogToken: request.ignoreEos === true,
      });
      let pendingTokens = 0;
      let first = true;
      finishReason = "stop";
      try {
        while (true) {
          if (!first) {
            await this.#awaitStep(slot);
            // Aborted at the barrier (a failure releases it at once): no further decode.
            if (request.signal?.aborted) {
              slot.phase = "outside";
              finishReason = "abort";
              break;
            }
          }
          slot.phase = first ? "prefill" : "decoding";
          first = false;
          let step: IteratorResult<Token>;
          try {
            step = await iterator.next();
          } finally {
            slot.phase = "outside";
            this.#checkStep();
          }
          if (step.done) break;
          const token = step.value;
          if (request.signal?.aborted) {
            finishReason = "abort";
            break;
          }
          completionTokens++;
          pendingTokens++;
          const text = detok.push(token);
          if (text.length > 0) {
            const { emit, stopped } = stops.push(text);
            if (emit.length > 0 || stopped !== undefined) {
              yield { type: "text", text: emit, tokens: pendingTokens, time: performance.now() };
              pendingTokens = 0;
            }
            if (stopped !== undefined) {
              stopSequence = stopped;
              finishReason = "stop";
              break;
            }
          }
          if (completionTokens >= maxTokens) {
            finishReason = "length";
            break;
          }
        }
      } finally {
        await iterator.return?.(undefined);
      }
      if (stopSequence === undefined && finishReason !== "abort") {
        const rest = stops.flush(detok.flush());
        if (rest.length > 0 || pendingTokens > 0)
          yield { type: "text", text: rest, tokens: pendingTokens, time: performance.now() };
      }
      if (request.signal?.aborted) finishReason = "abort";
    } catch (err) {
      nativeError = !(err instanceof ServelabError);
      throw err;
    } finally {
      // A native error may leave the sequence's cache out of step with its tokens: forget them, so
      // no later request reuses them as a cached prefix.
      if (nativeError && this.#state === "ready")
        await slot.sequence
          .eraseContextTokenRanges([{ start: 0, end: slot.sequence.nextTokenIndex }])
          .catch((err: unknown) => this.#fail(`could not clear a sequence: ${errorMessage(err)}`, err));
      this.#releaseSlot(slot);
    }
    if (finishReason !== "abort") this.#nativeFailuresInARow = 0;
    yield {
      type: "done",
      finishReason,
      promptTokens: promptTokens.length,
      completionTokens,
      ...(stopSequence === undefined ? {} : { stopSequence }),
      time: performance.now(),
    };
  }

  #acquireSlot(tokens: readonly Token[], signal: AbortSignal | undefined): Promise<Slot> {
    signal?.throwIfAborted();
    const slot = this.#pickSlot(tokens);
    if (slot !== undefined) {
      slot.busy = true;
      slot.phase = "outside";
      return Promise.resolve(slot);
    }
    if (this.#waiters.length >= this.#maxQueue)
      return Promise.reject(
        new QueueFullError(
          `all ${this.#parallel} sequences are busy and ${this.#waiters.length} requests are waiting; try again shortly`,
        ),
      );
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, tokens };
      this.#waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) {
            this.#waiters.splice(i, 1);
            reject(new AbortedError("the request was aborted while waiting for a sequence"));
          }
        },
        { once: true },
      );
    });
  }

  /** The free sequence sharing the longest prefix with `tokens` (llama-server's slot similarity). */
  #pickSlot(tokens: readonly Token[]): Slot | undefined {
    let best: Slot | undefined;
    let bestShared = -1;
    for (const slot of this.#slots) {
      if (slot.busy) continue;
      const shared = slot.sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      if (shared > bestShared) {
        best = slot;
        bestShared = shared;
      }
    }
    return best;
  }

  /**
   * The step barrier. node-llama-cpp decodes whatever is queued when its previous step ends, and
   * hands tokens back one sequence at a time as each one's sampling finishes: the first sequences
   * back queue their next decode while the last are still sampling, and steps split into uneven
   * groups (3 of 4 sequences per step, measured) that never merge again. So a sequence that wants
   * its next token waits here until every generating sequence does, and all of them queue their
   * decodes in the same tick: one decode step for all. The barrier never waits for a sequence in
   * its prompt evaluation (that may take many steps), and waits at most `batchWaitMs` for one whose
   * last token is still with its consumer; it does wait for one inside a decode step, since sharing
   * the step after it costs the waiter nothing and a step of its own would cost the rest a step.
   */
  #awaitStep(slot: Slot): Promise<void> {
    slot.phase = "waiting";
    const released = new Promise<void>((resolve) =>
      this.#stepWaiters.push({ index: slot.index, release: resolve }),
    );
    this.#checkStep();
    return released;
  }

  #checkStep(): void {
    if (this.#stepWaiters.length === 0) return;
    let outside = 0;
    for (const s of this.#slots) {
      if (!s.busy) continue;
      if (s.phase === "decoding") return;
      if (s.phase === "outside") outside++;
    }
    if (outside > 0 && !this.#stepTimerExpired) {
      this.#stepTimer ??= setTimeout(() => {
        this.#stepTimer = undefined;
        this.#stepTimerExpired = true;
        this.#checkStep();
      }, this.#options.batchWaitMs ?? 3);
      return;
    }
    if (this.#stepTimer !== undefined) clearTimeout(this.#stepTimer);
    this.#stepTimer = undefined;
    this.#stepTimerExpired = false;
    // In sequence-id order (slot i holds the context's sequence i: a fresh context hands them out in
    // order). Each sequence has a KV stream of its own, and llama.cpp runs a batch as one pass over
    // the weights per run of consecutive, increasing sequence ids; node-llama-cpp batches in queue
    // order, so releasing in arrival order made one step of 32 sequences many passes (H200: a step
    // of 32 took 5.96 ms in id order, 66 ms shuffled; c=32 went from 477 to 1,547 tok/s).
    const waiters = this.#stepWaiters.splice(0).sort((a, b) => a.index - b.index);
    this.#steps++;
    this.#stepSequences += waiters.length;
    if (waiters.length === 1) waiters[0]?.release();
    // setImmediate: node-llama-cpp's previous step has wound up, so it cannot start a step with
    // only the first of them.
    else setImmediate(() => waiters.forEach((w) => w.release()));
  }

  #releaseSlot(slot: Slot): void {
    this.#collectNativeMemory();
    slot.busy = false;
    slot.phase = "outside";
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      const next = this.#pickSlot(waiter.tokens) ?? slot;
      next.busy = true;
      next.phase = "outside";
      waiter.resolve(next);
    }
    this.#checkStep();
  }

  #requireModel(): LlamaModel {
    if (this.#model === undefined || this.#state !== "ready")
      throw this.failure ?? new EngineError(`the engine is not ready (state: ${this.#state})`);
    return this.#model;
  }

  /** Disposes the context and model, and the backend unless `keepBackend` (a restart reuses it). */
  async #disposeNative({ keepBackend = false } = {}): Promise<void> {
    this.#unwatchNative?.();
    this.#unwatchNative = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new EngineError("the engine was stopped"));
    const { llama, model, context } = { llama: this.#llama, model: this.#model, context: this.#context };
    this.#context = undefined;
    this.#model = undefined;
    this.#slots = [];
    await context?.dispose();
    await model?.dispose();
    if (keepBackend) return;
    this.#llama = undefined;
    await llama?.dispose();
  }

  async dispose(): Promise<void> {
    if (this.#state === "disposed") return;
    this.#state = "disposed";
    this.#abortAll(new EngineError("the engine was disposed"));
    // A load in progress sees the state and releases what it made (see #start).
    await this.#releasing;
    await this.#disposeNative();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

export function createLlamaCppEngine(options: LlamaCppEngineOptions): LlamaCppEngine {
  return new LlamaCppEngine(options);
}

async function resolveModelPath(
  options: LlamaCppEngineOptions,
  resolveModelFile: (uri: string, options: { directory: string; cli: boolean }) => Promise<string>,
): Promise<string> {
  const source = options.model;
  if (/^(hf:|https?:)/i.test(source)) {
    const directory = options.modelsDir ?? path.join(os.homedir(), ".cache", "servelab", "models");
    try {
      return await resolveModelFile(source, { directory, cli: false });
    } catch (err) {
      throw new ModelNotFoundError(
        source,
        `could not fetch ${source}: ${errorMessage(err)} (download it where a network is available, then pass the .gguf path)`,
        { cause: err },
      );
    }
  }
  const resolved = path.resolve(source);
  const info = await stat(resolved).catch(() => undefined);
  if (info === undefined || !info.isFile())
    throw new ModelNotFoundError(source, `model file not found: ${resolved} (make one with: servelab synth)`);
  return resolved;
}

/**
 * Turns generated tokens into text as they come. A token may end inside a multi-byte character: its
 * text is held back (llama.cpp renders the partial bytes as U+FFFD) until the character completes.
 */
export function createIncrementalDetokenizer(model: Pick<LlamaModel, "detokenize">): {
  push(token: Token): string;
  flush(): string;
} {
  let pending: Token[] = [];
  const recent: Token[] = [];
  return {
    push(token) {
      pending.push(token);
      const text = model.detokenize(pending, true, recent);
      if (text.endsWith("\uFFFD") && pending.length < 8) return "";
      for (const t of pending) recent.push(t);
      if (recent.length > 8) recent.splice(0, recent.length - 8);
      pending = [];
      return text;
    },
    flush() {
      if (pending.length === 0) return "";
      const text = model.detokenize(pending, true, recent);
      pending = [];
      return text;
    },
  };
}
