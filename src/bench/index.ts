/**
 * `runBench`: a load generator for any OpenAI-compatible server whose numbers can be trusted. Per-token
 * inter-token latency (chunks spread by usage deltas), TTFT of any output (reasoning included) and TTFO of the
 * answer, latency from intended send times under open-loop load (no coordinated omission), records written as
 * each request finishes, results.json / requests.jsonl / report.md, rewritten after every finished level-run
 * so an interrupted bench leaves a readable partial result and can be resumed (see ./resume.ts).
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError, ServelabError } from "../core/errors.js";
import { redactArgv } from "../core/redact.js";
import { version } from "../core/version.js";
import { JsonLinesWriter, writeJsonFile } from "../report/json.js";
import { findMaxConcurrency } from "./capacity.js";
import type { CapacityResult } from "./capacity.js";
import { describeEnvironment } from "./environment.js";
import type { BenchEnvironment } from "./environment.js";
import { BenchClient } from "./http-client.js";
import type { PreparedRequest } from "./http-client.js";
import { runLoadPhase } from "./load.js";
import { resolveBenchOptions } from "./options.js";
import type { BenchOptions, LoadLevel, ResolvedBenchOptions } from "./options.js";
import { selectServerMetrics } from "./prometheus.js";
import type { MetricSamples } from "./prometheus.js";
import { RunRecorder, createRequestRecord } from "./recorder.js";
import { ResourceSampler } from "./resources.js";
import {
  benchPlanFile,
  findBenchPlan,
  finishedRunsFile,
  readBenchPlan,
  readFinishedWork,
  resumeOptions,
  runKey,
  toSavedOptions,
  writeBenchPlan,
} from "./resume.js";
import type { BenchPlan, FinishedUnit, FinishedWork } from "./resume.js";
import type { ResourceReport } from "./resources.js";
import { aggregateRuns } from "./stats.js";
import type { Distribution } from "./stats.js";
import { renderBenchMarkdown } from "./summary.js";
import { loadGgufTokenizer } from "./tokenizer.js";
import type { Tokenizer } from "./tokenizer.js";
import type { LevelAggregate, LevelResult, RequestRecord, RunSummary } from "./types.js";
import {
  createBuiltinWorkload,
  createRandom,
  createSyntheticWorkload,
  loadWorkloadFile,
} from "./workloads.js";
import type { BuiltinClass, Workload } from "./workloads.js";

export type { BenchOptions, ResolvedBenchOptions, LoadLevel, Slo } from "./options.js";
export { resolveBenchOptions } from "./options.js";
export type * from "./types.js";
export type { CapacityResult } from "./capacity.js";
export type { ResourceReport } from "./resources.js";
export type { Tokenizer } from "./tokenizer.js";
export type { Distribution, RunAggregate } from "./stats.js";
export { renderBenchTable, renderBenchMarkdown } from "./summary.js";
export { readBenchPlan } from "./resume.js";
export type { BenchPlan } from "./resume.js";

/** Live progress of the current run. */
export interface BenchProgress {
  level: string;
  run: number;
  runs: number;
  phase: "warmup" | "measure" | "capacity";
  done: number;
  total: number | undefined;
  errors: number;
  /** Output tokens per second over the run so far. */
  tokensPerSecond: number;
  elapsedS: number;
  /** Estimated seconds left in this run, when known. */
  remainingS: number | undefined;
}

/** Callbacks during a bench. */
export interface BenchHooks {
  /** Every finished request, warmup included (records are also written to requests.jsonl). */
  onRequest?(record: RequestRecord): void;
  /** Called about every `progressIntervalMs` while requests run. */
  onProgress?(progress: BenchProgress): void;
  /** After each load level completes. */
  onLevel?(level: LevelResult): void;
  progressIntervalMs?: number;
}

/** Everything a bench measured, as written to results.json. */
export interface BenchResult {
  servelabVersion: string;
  startedAt: string;
  finishedAt: string;
  /** True when the bench was stopped early (Ctrl-C or the signal); figures cover what finished. */
  partial: boolean;
  options: Omit<ResolvedBenchOptions, "tokenizer" | "apiKey"> & {
    tokenizer: string | null;
    apiKey: string | null;
  };
  environment: BenchEnvironment;
  server: {
    url: string;
    model: string;
    models: unknown;
    metricsBefore: MetricSamples | null;
    metricsAfter: MetricSamples | null;
  };
  workload: { name: string; prompts: number; ignoreEos: boolean };
  levels: LevelResult[];
  capacity: CapacityResult | null;
  resources: ResourceReport;
  /** Caveats worth reading next to the figures (token counting method, ignored ignore_eos, ...). */
  notes: string[];
  /** Where results were written, or null. */
  outDir: string | null;
}

