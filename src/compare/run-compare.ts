/**
 * `servelab compare`: each configuration in turn, in its own server process — load time, memory at idle
 * and at peak, TTFT per prompt class, tokens/s, requests per minute at concurrency 4, the largest
 * concurrency under the latency objective, and answer quality — then agreement with the reference.
 *
 * Nothing measured is lost: results.json is rewritten after every phase (a configuration still running
 * reads as failed, "interrupted during <phase>"), measurements.jsonl gets one line per phase and
 * requests.jsonl one per request, as they finish. A failing configuration is recorded and the next runs.
 */
import { mkdirSync, readFileSync, writeFileSync, renameSync, existsSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { AbortedError, InvalidArgumentError, errorMessage } from "../core/errors.js";
import { redactSecretValues, redactedValue } from "../core/redact.js";
import { version } from "../core/version.js";
import { runBench, type BenchProgress, type RequestRecord, type RunSummary } from "../bench/index.js";
import { findMaxConcurrency, checkRunAgainstSlo } from "../bench/capacity.js";
import { parseSlo } from "../bench/options.js";
import { createClient } from "../client/index.js";
import { readGguf, summarizeGguf } from "../models/gguf/read.js";
import { readSyntheticKind } from "../models/synthesize.js";
import { resolveDefaultModel } from "../models/default-model.js";
import { JsonLinesWriter } from "../report/json.js";
import {
  compareAgreement,
  createEndpointEmbeddingProvider,
  createLlamaEmbeddingProvider,
  generateMathProblems,
  loadJsonlDataset,
  runQuality,
  summarizeSample,
  type EmbeddingProvider,
  type QualityItemResult,
  type QualityGeneration,
} from "./quality/index.js";
import { openAgreementTokenizer } from "./agreement-tokenizer.js";
import {
  listPlanSecrets,
  parseSynthModel,
  redactComparePlan,
  resolveApiKey,
  type CompareConfiguration,
  type ComparePlan,
} from "./config.js";
import {
  MemorySampler,
  processExists,
  readGpuMemoryUsed,
  readProcessMemory,
  startServerProcess,
  type ServerProcess,
} from "./server-process.js";
import {
  comparisonResultVersion,
  hasRandomWeights,
  type AgreementSummary,
  type ComparisonEnvironment,
  type ComparisonResult,
  type ConcurrencyPoint,
  type ConfigurationResult,
  type PromptClass,
  type SampledSummary,
} from "./types.js";
import type { EngineKind } from "../engines/engine.js";

export type ComparePhase =
  "model" | "loading" | "warm-up" | "ttft" | "throughput" | "capacity" | "quality" | "stopping";

export interface CompareEvent {
  configuration: string;
  /** 1-based position and count of configurations. */
  index: number;
  total: number;
  phase: ComparePhase;
  /** A short live detail: "12 s", "short 2/3", "c=4 3/4 14.2 tok/s". */
  detail?: string;
}

export interface CompareHooks {
  /** Phase changes and live progress within a phase. */
  onProgress?(event: CompareEvent): void;
  /** A configuration finished (ok or failed). */
  onConfiguration?(result: ConfigurationResult): void;
  /** Every configuration finished; the answers are being compared with the reference's. */
  onAgreement?(reference: string): void;
}

export interface RunCompareOptions {
  plan: ComparePlan;
  /** Results folder (created). */
  outDir: string;
  /** The command line, stored for reproduction. */
  command: string;
  /** Keep configurations that finished ("ok") in outDir/results.json and run only the others. */
  resume?: boolean;
  signal?: AbortSignal;
}

const promptClasses: readonly PromptClass[] = ["short", "medium", "long"];
/** Per-token ITL samples kept per configuration for the charts (the summary uses all of them). */
const maxChartSamples = 4000;

/** The machine, as the report shows it. */
export function describeComparisonEnvironment(): ComparisonEnvironment {
  const cpus = os.cpus();
  const gpus: ComparisonEnvironment["gpus"] = [];
  try {
    const r = spawnSync(
      "nvidia-smi",
      ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
      {
        encoding: "utf8",
        timeout: 5000,
      },
    );
    if (r.status === 0 && typeof r.stdout === "string")
      for (const line of r.stdout.trim().split("\n")) {
        const [name, memory, driver] = line.split(",").map((s) => s.trim());
        if (name === undefined || name === "") continue;
        const gpu: ComparisonEnvironment["gpus"][number] = { name };
        if (memory !== undefined && Number.isFinite(Number(memory)))
          gpu.memoryBytes = Number(memory) * 1024 * 1024;
        if (driver !== undefined) gpu.driver = driver;
        gpus.push(gpu);
      }
  } catch {
    // no nvidia-smi: no GPU listed
  }
  return {
    servelab: version,
    node: process.version,
    os: `${os.type().toLowerCase()} ${os.release()}`,
    cpu: cpus[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    gpus,
  };
}

function engineKindOf(engine: string): EngineKind {
  if (engine === "vllm") return "vllm";
  if (engine.startsWith("url:")) return "upstream";
  return "llama-cpp";
}

function sampled(values: readonly number[]): SampledSummary | undefined {
  if (values.length === 0) return undefined;
  const summary = summarizeSample(values);
  let samples = [...values];
  if (samples.length > maxChartSamples) {
    const step = samples.length / maxChartSamples;
    samples = Array.from({ length: maxChartSamples }, (_, i) => values[Math.floor(i * step)] as number);
  }
  return { summary, samples };
}

function meanOf(runs: readonly RunSummary[], pick: (run: RunSummary) => number): number | undefined {
  if (runs.length === 0) return undefined;
  return runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
}

/** Writes JSON atomically (temporary file, then rename), so a reader never sees half a file. */
function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Reads the plan of an earlier run (plan.json in its folder), for `--resume DIR`. */
export function readComparePlan(outDir: string): ComparePlan {
  const path = join(outDir, "plan.json");
  try {
    return JSON.parse(readFileSync(path, "utf8")) as ComparePlan;
  } catch (error) {
    throw new InvalidArgumentError(`cannot resume from ${outDir}: ${errorMessage(error)}`);
  }
}

/** Reads a previous results.json for --resume. */
export function readComparisonResult(path: string): ComparisonResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${path}: ${errorMessage(error)}`);
  }
  const result = parsed as Partial<ComparisonResult>;
  if (
    typeof result !== "object" ||
    result === null ||
    !Array.isArray(result.configurations) ||
    result.version !== comparisonResultVersion
  )
    throw new InvalidArgumentError(
      `${path} is not a servelab compare result (version ${comparisonResultVersion})`,
    );
  return result as ComparisonResult;
}

function qualityPath(outDir: string, name: string): string {
  return join(outDir, `quality-${name}.jsonl`);
}

function serveLogPath(outDir: string, name: string): string {
  return join(outDir, `serve-${name}.log`);
}

/**
 * A configuration that (re)starts begins with files of its own: the answers of an earlier, unfinished
 * attempt are removed (a resume would read them into agreement), and that attempt's server log is kept
 * once, as serve-NAME.previous.log.
 */
function startConfigurationFiles(outDir: string, name: string): void {
  rmSync(qualityPath(outDir, name), { force: true });
  const log = serveLogPath(outDir, name);
  if (existsSync(log)) renameSync(log, join(outDir, `serve-${name}.previous.log`));
}

function readQualityResults(path: string): QualityItemResult[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as QualityItemResult);
}

/** Runs the whole comparison; resolves with the result also written to outDir/results.json. */
export async function runCompare(
  options: RunCompareOptions,
  hooks: CompareHooks = {},
): Promise<ComparisonResult> {
  const { plan, outDir, signal } = options;
  mkdirSync(outDir, { recursive: true });
  const resultsPath = join(outDir, "results.json");
  const previous =
    options.resume === true && existsSync(resultsPath) ? readComparisonResult(resultsPath) : undefined;
  const result: ComparisonResult = {
    version: comparisonResultVersion,
    createdAt: new Date().toISOString(),
    environment: describeComparisonEnvironment(),
    command: redactSecretValues(options.command, listPlanSecrets(plan)),
    configurations: [],
    reference: plan.reference,
  };
  const measurements = new JsonLinesWriter(join(outDir, "measurements.jsonl"));
  const requests = new JsonLinesWriter(join(outDir, "requests.jsonl"));
  const save = (): void => writeJsonAtomic(resultsPath, result);
  // The plan, so that `--resume DIR` alone knows what to run (without its literal API keys).
  writeJsonAtomic(join(outDir, "plan.json"), redactComparePlan(plan));
  const qualityByName = new Map<string, QualityItemResult[]>();
  const total = plan.configurations.length;

  try {
    for (const [i, configuration] of plan.configurations.entries()) {
      const kept = previous?.configurations.find((c) => c.name === configuration.name && c.status === "ok");
      if (kept !== undefined) {
        result.configurations.push(kept);
        qualityByName.set(kept.name, readQualityResults(qualityPath(outDir, kept.name)));
        hooks.onConfiguration?.(kept);
        continue;
      }
      if (signal?.aborted) break;
      startConfigurationFiles(outDir, configuration.name);
      const entry: ConfigurationResult = {
        name: configuration.name,
        engine: engineKindOf(configuration.engine),
        model: configuration.model,
        precision: configuration.precision ?? "unknown",
        synthetic: configuration.model.startsWith("synth:"),
        ...(configuration.model.startsWith("synth:") ? { syntheticWeights: "random" as const } : {}),
        status: "failed",
        error: "interrupted before it started",
      };
      result.configurations.push(entry);
      save();
      const progress = (phase: ComparePhase, detail?: string): void => {
        entry.error = `interrupted during ${phase}`;
        const event: CompareEvent = { configuration: configuration.name, index: i + 1, total, phase };
        if (detail !== undefined) event.detail = detail;
        hooks.onProgress?.(event);
      };
      const record = (phase: ComparePhase, figures: Record<string, unknown>): void => {
        measurements.write({
          time: new Date().toISOString(),
          configuration: configuration.name,
          phase,
          ...figures,
        });
        save();
      };
      try {
        const quality = await measureConfiguration({
          configuration,
          entry,
          plan,
          outDir,
          signal,
          progress,
          record,
          onRequest: (phase, r) => requests.write({ configuration: configuration.name, phase, ...r }),
        });
        qualityByName.set(configuration.name, quality);
        entry.status = "ok";
        delete entry.error;
      } catch (error) {
        entry.status = "failed";
        entry.error =
          error instanceof AbortedError || signal?.aborted === true
            ? `interrupted during ${entry.error?.replace(/^interrupted during /u, "") ?? "the run"}`
            : (errorMessage(error).split("\n")[0] ?? "failed");
      }
      save();
      hooks.onConfiguration?.(entry);
    }
    await addAgreement(result, plan, qualityByName, hooks);
    save();
    return result;
  } finally {
    measurements.close();
    requests.close();
  }
}

interface MeasureContext {
  configuration: CompareConfiguration;
  entry: ConfigurationResult;
  plan: ComparePlan;
  outDir: string;
  signal: AbortSignal | undefined;
  progress: (phase: ComparePhase, detail?: string) => void;
  record: (phase: ComparePhase, figures: Record<string, unknown>) => void;
  onRequest: (phase: ComparePhase, record: RequestRecord) => void;
}

/** Arguments of `servelab serve` for a configuration (model resolved). */
export function serveArguments(
  configuration: CompareConfiguration,
  model: string,
  parallel: number,
): string[] {
  const args: string[] = [];
  if (configuration.engine === "vllm") args.push("--engine", "vllm");
  args.push("--model", model);
  const options: Record<string, string | number | boolean> = { parallel, ...configuration.options };
  for (const [key, value] of Object.entries(options)) {
    // The key goes to the server in its environment (SERVELAB_API_KEY), never on a command line.
    if (value === false || key === "api-key") continue;
    args.push(`--${key}`);
    if (value !== true) args.push(String(value));
  }
  return args;
}

/** Resolves the model of a configuration: synthesizes `synth:` models once, reads a GGUF's precision. */
async function resolveModel(ctx: MeasureContext): Promise<string> {
  const { configuration, entry } = ctx;
  const synth = parseSynthModel(configuration);
  ctx.progress("model", synth === undefined ? configuration.model : `${synth.preset} ${synth.type}`);
  if (synth !== undefined) {
    const path = await resolveDefaultModel({
      preset: synth.preset,
      type: synth.type,
      onProgress: (message) => ctx.progress("model", message.trim()),
    });
    entry.synthetic = true;
    entry.syntheticWeights = "random";
    entry.precision = synth.type;
    entry.model = `${synth.preset} (synthetic)`;
    return path;
  }
  if (configuration.engine === "vllm") {
    const options = configuration.options ?? {};
    entry.precision =
      configuration.precision ?? String(options["quantization"] ?? options["dtype"] ?? "auto");
  }
  if (configuration.engine === "embedded" && !configuration.model.startsWith("hf:")) {
    if (!existsSync(configuration.model))
      throw new InvalidArgumentError(`model file not found: ${configuration.model}`);
    const file = await readGguf(configuration.model, { maxArrayItems: 64 });
    entry.precision = configuration.precision ?? summarizeGguf(file).precision;
    // Random weights make quality numbers meaningless; a scripted model's are known in advance.
    const kind = readSyntheticKind(file.metadata);
    entry.synthetic = kind !== undefined;
    if (kind !== undefined) entry.syntheticWeights = kind;
  }
  return configuration.model;
}

/**
 * The API key compare sends to a configuration's server. A server compare starts gets the configured key
 * (in its environment), a fresh random one when the plan came from plan.json (which keeps no literal key:
 * only compare and its own server need to share it), or none, in which case it may still inherit
 * SERVELAB_API_KEY, which is then the one to send.
 * @throws InvalidArgumentError for a `url:` server whose literal key plan.json did not keep.
 */
export function resolveClientApiKey(
  configuration: CompareConfiguration,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const key = resolveApiKey(configuration, env);
  if (configuration.engine.startsWith("url:")) {
    if (key === redactedValue)
      throw new InvalidArgumentError(
        `the API key of "${configuration.name}" was given literally and plan.json does not keep it: resume with --config <file> as well, or give the key as api-key-env or \${NAME}`,
      );
    return key;
  }
  if (key === redactedValue) return randomBytes(24).toString("base64url");
  if (key !== undefined) return key;
  const file = configuration.options?.["api-key-file"];
  if (typeof file === "string") {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new InvalidArgumentError(`api-key-file: cannot read ${file}: ${errorMessage(error)}`);
    }
  }
  return env.SERVELAB_API_KEY === undefined || env.SERVELAB_API_KEY === "" ? undefined : env.SERVELAB_API_KEY;
}

/** resolveClientApiKey, or undefined where it throws (a /tokenize call then goes without a key). */
function tryResolveClientApiKey(configuration: CompareConfiguration): string | undefined {
  try {
    return resolveClientApiKey(configuration);
  } catch {
    return undefined;
  }
}

async function measureConfiguration(ctx: MeasureContext): Promise<QualityItemResult[]> {
  const { configuration, entry, plan, outDir, signal } = ctx;
  const profile = plan.profile;
  const apiKey = resolveClientApiKey(configuration);
  const model = await resolveModel(ctx);
  let server: ServerProcess | undefined;
  let sampler: MemorySampler | undefined;
  let url: string;
  // GPU memory is counted above what was in use before the server started (other processes may hold some).
  const gpuBaseline = await readGpuMemoryUsed();
  // Whether GPU memory is sampled: only for an engine that said it runs on a GPU, so that `--gpu cpu` on
  // a GPU host reports resident memory, not a GPU that it never touched.
  let sampleGpu = false;
  try {
    if (configuration.engine.startsWith("url:")) {
      url = configuration.engine.slice("url:".length).replace(/\/$/u, "");
    } else {
      ctx.progress("loading");
      server = await startServerProcess({
        serveArgs: serveArguments(configuration, model, profile.parallel),
        logPath: serveLogPath(outDir, configuration.name),
        ...(apiKey === undefined ? {} : { env: { SERVELAB_API_KEY: apiKey } }),
        ...(signal === undefined ? {} : { signal }),
        onWait: (ms) => ctx.progress("loading", `${(ms / 1000).toFixed(0)} s`),
      });
      url = server.url;
      sampleGpu = gpuBaseline !== undefined && server.device !== undefined && server.device !== "cpu";
      sampler = new MemorySampler({ pid: server.pid, gpuBaseline: sampleGpu ? gpuBaseline : undefined });
      sampler.start();
    }
    // Generous: the full profile's long answers take hours on a CPU for F32 models.
    const client = createClient({
      baseURL: url,
      maxRetries: 0,
      timeoutMs: 6 * 3_600_000,
      ...(apiKey === undefined ? {} : { apiKey }),
    });

    // Warm-up: the first token of a first request completes the load time.
    ctx.progress("warm-up");
    const warmStart = performance.now();
    let firstTokenAt: number | undefined;
    for await (const event of client.stream([{ role: "user", content: "Hello" }], {
      maxTokens: 4,
      temperature: 0,
      ...(signal === undefined ? {} : { signal }),
    })) {
      if ((event.type === "reasoning" || event.type === "content") && firstTokenAt === undefined)
        firstTokenAt = performance.now();
    }
    firstTokenAt ??= performance.now();
    entry.load = {};
    if (server !== undefined) {
      entry.load.loadTimeMs = server.readyMs;
      entry.load.firstTokenMs = firstTokenAt - server.spawnedAt;
    } else {
      entry.load.firstTokenMs = firstTokenAt - warmStart;
    }
    if (server !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const now = await sampler?.sampleFresh();
      const rss = now?.rss ?? readProcessMemory(server.pid)?.rss;
      const vram = sampleGpu ? now?.gpu : undefined;
      entry.memory = { kind: vram === undefined ? "rss" : "vram" };
      if (server.device !== undefined) entry.memory.device = server.device;
      if (rss !== undefined) entry.memory.rss = { idleBytes: rss };
      if (vram !== undefined) entry.memory.vram = { idleBytes: vram };
      const idle = vram ?? rss;
      if (idle !== undefined) entry.memory.idleBytes = idle;
    }
    ctx.record("warm-up", { load: entry.load, memory: entry.memory });

    const benchBase = {
      url,
      out: false as const,
      sampleGpu: false,
      readMetrics: false,
      runs: profile.runs,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(signal === undefined ? {} : { signal }),
    };
    const benchProgress = (phase: ComparePhase, label: string) => (p: BenchProgress) =>
      ctx.progress(
        phase,
        `${label} ${p.phase === "warmup" ? "warm-up " : ""}${p.done}/${p.total ?? "?"}${p.runs > 1 ? ` run ${p.run}/${p.runs}` : ""} ${p.tokensPerSecond.toFixed(1)} tok/s`,
      );

    // TTFT per prompt class, one request at a time.
    const ttft: Partial<Record<PromptClass, SampledSummary>> = {};
    for (const promptClass of promptClasses) {
      ctx.progress("ttft", promptClass);
      const values: number[] = [];
      await runBench(
        {
          ...benchBase,
          workload: promptClass,
          concurrency: [1],
          requests: profile.ttftRequests,
          maxTokens: profile.ttftMaxTokens,
        },
        {
          onRequest: (r) => {
            ctx.onRequest("ttft", r);
            if (!r.warmup && r.ok && r.ttftMs !== null) values.push(r.ttftMs);
          },
          onProgress: benchProgress("ttft", promptClass),
        },
      );
      if (signal?.aborted) throw new AbortedError();
      const summary = sampled(values);
      if (summary !== undefined) ttft[promptClass] = summary;
    }
    entry.latency = { ttftMs: ttft };
    ctx.record("ttft", { ttftMs: Object.fromEntries(Object.entries(ttft).map(([k, v]) => [k, v.summary])) });

    // Tokens/s and requests per minute over the concurrency levels, exact output lengths.
    ctx.progress("throughput");
    const itlValues: number[] = [];
    const slo = parseSlo(plan.slo);
    const throughputOptions = {
      ...benchBase,
      workload: "synthetic",
      inputTokens: profile.throughputInputTokens,
      maxTokens: profile.throughputMaxTokens,
      ignoreEos: true,
      keepChunks: true,
    };
    const bench = await runBench(
      { ...throughputOptions, concurrency: profile.concurrency, requests: profile.throughputRequests },
      {
        onRequest: (r) => {
          const { itl, chunkLog: _chunks, ...rest } = r;
          ctx.onRequest("throughput", rest);
          if (!r.warmup && r.ok && r.level === "c=1" && itl !== undefined) itlValues.push(...itl);
        },
        onProgress: benchProgress("throughput", "c="),
      },
    );
    if (signal?.aborted) throw new AbortedError();
    const points: ConcurrencyPoint[] = [];
    const passes = new Map<number, boolean>();
    for (const level of bench.levels) {
      if (level.concurrency === null || level.runs.length === 0) continue;
      const point: ConcurrencyPoint = {
        concurrency: level.concurrency,
        outputTokensPerSecond: level.aggregate.outputTokensPerSecond.mean,
        p95ItlMs: level.aggregate.itlP95.mean,
        requestsPerMinute: meanOf(level.runs, (run) => run.requestsPerMinute) ?? 0,
      };
      points.push(point);
      const checks = level.runs.map((run) => checkRunAgainstSlo(run, slo, 95).passed);
      passes.set(level.concurrency, checks.filter(Boolean).length > checks.length / 2);
    }
    const itl = sampled(itlValues);
    if (itl !== undefined) entry.latency.itlMs = itl;
    entry.throughput = { byConcurrency: points };
    const one = points.find((p) => p.concurrency === 1);
    const four = points.find((p) => p.concurrency === 4);
    if (one !== undefined) entry.throughput.outputTokensPerSecond = one.outputTokensPerSecond;
    if (four?.requestsPerMinute !== undefined) entry.throughput.requestsPerMinuteAt4 = four.requestsPerMinute;
    ctx.record("throughput", { throughput: entry.throughput, itlMs: itl?.summary });

    // Max concurrency under the objective: bisection between the levels already measured.
    ctx.progress("capacity");
    const sloLabel = `p95 ${plan.slo.replace(/=/gu, " <= ").replace(/,/gu, ", ")}`;
    const passing = [...passes].filter(([, ok]) => ok).map(([c]) => c);
    const failing = [...passes].filter(([, ok]) => !ok).map(([c]) => c);
    const low = passing.length === 0 ? 0 : Math.max(...passing);
    const high = Math.min(profile.searchMax, ...failing.map((c) => c - 1));
    let maxConcurrency = low;
    if (passes.get(1) === true && high > low) {
      const search = await findMaxConcurrency({
        min: low,
        max: high,
        trials: profile.searchTrials,
        slo,
        percentile: 95,
        isAborted: () => signal?.aborted === true,
        runTrial: async (c) => {
          if (c === low) {
            // Already measured: reuse the level's first run instead of measuring it again.
            const level = bench.levels.find((l) => l.concurrency === c);
            const run = level?.runs[0];
            if (run !== undefined) return run;
          }
          const trial = await runBench(
            {
              ...throughputOptions,
              keepChunks: false,
              concurrency: [c],
              requests: Math.max(2 * c, profile.throughputRequests),
              runs: 1,
            },
            {
              onRequest: (r) => ctx.onRequest("capacity", r),
              onProgress: benchProgress("capacity", `c=${c}`),
            },
          );
          const run = trial.levels[0]?.runs[0];
          if (run === undefined) throw new AbortedError();
          return run;
        },
      });
      maxConcurrency = search.maxConcurrency ?? 0;
    } else if (passes.get(1) !== true) {
      maxConcurrency = 0;
    }
    if (signal?.aborted) throw new AbortedError();
    entry.maxConcurrencyUnderSlo = { value: maxConcurrency, slo: sloLabel };
    ctx.record("capacity", { maxConcurrencyUnderSlo: entry.maxConcurrencyUnderSlo });

    // Quality: graded math answers under greedy decoding (so agreement compares like with like).
    const problems =
      plan.dataset === undefined
        ? generateMathProblems({ count: profile.qualityProblems, seed: 1 })
        : await loadJsonlDataset(plan.dataset);
    const dataset =
      plan.dataset === undefined ? `generated (seed 1, ${problems.length} problems)` : plan.dataset;
    // Started empty: a run that stopped during quality left its answers in it, and they are not this run's.
    const qualityLog = new JsonLinesWriter(qualityPath(outDir, configuration.name), { truncate: true });
    let done = 0;
    ctx.progress("quality", `0/${problems.length}`);
    let quality;
    try {
      quality = await runQuality({
        problems,
        concurrency: profile.qualityConcurrency,
        synthetic: entry.synthetic,
        scripted: entry.syntheticWeights === "scripted",
        dataset,
        ...(signal === undefined ? {} : { signal }),
        onResult: (item) => {
          qualityLog.write(item);
          done++;
          ctx.progress("quality", `${done}/${problems.length}`);
        },
        // Streamed, so that long answers never run into an HTTP client's header timeout.
        generate: async (messages, _problem, abort): Promise<QualityGeneration> => {
          let reasoning = "";
          let content = "";
          let completionTokens = 0;
          let finishReason = "unknown";
          for await (const event of client.stream(messages, {
            temperature: 0,
            maxTokens: profile.qualityMaxTokens,
            ...(abort === undefined ? {} : { signal: abort }),
          })) {
            if (event.type === "reasoning") reasoning += event.text;
            else if (event.type === "content") content += event.text;
            else if (event.type === "usage") completionTokens = event.usage.completionTokens;
            else finishReason = event.reason;
          }
          return {
            text: reasoning === "" ? content : `<think>\n${reasoning}\n</think>\n\n${content}`,
            reasoning,
            content,
            completionTokens,
            finishReason,
          };
        },
      });
    } finally {
      qualityLog.close();
    }
    entry.quality = quality.summary;
    ctx.record("quality", { quality: quality.summary });

    if (server !== undefined && entry.memory !== undefined) {
      sampler?.sample();
      const rss = Math.max(sampler?.peakRss ?? 0, readProcessMemory(server.pid)?.hwm ?? 0);
      if (rss > 0) entry.memory.rss = { ...entry.memory.rss, peakBytes: rss };
      if (entry.memory.vram !== undefined && sampler !== undefined)
        entry.memory.vram.peakBytes = Math.max(sampler.peakGpu, entry.memory.vram.idleBytes ?? 0);
      const peak = entry.memory.kind === "vram" ? entry.memory.vram?.peakBytes : entry.memory.rss?.peakBytes;
      if (peak !== undefined) entry.memory.peakBytes = peak;
    }
    return quality.results;
  } finally {
    sampler?.stop();
    if (server !== undefined) {
      ctx.progress("stopping");
      await server.stop();
      await waitReleased(server.pid, sampleGpu ? gpuBaseline : undefined);
      ctx.record("stopping", { released: true, memory: entry.memory });
    }
  }
}

/** Waits until the process is gone and GPU memory is back near its baseline (another process may hold some). */
async function waitReleased(pid: number, gpuBaseline: number | undefined): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const gone = !processExists(pid);
    const used = gpuBaseline === undefined ? undefined : await readGpuMemoryUsed();
    const gpuFree =
      used === undefined || gpuBaseline === undefined || used <= gpuBaseline + 256 * 1024 * 1024;
    if (gone && gpuFree) return;
    if (performance.now() > deadline)
      throw new Error(
        gone
          ? `GPU memory was not released 30 s after the server stopped (${Math.round(((used ?? 0) - (gpuBaseline ?? 0)) / 1048576)} MiB still in use)`
          : `the server process ${pid} did not exit`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The first model id a server lists at /models, or undefined. */
async function firstModelId(baseUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${baseUrl.replace(/\/$/u, "")}/models`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { data?: { id?: unknown }[] };
    const id = body.data?.[0]?.id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Agreement of each successful configuration with the reference, on the same problems. */
async function addAgreement(
  result: ComparisonResult,
  plan: ComparePlan,
  qualityByName: Map<string, QualityItemResult[]>,
  hooks: CompareHooks,
): Promise<void> {
  const reference = result.configurations.find((c) => c.name === plan.reference && c.status === "ok");
  const referenceResults = qualityByName.get(plan.reference);
  if (reference === undefined || referenceResults === undefined || referenceResults.length === 0) return;
  hooks.onAgreement?.(reference.name);
  let embeddings: EmbeddingProvider | undefined;
  let dispose: (() => Promise<void>) | undefined;
  if (plan.embeddings !== undefined) {
    if (/^https?:\/\//u.test(plan.embeddings)) {
      // URL#model names the model; otherwise the first one the server lists.
      const [baseUrl = plan.embeddings, named] = plan.embeddings.split("#");
      const model = named ?? (await firstModelId(baseUrl)) ?? "default";
      embeddings = createEndpointEmbeddingProvider({ baseUrl, model });
    } else {
      const provider = await createLlamaEmbeddingProvider({
        modelPath: plan.embeddings,
        threads: os.availableParallelism(),
      });
      embeddings = provider;
      dispose = () => provider.dispose();
    }
  }
  // Positions of the first differing token in the reference model's own tokens; words only when its
  // tokenizer cannot be reached (the summary names which). Opened after the embedding model: see
  // loadGgufTokenizer on llama.cpp's logs.
  const referenceConfiguration = plan.configurations.find((c) => c.name === plan.reference);
  const tokenizer =
    referenceConfiguration === undefined
      ? undefined
      : await openAgreementTokenizer({
          configuration: referenceConfiguration,
          apiKey: tryResolveClientApiKey(referenceConfiguration),
        });
  try {
    for (const configuration of result.configurations) {
      if (configuration === reference || configuration.status !== "ok" || configuration.quality === undefined)
        continue;
      const candidate = qualityByName.get(configuration.name);
      if (candidate === undefined || candidate.length === 0) continue;
      const options = {
        reference: reference.name,
        synthetic: configuration.synthetic || reference.synthetic,
        scripted: !hasRandomWeights(configuration) && !hasRandomWeights(reference),
        ...(embeddings === undefined ? {} : { embeddings }),
      };
      let agreement: AgreementSummary | undefined;
      if (tokenizer !== undefined) {
        agreement = await compareAgreement(referenceResults, candidate, {
          ...options,
          tokenize: tokenizer.tokenize,
          tokenizerName: tokenizer.name,
        }).catch(() => undefined);
      }
      configuration.quality.agreement =
        agreement ?? (await compareAgreement(referenceResults, candidate, options));
    }
  } finally {
    await tokenizer?.dispose();
    await dispose?.();
  }
}
