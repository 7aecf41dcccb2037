/**
 * The recorder turns raw request timings into records (written out as each request finishes, never kept in
 * an ever-growing array) and keeps only compact per-run series: one number per request per metric and a
 * fixed-size histogram for the per-token latencies.
 */
import type { Slo } from "./options.js";
import { LatencyHistogram, NumberSeries, summarizeValues } from "./stats.js";
import type {
  RequestErrorKind,
  RequestRecord,
  RequestTiming,
  RunSummary,
  TokenCountMethod,
} from "./types.js";

export interface RecordContext {
  index: number;
  level: string;
  run: number;
  warmup: boolean;
  /** performance.now() at the run's start; record times are relative to it. */
  runStart: number;
  maxTokens: number | undefined;
  ignoreEos: boolean;
  expectedInputTokens: number | undefined;
  /** The workload item's class or source (short, medium, long, synthetic, file, sharegpt). */
  source?: string | undefined;
  keepChunks: boolean;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/** Build the record of one request from its timing. */
export function createRequestRecord(timing: RequestTiming, ctx: RecordContext): RequestRecord {
  const ok = timing.error === undefined;
  const outputTokens = timing.reportedCompletionTokens ?? timing.countedTokens;
  const ttft = timing.firstTokenAt === undefined ? null : timing.firstTokenAt - timing.startAt;
  const ttfo = timing.firstContentAt === undefined ? null : timing.firstContentAt - timing.startAt;
  const e2e = timing.endAt - timing.startAt;
  const decode =
    timing.lastTokenAt !== undefined && timing.firstTokenAt !== undefined
      ? timing.lastTokenAt - timing.firstTokenAt
      : 0;
  const tpot = outputTokens > 1 && ttft !== null ? decode / (outputTokens - 1) : null;
  let itlMean: number | null = null;
  let itlP95: number | null = null;
  let itlMax: number | null = null;
  const n = timing.itl.length;
  if (n > 0) {
    const d = summarizeValues(timing.itl);
    itlMean = d.mean;
    itlP95 = d.p95;
    itlMax = d.max;
  }
  const record: RequestRecord = {
    index: ctx.index,
    level: ctx.level,
    run: ctx.run,
    warmup: ctx.warmup,
    source: ctx.source ?? null,
    ok,
    intendedMs: round(timing.intendedAt - ctx.runStart),
    sentMs: round(timing.startAt - ctx.runStart),
    queueMs: round(Math.max(0, timing.startAt - timing.intendedAt)),
    ttftMs: ttft === null ? null : round(ttft),
    ttfoMs: ttfo === null ? null : round(ttfo),
    e2eMs: round(e2e),
    ttftFromIntendedMs:
      timing.firstTokenAt === undefined ? null : round(timing.firstTokenAt - timing.intendedAt),
    e2eFromIntendedMs: round(timing.endAt - timing.intendedAt),
    tpotMs: tpot === null ? null : round(tpot),
    itlMeanMs: itlMean === null ? null : round(itlMean),
    itlP95Ms: itlP95 === null ? null : round(itlP95),
    itlMaxMs: itlMax === null ? null : round(itlMax),
    outputTokens,
    reasoningTokens: timing.reasoningTokens,
    inputTokens: timing.reportedPromptTokens ?? null,
    expectedInputTokens: ctx.expectedInputTokens ?? null,
    maxTokens: ctx.maxTokens ?? null,
    finishReason: timing.finishReason ?? null,
    tokenCountMethod: timing.method,
    chunks: timing.chunks,
    ignoreEosIgnored:
      ok &&
      ctx.ignoreEos &&
      ctx.maxTokens !== undefined &&
      timing.finishReason === "stop" &&
      outputTokens < ctx.maxTokens,
    error: timing.error ?? null,
  };
  if (ctx.keepChunks) {
    if (timing.chunkLog !== undefined) record.chunkLog = timing.chunkLog;
    record.itl = timing.itl;
  }
  return record;
}

/** Whether a finished request met every objective (errors never do). TTFT and E2E count from the intended send time. */
export function meetsSlo(record: RequestRecord, slo: Slo): boolean {
  if (!record.ok) return false;
  if (
    slo.ttftMs !== undefined &&
    (record.ttftFromIntendedMs === null || record.ttftFromIntendedMs > slo.ttftMs)
  )
    return false;
  if (slo.ttfoMs !== undefined && (record.ttfoMs === null || record.ttfoMs + record.queueMs > slo.ttfoMs))
    return false;
  if (slo.tpotMs !== undefined && record.tpotMs !== null && record.tpotMs > slo.tpotMs) return false;
  if (slo.itlMs !== undefined && record.itlP95Ms !== null && record.itlP95Ms > slo.itlMs) return false;
  if (slo.e2eMs !== undefined && record.e2eFromIntendedMs > slo.e2eMs) return false;
  return true;
}

/** Collects one run's measured requests and summarizes them. */
export class RunRecorder {
  private readonly ttft = new NumberSeries();
  private readonly ttfo = new NumberSeries();
  private readonly tpot = new NumberSeries();
  private readonly e2e = new NumberSeries();
  private readonly ttftFromIntended = new NumberSeries();
  private readonly e2eFromIntended = new NumberSeries();
  private readonly queue = new NumberSeries();
  private readonly inputTokens = new NumberSeries();
  private readonly outputTokensSeries = new NumberSeries();
  private readonly itl = new LatencyHistogram();
  private readonly errors: Partial<Record<RequestErrorKind, number>> = {};
  private readonly methods: Partial<Record<TokenCountMethod, number>> = {};
  requests = 0;
  completed = 0;
  failed = 0;
  outputTokens = 0;
  private promptTokens = 0;
  private good = 0;
  private ignoredEos = 0;
  private firstSend = Infinity;
  private lastEnd = -Infinity;