function levelLabel(level: LoadLevel): string {
  return level.mode === "concurrency" ? `c=${level.concurrency}` : `rate=${level.rate}`;
}

async function buildWorkload(
  resolved: ResolvedBenchOptions,
  tokenizer: Tokenizer | undefined,
): Promise<Workload> {
  if (resolved.workload === "synthetic")
    return createSyntheticWorkload({ inputTokens: resolved.inputTokens, seed: resolved.seed, tokenizer });
  const classes = resolved.workload.split(",").map((s) => s.trim());
  if (classes.every((c) => c === "short" || c === "medium" || c === "long"))
    return createBuiltinWorkload(classes as BuiltinClass[]);
  return loadWorkloadFile(resolved.workload);
}

function aggregateLevel(runs: RunSummary[], withGoodput: boolean): LevelAggregate {
  const agg = (f: (r: RunSummary) => number) => aggregateRuns(runs.map(f));
  // A run with no value of a latency (no answer text for TTFO, every request failed) has no percentile: NaN
  // leaves it out of the aggregate instead of counting it as 0 ms.
  const of = (d: Distribution, v: number): number => (d.count === 0 ? NaN : v);
  return {
    requestsPerSecond: agg((r) => r.requestsPerSecond),
    requestsPerMinute: agg((r) => r.requestsPerMinute),
    outputTokensPerSecond: agg((r) => r.outputTokensPerSecond),
    totalTokensPerSecond: agg((r) => r.totalTokensPerSecond),
    goodputPerSecond: withGoodput ? agg((r) => r.goodputPerSecond ?? 0) : null,
    errorRate: agg((r) => (r.requests === 0 ? 0 : r.failed / r.requests)),
    ttftP50: agg((r) => of(r.ttft, r.ttft.p50)),
    ttftP95: agg((r) => of(r.ttft, r.ttft.p95)),
    ttftP99: agg((r) => of(r.ttft, r.ttft.p99)),
    ttfoP50: agg((r) => of(r.ttfo, r.ttfo.p50)),
    tpotMean: agg((r) => of(r.tpot, r.tpot.mean)),
    itlP50: agg((r) => of(r.itl, r.itl.p50)),
    itlP95: agg((r) => of(r.itl, r.itl.p95)),
    itlP99: agg((r) => of(r.itl, r.itl.p99)),
    e2eP50: agg((r) => of(r.e2e, r.e2e.p50)),
    e2eP99: agg((r) => of(r.e2e, r.e2e.p99)),
    e2eFromIntendedP99: agg((r) => of(r.e2eFromIntended, r.e2eFromIntended.p99)),
    queueP99: agg((r) => of(r.queue, r.queue.p99)),
  };
}

/**
 * Run a bench against an OpenAI-compatible server.
 * @throws InvalidArgumentError for bad options (fix-it messages), ServelabError UPSTREAM_FAILED when the server
 * cannot be reached and no --model was given.
 */
