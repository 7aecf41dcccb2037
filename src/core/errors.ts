/**
 * One error tree for the whole project. Every error carries a stable `code`; the CLI maps codes to exit
 * codes and prints one line, and the server maps them to OpenAI-shaped error bodies.
 */

export type ServelabErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_REQUEST"
  | "NOT_FOUND"
  | "MODEL_NOT_FOUND"
  | "MODEL_LOAD_FAILED"
  | "CONTEXT_LENGTH_EXCEEDED"
  | "UNAUTHORIZED"
  | "QUEUE_FULL"
  | "TIMEOUT"
  | "ABORTED"
  | "ENGINE_FAILED"
  | "ENGINE_NOT_INSTALLED"
  | "UPSTREAM_FAILED"
  | "GGUF_INVALID"
  | "IO_FAILED"
  | "INTERNAL";

export interface ServelabErrorOptions {
  cause?: unknown;
  /** The option, field or request parameter at fault, when there is one. */
  param?: string;
}

export class ServelabError extends Error {
  readonly code: ServelabErrorCode;
  readonly param: string | undefined;

  constructor(code: ServelabErrorCode, message: string, options: ServelabErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.param = options.param;
  }
}

/** A user-supplied option or flag is wrong; the message says how to fix it. */
export class InvalidArgumentError extends ServelabError {
  constructor(message: string, options: ServelabErrorOptions = {}) {
    super("INVALID_ARGUMENT", message, options);
  }
}

/** An HTTP request is malformed or asks for something unsupported (HTTP 400). */
export class InvalidRequestError extends ServelabError {
  constructor(message: string, options: ServelabErrorOptions = {}) {
    super("INVALID_REQUEST", message, options);
  }
}

export class ModelNotFoundError extends ServelabError {
  readonly model: string;
  constructor(
    model: string,
    message = `model '${model}' does not exist`,
    options: ServelabErrorOptions = {},
  ) {
    super("MODEL_NOT_FOUND", message, { param: "model", ...options });
    this.model = model;
  }
}

/** The prompt (plus max_tokens, where the engine counts it) does not fit the context. `param` is
 * `messages` unless told otherwise: the server sets `prompt` for /v1/completions. */
export class ContextLengthExceededError extends ServelabError {
  readonly promptTokens: number;
  readonly contextSize: number;
  readonly maxTokens: number | undefined;
  constructor(
    promptTokens: number,
    contextSize: number,
    maxTokens?: number,
    options: ServelabErrorOptions = {},
  ) {
    super(
      "CONTEXT_LENGTH_EXCEEDED",
      maxTokens === undefined
        ? `this model's maximum context length is ${contextSize} tokens, but the prompt has ${promptTokens} tokens`
        : `this model's maximum context length is ${contextSize} tokens, but the prompt has ${promptTokens} tokens and max_tokens asks for ${maxTokens} more`,
      { param: "messages", ...options },
    );
    this.promptTokens = promptTokens;
    this.contextSize = contextSize;
    this.maxTokens = maxTokens;
  }
}

export class QueueFullError extends ServelabError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 1) {
    super("QUEUE_FULL", message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class TimeoutError extends ServelabError {
  constructor(message: string, options: ServelabErrorOptions = {}) {
    super("TIMEOUT", message, options);
  }
}

export class AbortedError extends ServelabError {
  constructor(message = "the operation was aborted", options: ServelabErrorOptions = {}) {
    super("ABORTED", message, options);
  }
}

export class EngineError extends ServelabError {
  constructor(message: string, options: ServelabErrorOptions = {}) {
    super("ENGINE_FAILED", message, options);
  }
}

/** The engine failed while serving (a fatal native error, a supervised process that died): requests fail
 * fast with it (HTTP 503, OpenAI code `engine_failed`) until the engine is restarted. */
export class EngineFailedError extends EngineError {}

export class GgufError extends ServelabError {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options: ServelabErrorOptions = {}) {
    super("GGUF_INVALID", path === undefined ? message : `${path}: ${message}`, options);
    this.path = path;
  }
}

/** Exit codes the CLI uses for each error code (0 success, 1 unexpected). */
export const exitCodeFor: Readonly<Record<ServelabErrorCode, number>> = {
  INVALID_ARGUMENT: 2,
  INVALID_REQUEST: 2,
  NOT_FOUND: 3,
  MODEL_NOT_FOUND: 3,
  GGUF_INVALID: 4,
  MODEL_LOAD_FAILED: 4,
  CONTEXT_LENGTH_EXCEEDED: 2,
  UNAUTHORIZED: 5,
  QUEUE_FULL: 6,
  TIMEOUT: 7,
  ABORTED: 130,
  ENGINE_FAILED: 8,
  ENGINE_NOT_INSTALLED: 9,
  UPSTREAM_FAILED: 8,
  IO_FAILED: 10,
  INTERNAL: 1,
};

export function isServelabError(err: unknown): err is ServelabError {
  return err instanceof ServelabError;
}

/** The message of any thrown value, for one-line reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** An upstream OpenAI-compatible server (vLLM, llama-server, ...) answered with an error or could not
 * be reached. `status` is the upstream HTTP status, undefined when no response came. */
export class UpstreamError extends ServelabError {
  readonly status: number | undefined;
  /** The upstream base URL. */
  readonly url: string | undefined;
  constructor(message: string, status?: number, url?: string, options: ServelabErrorOptions = {}) {
    super("UPSTREAM_FAILED", message, options);
    this.status = status;
    this.url = url;
  }
}

/** An engine's runtime (vLLM, the Python it needs) is not installed; the message says how to install it. */
export class EngineNotInstalledError extends ServelabError {
  /** The engine that is missing, e.g. "vllm". */
  readonly engine: string;
  constructor(engine: string, message: string, options: ServelabErrorOptions = {}) {
    super("ENGINE_NOT_INSTALLED", message, options);
    this.engine = engine;
  }
}
