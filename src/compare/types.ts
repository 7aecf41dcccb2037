/**
 * The JSON shape of a whole `servelab compare` run: one ComparisonResult holding one
 * ConfigurationResult per engine/model/precision configuration. Everything a failed or partial
 * configuration could lack is optional, so a report can always be rendered from what was measured.
 */

import type { EngineKind, Precision } from "../engines/engine.js";

/** Version of this JSON shape; bumped when a field changes meaning or is removed. */
export const comparisonResultVersion = 1;

/** Distribution summary of a sample (milliseconds, tokens, ...). `std` is the sample standard deviation. */
export interface Summary {
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  std: number;
  n: number;
}

/** A summary plus the raw samples it was computed from (kept for charts). */
export interface SampledSummary {
  summary: Summary;
  samples: number[];
}

/** The machine the comparison ran on. */
export interface ComparisonEnvironment {
  /** servelab's version. */
  servelab: string;
  /** Node.js version (process.version). */
  node: string;
  /** OS name and release, e.g. "linux 6.8.0". */
  os: string;
  /** CPU model name. */
  cpu: string;
  /** Logical CPU cores. */
  cores: number;
  /** Total system memory in bytes. */
  memoryBytes: number;
  gpus: GpuInfo[];
}

export interface GpuInfo {
  name: string;
  memoryBytes?: number;
  driver?: string;
}

/** One comparison: the environment, the command that made it and one result per configuration. */
export interface ComparisonResult {
  version: typeof comparisonResultVersion;
  /** ISO 8601 timestamp. */
  createdAt: string;
  environment: ComparisonEnvironment;
  /** The command line that produced this result, for reproduction. */
  command: string;
  configurations: ConfigurationResult[];
  /** Name of the configuration others are compared against (change %, agreement); the first by default. */
  reference?: string;
}

export type ConfigurationStatus = "ok" | "failed";

export interface ConfigurationResult {
  /** Unique, human-readable name ("r1-1.5b-f32"). */
  name: string;
  engine: EngineKind;
  /** Model source (path, hf: URI or upstream model id). */
  model: string;
  precision: Precision;
  /** True when the weights are synthetic (made by servelab, not trained). */
  synthetic: boolean;
  /**
   * How synthetic weights were made: "random" (seeded random weights of the real shape: speed and memory
   * hold, quality numbers mean nothing) or "scripted" (`servelab synth --script`: the model answers with a
   * fixed text, so its quality figures are known in advance and meaningful as a test). Absent for real
   * weights; a synthetic configuration without it (results written before it) counts as random.
   */
  syntheticWeights?: "random" | "scripted";
  status: ConfigurationStatus;
  /** Why the configuration failed (status "failed"), one line. */
  error?: string;
  load?: LoadResult;
  memory?: MemoryResult;
  latency?: LatencyResult;
  throughput?: ThroughputResult;
  maxConcurrencyUnderSlo?: MaxConcurrencyResult;
  quality?: QualitySummary;
}

/**
 * Whether a configuration's weights are random (synthetic without a script): its quality figures mean
 * nothing. Results written before `syntheticWeights` existed count any synthetic configuration as random.
 */
export function hasRandomWeights(
  configuration: Pick<ConfigurationResult, "synthetic" | "syntheticWeights">,
): boolean {
  return configuration.synthetic && configuration.syntheticWeights !== "scripted";
}

/** "real", "random" or "scripted", as reports name a configuration's weights. */
export function describeWeights(
  configuration: Pick<ConfigurationResult, "synthetic" | "syntheticWeights">,
): "real" | "random" | "scripted" {
  if (!configuration.synthetic) return "real";
  return hasRandomWeights(configuration) ? "random" : "scripted";
}

export interface LoadResult {
  /** Milliseconds from starting the load until the engine could generate. */
  loadTimeMs?: number;
  /** Milliseconds from the start of the load until the first token of a first request. */
  firstTokenMs?: number;
}