export async function runBench(options: BenchOptions, hooks: BenchHooks = {}): Promise<BenchResult> {
  let plan: BenchPlan | undefined;
  let given = options;
  if (options.resume === true) {
    if (typeof options.out !== "string")
      throw new InvalidArgumentError("resume needs the folder of the bench to go on with (out)", {
        param: "resume",
      });
    plan = readBenchPlan(options.out);
    given = resumeOptions(plan, options, options.out);
  }
  const resolved = resolveBenchOptions(given);
  if (plan === undefined && resolved.out !== undefined && findBenchPlan(resolved.out) !== undefined)
    throw new InvalidArgumentError(
      `${resolved.out} already holds a bench run (${benchPlanFile}): go on with it with --resume ${resolved.out}, or choose another --out`,
      { param: "out" },
    );
  const finished: FinishedWork =
    plan === undefined || resolved.out === undefined
      ? { runs: new Map(), capacity: undefined }
      : readFinishedWork(resolved.out);
  const session = (plan?.sessions ?? 0) + 1;
  const signal = options.signal;
  const startedAt = new Date();
  const tokenizer =
    typeof resolved.tokenizer === "string" ? await loadGgufTokenizer(resolved.tokenizer) : resolved.tokenizer;
  const ownsTokenizer = typeof resolved.tokenizer === "string";
  const maxInFlight = Math.max(
    16,
    ...resolved.levels.map((l) => (l.mode === "concurrency" ? l.concurrency : (l.maxConcurrency ?? 1024))),
    resolved.findMaxConcurrency ? resolved.searchMax : 0,
  );
  const clientOptions: ConstructorParameters<typeof BenchClient>[0] = {
    baseUrl: resolved.url,
    connections: maxInFlight,
    timeoutMs: resolved.timeoutMs,
    keepChunks: resolved.keepChunks,
  };
  if (resolved.apiKey !== undefined) clientOptions.apiKey = resolved.apiKey;
  if (tokenizer !== undefined) clientOptions.tokenizer = tokenizer;
  const client = new BenchClient(clientOptions);
  let writer: JsonLinesWriter | undefined;
  let finishedWriter: JsonLinesWriter | undefined;
  const sampler = new ResourceSampler({ sampleGpu: resolved.sampleGpu, serverPid: resolved.serverPid });
  try {
    const workload = await buildWorkload(resolved, tokenizer);
    const models = await client.getJson("/models");
    let model = resolved.model;
    if (model === undefined) {
      const first = (models as { data?: { id?: unknown }[] } | undefined)?.data?.[0]?.id;
      if (typeof first !== "string")
        throw new ServelabError(
          "UPSTREAM_FAILED",
          `cannot list models at ${resolved.url}/models; is the server running? (or pass --model NAME)`,
          { param: "url" },
        );
      model = first;
    }
    const readMetrics = async (): Promise<MetricSamples | null> => {
      if (!resolved.readMetrics) return null;
      const text = await client.getText(
        `${new URL(resolved.url).pathname.replace(/\/v1\/?$/u, "")}/metrics`,
        3000,
      );
      return text === undefined ? null : selectServerMetrics(text);
    };
    const metricsBefore = await readMetrics();
    const environment = describeEnvironment();
    const ignoreEos = resolved.ignoreEos ?? workload.exactOutput;

    // Bodies are serialized once per prompt: the hot loop only picks a string.
    const bodies = new Map<
      number,
      { request: PreparedRequest; maxTokens: number; expected: number | undefined; source: string }
    >();
    const path = resolved.api === "chat" ? "/chat/completions" : "/completions";
    const prepare = (
      index: number,
    ): { request: PreparedRequest; maxTokens: number; expected: number | undefined; source: string } => {
      const slot = index % workload.size;
      let cached = bodies.get(slot);
      if (cached === undefined) {
        const item = workload.item(slot);
        const maxTokens = item.maxTokens ?? resolved.maxTokens;
        const body: Record<string, unknown> = { model };
        if (resolved.api === "chat")
          body.messages = item.messages ?? [{ role: "user", content: item.prompt ?? "" }];
        else body.prompt = item.prompt ?? (item.messages ?? []).map((m) => m.content).join("\n\n");
        body.max_tokens = maxTokens;
        body.stream = true;
        body.stream_options = { include_usage: true, continuous_usage_stats: true };
        if (ignoreEos) body.ignore_eos = true;
        Object.assign(body, resolved.extra);
        cached = {
          request: { path, body: JSON.stringify(body) },
          maxTokens,
          expected: item.expectedInputTokens,
          source: item.source,
        };
        bodies.set(slot, cached);
      }
      return cached;
    };

    let outDir: string | null = null;
    if (resolved.out !== undefined) {
      outDir = resolved.out;
      writer = new JsonLinesWriter(join(outDir, "requests.jsonl"));
      // Written first, so that even a bench killed in its first run can be resumed.
      writeBenchPlan(outDir, {
        kind: "servelab-bench",
        version: 1,
        options: toSavedOptions(given),
        apiKey: Boolean(resolved.apiKey),
        customTokenizer: resolved.tokenizer !== undefined && typeof resolved.tokenizer !== "string",
        startedAt: plan?.startedAt ?? startedAt.toISOString(),
        sessions: session,
      });
      if (plan === undefined) rmSync(join(outDir, finishedRunsFile), { force: true });
      finishedWriter = new JsonLinesWriter(join(outDir, finishedRunsFile));
    }
    sampler.start();
    const random = createRandom(resolved.seed);
    const isAborted = (): boolean => signal?.aborted === true;

    let progress: BenchProgress | undefined;
    let progressRecorder: RunRecorder | undefined;
    const progressTimer = setInterval(() => {
      if (progress === undefined || hooks.onProgress === undefined) return;
      const elapsedS = (performance.now() - progressStart) / 1000;
      progress.elapsedS = elapsedS;
      const rec = progressRecorder;
      progress.tokensPerSecond = rec !== undefined && elapsedS > 0 ? rec.outputTokens / elapsedS : 0;
      if (resolved.durationMs !== undefined)
        progress.remainingS = Math.max(0, resolved.durationMs / 1000 - elapsedS);
      else if (progress.total !== undefined && progress.done > 0)
        progress.remainingS = (elapsedS / progress.done) * (progress.total - progress.done);
      hooks.onProgress(progress);
    }, hooks.progressIntervalMs ?? 500);
    progressTimer.unref();
    let progressStart = performance.now();

    /** One run at one level: warmup, then measured requests. */
    const runOnce = async (
      level: LoadLevel,
      label: string,
      run: number,
      runs: number,
      requests: number | undefined,
      phaseName: "measure" | "capacity",
    ): Promise<RunSummary> => {
      const recorder = new RunRecorder(run, resolved.slo);
      const phase = async (
        warmup: boolean,
        count: number | undefined,
        durationMs: number | undefined,
      ): Promise<void> => {
        const runStart = performance.now();
        progressStart = runStart;
        progressRecorder = warmup ? undefined : recorder;
        progress = {
          level: label,
          run,
          runs,
          phase: warmup ? "warmup" : phaseName,
          done: 0,
          total: count,
          errors: 0,
          tokensPerSecond: 0,
          elapsedS: 0,
          remainingS: undefined,
        };
        const current = progress;
        const prepared: ({ maxTokens: number; expected: number | undefined; source: string } | undefined)[] =
          [];
        await runLoadPhase({
          client,
          // Warmup is closed-loop, whatever the measured pattern.
          level: warmup
            ? {
                mode: "concurrency",
                concurrency: level.mode === "concurrency" ? level.concurrency : (level.maxConcurrency ?? 4),
              }
            : level,
          prepare: (index) => {
            const p = prepare(index);
            prepared[index] = p;
            return p.request;
          },
          requests: count,
          durationMs,
          random,
          signal,
          onDone: (index, timing) => {
            const p = prepared[index];
            const record = createRequestRecord(timing, {
              index,
              level: label,
              run,
              warmup,
              runStart,
              maxTokens: p?.maxTokens,
              ignoreEos,
              expectedInputTokens: p?.expected,
              source: p?.source,
              keepChunks: resolved.keepChunks,
            });
            if (session > 1) record.session = session;
            prepared[index] = undefined;
            writer?.write(
              record.chunkLog === undefined ? record : { ...record, chunkLog: undefined, itl: undefined },
            );
            hooks.onRequest?.(record);
            current.done++;
            if (!record.ok) current.errors++;
            if (!warmup && record.error?.kind !== "aborted") recorder.add(record, timing);
          },
        });
      };
      if (resolved.warmup > 0 && !isAborted()) await phase(true, resolved.warmup, undefined);
      if (!isAborted()) await phase(false, requests, resolved.durationMs);
      return recorder.summarize();
    };

    // Runs per level (by its place in the plan), in run order: kept from earlier sessions or new.
    const runsByLevel = new Map<number, RunSummary[]>();
    const levelResult = (level: LoadLevel, label: string, runs: RunSummary[]): LevelResult => ({
      label,
      mode: level.mode,
      concurrency: level.mode === "concurrency" ? level.concurrency : null,
      rate: level.mode === "rate" ? level.rate : null,
      runs,
      aggregate: aggregateLevel(runs, resolved.slo !== undefined),
    });
    const collectLevels = (): LevelResult[] =>
      resolved.levels.flatMap((level, levelIndex) => {
        const runs = runsByLevel.get(levelIndex) ?? [];
        return runs.length === 0 ? [] : [levelResult(level, levelLabel(level), runs)];
      });
    let capacity: CapacityResult | null = finished.capacity ?? null;
    const buildResult = (
      partial: boolean,
      metricsAfter: MetricSamples | null,
      resources: ResourceReport,
    ): BenchResult => {
      const levels = collectLevels();
      return {
        servelabVersion: version,
        startedAt: plan?.startedAt ?? startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        partial,
        options: {
          ...resolved,
          apiKey: resolved.apiKey === undefined ? null : "(set)",
          argv: redactArgv(resolved.argv),
          tokenizer:
            typeof resolved.tokenizer === "string"
              ? resolved.tokenizer
              : resolved.tokenizer === undefined
                ? null
                : "(custom)",
        },
        environment,
        server: { url: resolved.url, model, models: models ?? null, metricsBefore, metricsAfter },
        workload: { name: workload.name, prompts: workload.size, ignoreEos },
        levels,
        capacity,
        resources,
        notes: [
          ...collectNotes(levels, ignoreEos, resolved),
          ...(session > 1
            ? [
                `resumed (session ${session}): runs that earlier sessions finished were kept, runs cut short were measured again; server metrics and resources are this session's; requests.jsonl also holds the records of the attempts cut short (a record's session tells them apart)`,
              ]
            : []),
        ],
        outDir,
      };
    };
    const save = (result: BenchResult): void => {
      if (outDir === null) return;
      writeJsonFile(join(outDir, "results.json"), result);
      writeFileSync(join(outDir, "report.md"), renderBenchMarkdown(result));
    };
    const recordFinished = (unit: FinishedUnit): void => {
      if (outDir === null) return;
      finishedWriter?.write(unit);
      // A readable partial result after every finished run, whatever ends the process later.
      save(buildResult(true, null, sampler.report()));
    };

    for (const [levelIndex, level] of resolved.levels.entries()) {
      const label = levelLabel(level);
      const runs: RunSummary[] = [];
      runsByLevel.set(levelIndex, runs);
      for (let run = 1; run <= resolved.runs; run++) {
        const kept = finished.runs.get(runKey(levelIndex, label, run));
        if (kept !== undefined) {
          runs.push(kept);
          continue;
        }
        if (isAborted()) continue;
        const summary = await runOnce(level, label, run, resolved.runs, resolved.requests, "measure");
        if (isAborted()) {
          // Cut short: shown in this partial result, not kept for a resume.
          if (summary.requests > 0) runs.push(summary);
          continue;
        }
        runs.push(summary);
        recordFinished({ type: "run", levelIndex, level: label, run, session, summary });
      }
      if (runs.length > 0) hooks.onLevel?.(levelResult(level, label, runs));
    }

    if (capacity === null && resolved.findMaxConcurrency && resolved.slo !== undefined && !isAborted()) {
      capacity = await findMaxConcurrency({
        min: resolved.searchMin,
        max: resolved.searchMax,
        trials: resolved.searchTrials,
        slo: resolved.slo,
        percentile: resolved.sloPercentile,
        isAborted,
        runTrial: (c, trial) =>
          runOnce(
            { mode: "concurrency", concurrency: c },
            `search c=${c}`,
            trial,
            resolved.searchTrials,
            resolved.durationMs === undefined ? Math.max(resolved.requests ?? 0, 2 * c) : undefined,
            "capacity",
          ),
      });
      if (!isAborted()) recordFinished({ type: "capacity", session, capacity });
    }
    clearInterval(progressTimer);
    const metricsAfter = await readMetrics();
    const result = buildResult(isAborted(), metricsAfter, sampler.stop());
    save(result);
    return result;
  } finally {
    sampler.stop();
    writer?.close();
    finishedWriter?.close();
    await client.close();
    if (ownsTokenizer) await tokenizer?.dispose?.();
  }
}

