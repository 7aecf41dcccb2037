/** Types shared by the bench modules: request records and results. */
import type { Distribution, RunAggregate } from "./stats.js";

/** How a failed request failed. */
export type RequestErrorKind = "http" | "timeout" | "connection" | "stream" | "aborted";

export interface RequestError {
  kind: RequestErrorKind;
  /** HTTP status, for `http`. */
  status?: number;
  message: string;
  /** Whether any output had arrived before the failure. */
  midStream: boolean;
}

/** How a request's output tokens were counted. */
export type TokenCountMethod = "usage" | "tokenizer" | "chunks";

/** One streamed chunk, kept only with `keepChunks` (tests, debugging). */
export interface ChunkLogEntry {
  /** performance.now() when the chunk's bytes were read. */
  at: number;
  tokens: number;
  data: string;
}

/** Raw timing of one request, as the HTTP client measured it (performance.now() milliseconds). */
export interface RequestTiming {
  intendedAt: number;
  startAt: number;
  /** First output of any kind (reasoning included). */
  firstTokenAt: number | undefined;
  /** First answer (non-reasoning) output. */
  firstContentAt: number | undefined;
  lastTokenAt: number | undefined;
  endAt: number;
  /** Output tokens counted from the stream. */
  countedTokens: number;
  reasoningTokens: number;
  /** completion_tokens from the server's usage, when it sent any. */
  reportedCompletionTokens: number | undefined;
  reportedPromptTokens: number | undefined;
  finishReason: string | undefined;
  method: TokenCountMethod;
  chunks: number;
  /** Inter-token latency of each token after the first chunk, per token (a chunk's interval spread over its tokens). */
  itl: number[];
  error: RequestError | undefined;
  chunkLog?: ChunkLogEntry[];
}

/** One finished request as written to requests.jsonl (milliseconds unless named otherwise). */
export interface RequestRecord {
  /** Sequence number within its run. */
  index: number;
  level: string;
  run: number;
  warmup: boolean;
  /** The prompt's class or source: short, medium, long, synthetic, file or sharegpt. */
  source: string | null;
  ok: boolean;
  /** Intended send time, relative to the run's start. */
  intendedMs: number;
  /** Actual send time, relative to the run's start. */
  sentMs: number;
  /** Client queue time: actual - intended send time. */
  queueMs: number;
  ttftMs: number | null;
  ttfoMs: number | null;
  e2eMs: number;
  /** TTFT and end-to-end latency measured from the intended send time (coordinated omission corrected). */
  ttftFromIntendedMs: number | null;
  e2eFromIntendedMs: number;
  tpotMs: number | null;
  itlMeanMs: number | null;
  itlP95Ms: number | null;
  itlMaxMs: number | null;
  outputTokens: number;
  reasoningTokens: number;
  /** Input tokens the server reported (usage.prompt_tokens), else null. */
  inputTokens: number | null;
  /** Input tokens the workload intended (tokenizer count), else null. */
  expectedInputTokens: number | null;
  maxTokens: number | null;
  finishReason: string | null;
  tokenCountMethod: TokenCountMethod;
  chunks: number;
  /** True when ignore_eos was asked for but the server stopped early with finish_reason "stop". */
  ignoreEosIgnored: boolean;
  error: RequestError | null;
  /** The session of a resumed bench that sent it (2 for the first resume, ...); absent in the
   * first. A run cut short is run again in a later session: the records of a run's last session
   * are the ones its summary counts. */
  session?: number;
  /** Present only with `keepChunks`. */
  chunkLog?: ChunkLogEntry[];
  /** Present only with `keepChunks`: the per-token ITL values. */
  itl?: number[];
}

/** Summary of one run of one load level. */
export interface RunSummary {
  run: number;
  requests: number;
  completed: number;
  failed: number;
  errorsByKind: Partial<Record<RequestErrorKind, number>>;
  /** Seconds from the first send to the last completion. */
  durationS: number;
  requestsPerSecond: number;
  requestsPerMinute: number;
  outputTokensPerSecond: number;
  totalTokensPerSecond: number;
  /** Requests meeting every SLO (errors never do) per second, and as a fraction; null without --slo. */
  goodputPerSecond: number | null;
  goodputFraction: number | null;
  ttft: Distribution;
  ttfo: Distribution;
  tpot: Distribution;
  /** Per token, over all tokens of the run. */
  itl: Distribution;
  e2e: Distribution;
  ttftFromIntended: Distribution;
  e2eFromIntended: Distribution;
  queue: Distribution;
  inputTokens: Distribution;
  outputTokens: Distribution;
  tokenCountMethods: Partial<Record<TokenCountMethod, number>>;
  ignoreEosIgnored: number;
}

/** Figures aggregated over runs (mean ± std with IQR outlier trimming). */
export interface LevelAggregate {
  requestsPerSecond: RunAggregate;
  requestsPerMinute: RunAggregate;
  outputTokensPerSecond: RunAggregate;
  totalTokensPerSecond: RunAggregate;
  goodputPerSecond: RunAggregate | null;
  errorRate: RunAggregate;
  ttftP50: RunAggregate;
  ttftP95: RunAggregate;
  ttftP99: RunAggregate;
  ttfoP50: RunAggregate;
  tpotMean: RunAggregate;
  itlP50: RunAggregate;
  itlP95: RunAggregate;
  itlP99: RunAggregate;
  e2eP50: RunAggregate;
  e2eP99: RunAggregate;
  e2eFromIntendedP99: RunAggregate;
  queueP99: RunAggregate;
}

/** One load level (a concurrency or a request rate) with all its runs. */
export interface LevelResult {
  label: string;
  mode: "concurrency" | "rate";
  concurrency: number | null;
  rate: number | null;
  runs: RunSummary[];
  aggregate: LevelAggregate;
}
