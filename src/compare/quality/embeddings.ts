/**
 * Embedding providers for the embedding-similarity part of agreement: an OpenAI-style
 * `/embeddings` endpoint, or a GGUF embedding model run in-process through node-llama-cpp.
 */

import { request } from "undici";
import { InvalidArgumentError, ServelabError, UpstreamError, errorMessage } from "../../core/errors.js";

/** Turns texts into vectors; the i-th vector belongs to the i-th text. */
export interface EmbeddingProvider {
  /** The embedding model's name, for reports. */
  readonly model: string;
  embed(texts: string[]): Promise<number[][]>;
}

export interface EndpointEmbeddingProviderOptions {
  /** Base URL as the openai SDK takes it, e.g. "http://127.0.0.1:8080/v1"; "/embeddings" is appended. */
  baseUrl: string;
  /** The `model` field sent with each request. */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Texts per request. Default 32. */
  batchSize?: number;
  /** Milliseconds per request before it fails. Default 60000. */
  timeoutMs?: number;
}

/** An EmbeddingProvider that calls an OpenAI-compatible `POST {baseUrl}/embeddings`. */
export function createEndpointEmbeddingProvider(
  options: EndpointEmbeddingProviderOptions,
): EmbeddingProvider {
  const batchSize = options.batchSize ?? 32;
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError(`batchSize must be a positive integer, got ${batchSize}`, {
      param: "batchSize",
    });
  }
  let url: URL;
  try {
    url = new URL(`${options.baseUrl.replace(/\/+$/, "")}/embeddings`);
  } catch (err) {
    throw new InvalidArgumentError(`embedding endpoint URL is not valid: ${options.baseUrl}`, {
      cause: err,
      param: "baseUrl",
    });
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;

  const embedBatch = async (input: string[]): Promise<number[][]> => {
    let status: number;
    let body: unknown;
    try {
      const response = await request(url, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: options.model, input, encoding_format: "float" }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = response.statusCode;
      const text = await response.body.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } catch (err) {
      throw new ServelabError(
        "UPSTREAM_FAILED",
        `embedding request to ${url.href} failed: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    if (status < 200 || status >= 300) {
      const message =
        typeof body === "object" && body !== null && "error" in body
          ? JSON.stringify((body as { error: unknown }).error)
          : String(body).slice(0, 200);
      throw new UpstreamError(
        `embedding endpoint ${url.href} answered HTTP ${status}: ${message}`,
        status,
        url.href,
      );
    }
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw new ServelabError(
        "UPSTREAM_FAILED",
        `embedding endpoint ${url.href} returned ${Array.isArray(data) ? data.length : "no"} embeddings for ${input.length} inputs`,
      );
    }
    const vectors = new Array<number[]>(input.length);
    data.forEach((item: unknown, position) => {
      const entry = item as { embedding?: unknown; index?: unknown };
      const index = typeof entry.index === "number" ? entry.index : position;
      if (
        !Array.isArray(entry.embedding) ||
        !entry.embedding.every((x) => typeof x === "number") ||
        index < 0 ||
        index >= input.length
      ) {
        throw new ServelabError(
          "UPSTREAM_FAILED",
          `embedding endpoint ${url.href} returned a malformed embedding at ${position}`,
        );
      }
      vectors[index] = entry.embedding as number[];
    });
    return vectors;
  };

  return {
    model: options.model,
    async embed(texts: string[]): Promise<number[][]> {
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        vectors.push(...(await embedBatch(texts.slice(start, start + batchSize))));
      }
      return vectors;
    },
  };
}

export interface LlamaEmbeddingProviderOptions {
  /** Path of a GGUF model with embeddings (any model works; an embedding model gives meaningful vectors). */
  modelPath: string;
  /** Tokens per text; longer texts are cut to fit. Default 512. */
  contextSize?: number;
  /** Offload to a GPU when available ("auto"), or run on the CPU (false). Default false. */
  gpu?: "auto" | false;
  /** CPU threads. Default: node-llama-cpp's. */
  threads?: number;
}

/** An EmbeddingProvider that holds a model and must be disposed. */
export interface DisposableEmbeddingProvider extends EmbeddingProvider, AsyncDisposable {
  dispose(): Promise<void>;
}

/** Loads a GGUF model through node-llama-cpp and embeds with `model.createEmbeddingContext()`. */
export async function createLlamaEmbeddingProvider(
  options: LlamaEmbeddingProviderOptions,
): Promise<DisposableEmbeddingProvider> {
  const contextSize = options.contextSize ?? 512;
  const { getLlama } = await import("node-llama-cpp");
  // never build llama.cpp from source implicitly (a git clone and a compile; a hang with no network)
  const llama = await getLlama({ gpu: options.gpu ?? false, build: "never" });
  let model;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
  } catch (err) {
    await llama.dispose();
    throw new ServelabError(
      "MODEL_LOAD_FAILED",
      `cannot load embedding model ${options.modelPath}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const context = await model.createEmbeddingContext({
    contextSize,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  });
  const name =
    model.fileInfo.metadata.general?.name ?? options.modelPath.split(/[\\/]/).pop() ?? options.modelPath;
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  };
  return {
    model: String(name),
    async embed(texts: string[]): Promise<number[][]> {
      if (disposed) throw new ServelabError("INVALID_REQUEST", "embedding provider is disposed");
      const vectors: number[][] = [];
      // One at a time: the context holds one sequence.
      for (const text of texts) {
        // An empty text has no tokens to pool; embed a single space instead.
        const tokens = model.tokenize(text === "" ? " " : text);
        const embedding = await context.getEmbeddingFor(tokens.slice(0, Math.max(1, contextSize - 2)));
        vectors.push([...embedding.vector]);
      }
      return vectors;
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