  constructor(
    readonly run: number,
    private readonly slo: Slo | undefined,
  ) {}

  /** Add a measured (non-warmup, non-aborted) request. */
  add(record: RequestRecord, timing: RequestTiming): void {
    this.requests++;
    if (timing.startAt < this.firstSend) this.firstSend = timing.startAt;
    if (timing.endAt > this.lastEnd) this.lastEnd = timing.endAt;
    this.queue.push(record.queueMs);
    this.outputTokens += record.outputTokens;
    if (record.inputTokens !== null) this.promptTokens += record.inputTokens;
    if (this.slo !== undefined && meetsSlo(record, this.slo)) this.good++;
    if (!record.ok) {
      this.failed++;
      const kind = (record.error as { kind: RequestErrorKind }).kind;
      this.errors[kind] = (this.errors[kind] ?? 0) + 1;
      return;
    }
    this.completed++;
    this.methods[record.tokenCountMethod] = (this.methods[record.tokenCountMethod] ?? 0) + 1;
    if (record.ignoreEosIgnored) this.ignoredEos++;
    if (record.ttftMs !== null) this.ttft.push(record.ttftMs);
    if (record.ttfoMs !== null) this.ttfo.push(record.ttfoMs);
    if (record.tpotMs !== null) this.tpot.push(record.tpotMs);
    if (record.ttftFromIntendedMs !== null) this.ttftFromIntended.push(record.ttftFromIntendedMs);
    this.e2e.push(record.e2eMs);
    this.e2eFromIntended.push(record.e2eFromIntendedMs);
    if (record.inputTokens !== null) this.inputTokens.push(record.inputTokens);
    this.outputTokensSeries.push(record.outputTokens);
    for (const v of timing.itl) this.itl.record(v);
  }

  /** Seconds from the first send to the last completion so far. */
  elapsedS(): number {
    return this.requests === 0 ? 0 : (this.lastEnd - this.firstSend) / 1000;
  }

  summarize(): RunSummary {
    const durationS = this.elapsedS();
    const per = (v: number): number => (durationS > 0 ? v / durationS : 0);
    return {
      run: this.run,
      requests: this.requests,
      completed: this.completed,
      failed: this.failed,
      errorsByKind: { ...this.errors },
      durationS,
      requestsPerSecond: per(this.completed),
      requestsPerMinute: per(this.completed) * 60,
      outputTokensPerSecond: per(this.outputTokens),
      totalTokensPerSecond: per(this.outputTokens + this.promptTokens),
      goodputPerSecond: this.slo === undefined ? null : per(this.good),
      goodputFraction: this.slo === undefined ? null : this.requests === 0 ? 0 : this.good / this.requests,
      ttft: summarizeValues(this.ttft.values()),
      ttfo: summarizeValues(this.ttfo.values()),
      tpot: summarizeValues(this.tpot.values()),
      itl: this.itl.summarize(),
      e2e: summarizeValues(this.e2e.values()),
      ttftFromIntended: summarizeValues(this.ttftFromIntended.values()),
      e2eFromIntended: summarizeValues(this.e2eFromIntended.values()),
      queue: summarizeValues(this.queue.values()),
      inputTokens: summarizeValues(this.inputTokens.values()),
      outputTokens: summarizeValues(this.outputTokensSeries.values()),
      tokenCountMethods: { ...this.methods },
      ignoreEosIgnored: this.ignoredEos,
    };
  }
}
