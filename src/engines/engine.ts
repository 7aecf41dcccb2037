/**
 * The Engine interface: what the server, bench and compare use to run a model, whatever runs it
 * (llama.cpp embedded through node-llama-cpp, a vLLM process servelab launched, or any
 * OpenAI-compatible server it attaches to).
 */

import type { ServelabError } from "../core/errors.js";

export type EngineKind = "llama-cpp" | "vllm" | "upstream";

/** A precision mode. GGUF tensor types for the embedded engine; dtype/quantization names for vLLM. */
export type Precision = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "mixed" | "unknown" | (string & {});

export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** Sampling parameters; unset fields mean "the engine's (or profile's) default". */
export interface SamplingParams {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repeatPenalty?: number;
}

export type GenerateInput =
  /** A prompt the engine tokenizes as is (special tokens in it are parsed as special tokens). */
  | { type: "text"; text: string }
  /** Chat messages the engine renders with the model's own chat template. */
  | { type: "chat"; messages: readonly ChatMessage[] };

export interface GenerateRequest {
  input: GenerateInput;
  /** Most tokens to generate. */
  maxTokens: number;
  sampling: SamplingParams;
  /** Stop strings: generation ends before the first occurrence, which is not returned. */
  stop?: readonly string[];
  /** Keep generating past end-of-sequence until maxTokens (for fixed-length benchmarks). */
  ignoreEos?: boolean;
  /** Aborting ends generation with finishReason "abort" and frees the sequence. */
  signal?: AbortSignal;
}

/** Why generation ended. `repetition` is the repetition guard's stop (see models/profiles). */
export type FinishReason = "stop" | "length" | "abort" | "repetition";

export type GenerateEvent =
  /** The prompt is tokenized and admitted to a sequence (an upstream server accepted the request);
   * `time` is performance.now(). An engine that learns the prompt's token counts only later (an upstream
   * reports them with its first chunk) gives 0 here and the counts on a later `text` event. */
  | { type: "start"; promptTokens: number; cachedPromptTokens: number; time: number }
  /** New text. `tokens` is how many generated tokens this text completes (may be 0 while a multi-byte
   * character or a possible stop string is held back, and more than 1 when it is released). */
  | {
      type: "text";
      text: string;
      tokens: number;
      time: number;
      /** Set when the engine already knows this text is reasoning (an upstream that splits it
       * itself, e.g. vLLM with --reasoning-parser); otherwise the profile's parser decides. */
      channel?: "reasoning";
      /** The prompt's token counts, when the engine learned them (or they changed) after `start`. */
      promptTokens?: number;
      cachedPromptTokens?: number;
    }
  | {
      type: "done";
      finishReason: FinishReason;
      promptTokens: number;
      completionTokens: number;
      /** The stop string that ended generation, when one did. */
      stopSequence?: string;
      /** Prompt tokens served from a cache, when the engine learned them after `start`. */
      cachedPromptTokens?: number;
      time: number;
    };

export interface EngineInfo {
  kind: EngineKind;
  /** The name clients use in the `model` field. */
  modelId: string;
  /** Local file, hf: URI, or upstream URL. */
  source: string;
  architecture?: string;
  precision: Precision;
  /** "cpu", "cuda", "vulkan", "metal", or a GPU name. */
  device: string;
  /** Tokens per sequence. */
  contextSize: number;
  /** Sequences that decode together. */
  parallel: number;
  /** Jinja chat template embedded in the model, when there is one. */
  chatTemplate?: string;
  /** The model's own begin- and end-of-sequence token texts, when known. */
  bosToken?: string;
  eosToken?: string;
  /** Metadata from the model file (general.name and the like), when known. */
  metadata?: Readonly<Record<string, string | number | boolean>>;
}

export interface EngineStats {
  /** Milliseconds from load() until the engine could generate. */
  loadTimeMs: number | undefined;
  /** Resident memory of the process serving the model, in bytes. */
  ramBytes: number | undefined;
  /** GPU memory in use, in bytes (undefined without a GPU). */
  vramBytes: number | undefined;
  /** Sequences generating now. */
  running: number;
  /** Requests waiting for a sequence. */
  waiting: number;
}

export type EngineState = "created" | "loading" | "ready" | "failed" | "disposed";

export interface Engine extends AsyncDisposable {
  readonly state: EngineState;
  /** Why the engine is in state "failed" (a load that failed, or a failure while serving). */
  readonly failure?: ServelabError | undefined;
  /** Valid once load() resolved. */
  info(): EngineInfo;
  stats(): EngineStats;
  /** Loads the model (or starts/attaches to the server). Rejects with a ServelabError. */
  load(signal?: AbortSignal): Promise<void>;
  /** Number of tokens the model's tokenizer makes of `text` (special tokens parsed). */
  countTokens(text: string): Promise<number>;
  /** Renders chat messages with the model's template, ending with the generation prompt; `variables`
   * are extra template variables (a request's `chat_template_kwargs`). Engines that send messages to a
   * server that templates them leave this undefined. */
  renderChat?(
    messages: readonly ChatMessage[],
    options?: { variables?: Readonly<Record<string, unknown>> },
  ): Promise<string>;
  /** Streams one generation. Breaking out of the loop aborts it and frees its sequence. Throws
   * ContextLengthExceededError before the first event when the prompt does not fit. */
  generate(request: GenerateRequest): AsyncIterable<GenerateEvent>;
  /** Engines that can be started again: aborts what runs, releases what is left of the old engine
   * and loads again; resolves when ready. Valid in any state but "disposed". */
  restart?(signal?: AbortSignal): Promise<void>;
  dispose(): Promise<void>;
}