export interface MemoryResult {
  /** Memory in use with the model loaded and no request running (of `kind`). */
  idleBytes?: number;
  /** Highest memory in use during the measurements (of `kind`). */
  peakBytes?: number;
  /**
   * What `idleBytes` and `peakBytes` measure: GPU memory when the engine runs on a GPU and GPU memory
   * could be read (nvidia-smi), resident set size of the serving process otherwise.
   */
  kind: "rss" | "vram";
  /** The device the engine reported at start-up: "cpu", "cuda", "vulkan", "metal" or a GPU name. */
  device?: string;
  /** Resident memory of the serving process and its children (mapped model weights included). */
  rss?: MemoryFigures;
  /** GPU memory above the level before the server started; only for an engine on a GPU. */
  vram?: MemoryFigures;
}

export interface MemoryFigures {
  idleBytes?: number;
  peakBytes?: number;
}

export type PromptClass = "short" | "medium" | "long";

export interface LatencyResult {
  /** Time to first token per prompt class. */
  ttftMs?: Partial<Record<PromptClass, SampledSummary>>;
  /** Inter-token latency. */
  itlMs?: SampledSummary;
}

export interface ConcurrencyPoint {
  concurrency: number;
  outputTokensPerSecond: number;
  p95ItlMs?: number;
  requestsPerMinute?: number;
}

export interface ThroughputResult {
  /** Output tokens per second of a single request stream. */
  outputTokensPerSecond?: number;
  /** Completed requests per minute with 4 requests in flight. */
  requestsPerMinuteAt4?: number;
  byConcurrency?: ConcurrencyPoint[];
}

export interface MaxConcurrencyResult {
  /** Highest concurrency that kept the latency objective (0 when none did). */
  value: number;
  /** The objective, e.g. "p95 ITL <= 50 ms". */
  slo: string;
}

/** A proportion with its 95% Wilson score interval. */
export interface Proportion {
  /** Successes over n (0 when n is 0). */
  value: number;
  low: number;
  high: number;
  successes: number;
  n: number;
}

/** Quality of one configuration on a set of problems. */
export interface QualitySummary {
  /** Where the problems came from: "generated (seed 1, 40 problems)" or a file path. */
  dataset: string;
  /** Problems attempted. */
  n: number;
  /** Problems whose boxed answer equals the expected answer, with a 95% Wilson interval. */
  accuracy: Proportion;
  /** Accuracy per problem kind. */
  byKind: Record<string, Proportion>;
  /** Share of problems that hit the token limit (finish reason "length") before giving an answer. */
  truncationRate: number;
  meanCompletionTokens: number;
  /** Problems whose request failed (counted as wrong). */
  errors: number;
  /** True when the weights are synthetic (random or scripted). */
  synthetic: boolean;
  /** False when the figures mean nothing (random weights): they are kept here, but reports show "n/a".
   * Absent in results written before it: then `synthetic` says it. */
  meaningful?: boolean;
  /** A plain-language caveat to show next to the numbers. */
  note?: string;
  /** Agreement with the reference configuration, when this is not the reference. */
  agreement?: AgreementSummary;
}

/** How closely a candidate's answers follow the reference's on the same prompts (greedy decoding). */
export interface AgreementSummary {
  /** Name of the reference configuration. */
  reference?: string;
  /** Problems answered by both. */
  n: number;
  /** Share of problems where both gave a final answer and the answers are equal. */
  sameAnswerRate: number;
  /** Share of problems whose generated texts are token-for-token identical. */
  identicalRate: number;
  /** Position (0-based token index) of the first differing token, over the texts that differ. */
  firstDifferingToken?: Summary;
  /** The tokens positions are counted in: "words-and-punctuation" when no model tokenizer was reachable,
   * else the reference model's, e.g. "model tokens (r1-f32: r1-f32.gguf)". */
  tokenizer: string;
  /** Mean chrF (n=6, beta=2, whitespace removed; 0-100) of candidate against reference text. */
  chrf: number;
  /** Mean cosine similarity of embeddings, when an embedding provider was configured. */
  embeddingCosine?: number;
  /** Which embedding model produced `embeddingCosine`. */
  embeddingModel?: string;
  /** True when either side's weights are synthetic (random or scripted). */
  synthetic: boolean;
  /** False when either side has random weights: the figures are kept but mean nothing. */
  meaningful?: boolean;
  note?: string;
}