/** The command line with secrets hidden (results.json and report.md are shared); see core/redact.ts. */
export { redactArgv } from "../core/redact.js";

function collectNotes(levels: LevelResult[], ignoreEos: boolean, resolved: ResolvedBenchOptions): string[] {
  const notes: string[] = [];
  let chunks = 0;
  let tokenizer = 0;
  let ignored = 0;
  let completed = 0;
  for (const level of levels)
    for (const run of level.runs) {
      chunks += run.tokenCountMethods.chunks ?? 0;
      tokenizer += run.tokenCountMethods.tokenizer ?? 0;
      ignored += run.ignoreEosIgnored;
      completed += run.completed;
    }
  if (chunks > 0)
    notes.push(
      `${chunks} of ${completed} requests had no per-chunk usage and no tokenizer: inter-token latency is per chunk, not per token (give --tokenizer FILE.gguf, or use a server that honours stream_options.continuous_usage_stats)`,
    );
  if (tokenizer > 0)
    notes.push(
      `${tokenizer} of ${completed} requests were counted with the tokenizer (chunks carried no usage)`,
    );
  if (ignoreEos && ignored > 0)
    notes.push(
      `the server ignored ignore_eos on ${ignored} of ${completed} requests (finish_reason "stop" before max_tokens): output lengths are not exact`,
    );
  if (resolved.workload === "synthetic" && resolved.tokenizer === undefined)
    notes.push(
      "synthetic prompts were built from words without a tokenizer: input lengths are approximate (see inputTokens, as the server reported)",
    );
  return notes;
}
