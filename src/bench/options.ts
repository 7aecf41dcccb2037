/** Bench options: the user-facing type (flags or library callers) and its one-time resolution. */
import { existsSync } from "node:fs";
import { InvalidArgumentError } from "../core/errors.js";
import type { Tokenizer } from "./tokenizer.js";
import type { LengthDistribution } from "./workloads.js";

/** Service level objectives, in milliseconds. */
export interface Slo {
  ttftMs?: number;
  ttfoMs?: number;
  tpotMs?: number;
  itlMs?: number;
  e2eMs?: number;
}

/** Options of `runBench` and of `servelab bench` (each flag is the kebab-case of a field). */
export interface BenchOptions {
  /** Base URL of the OpenAI-compatible API, ending in /v1. Default http://127.0.0.1:8000/v1. Env SERVELAB_BENCH_URL. */
  url?: string;
  /** Model name to send; default the first one the server lists at /v1/models. */
  model?: string;
  /** `chat` (default) for /chat/completions, `completions` for /completions. */
  api?: "chat" | "completions" | string;
  /** Bearer token; default env OPENAI_API_KEY. */
  apiKey?: string;
  /** `short,medium,long` (default, any subset), `synthetic`, or a JSONL / ShareGPT file. */
  workload?: string;
  /** Synthetic input length: `128`, `uniform:64:256` or `normal:128:16` tokens (default 128). */
  inputTokens?: string | number;
  /** Output tokens per request, sent as max_tokens (default 128). */
  maxTokens?: string | number;
  /** Send `ignore_eos: true` for exact output lengths; default true for synthetic workloads only. */
  ignoreEos?: boolean;
  /** Closed-loop concurrency levels, e.g. `1,4,8` (default 1: sequential). */
  concurrency?: string | number | readonly number[];
  /** Open-loop request rates in requests per second, e.g. `10` or `5,10,20`; replaces --concurrency. */
  rate?: string | number | readonly number[];
  /** Arrival process for --rate: `poisson` (default) or `constant`. */
  arrival?: "poisson" | "constant" | string;
  /** Gamma shape of inter-arrival times with --rate (1 = Poisson; <1 burstier; larger steadier). Default 1. */
  burstiness?: string | number;
  /** With --rate: at most this many requests in flight; later ones wait in the client queue (counted). */
  maxConcurrency?: string | number;
  /** Measured requests per run and level (default 100 when --duration is not given). */
  requests?: string | number;
  /** Time limit per run and level, e.g. `60s`, `2m`, `500ms` (no new requests after it). */
  duration?: string | number;
  /** Requests sent before each run and excluded from results (default 0). */
  warmup?: string | number;
  /** Repetitions of each level; results give mean ± std over runs, outliers trimmed by the IQR rule (default 1). */
  runs?: string | number;
  /** Objectives, e.g. `ttft=200ms,itl=50ms,e2e=5s` (keys ttft, ttfo, tpot, itl, e2e). */
  slo?: string | Slo;
  /** Percentile the capacity search checks the SLO at (default 95). */
  sloPercentile?: string | number;
  /** Per-request timeout, e.g. `300s` (default). */
  timeout?: string | number;
  /** Results folder; default ./results/<timestamp>-bench; false writes nothing. */
  out?: string | false;
  /** JSON fields merged into every request body, e.g. `{"temperature":0}`. */
  extra?: string | Record<string, unknown>;
  /** Seed for synthetic prompts and arrival times (default 1). */
  seed?: string | number;
  /** A GGUF file (vocabulary only is loaded) or a Tokenizer for exact input lengths and token counts. */
  tokenizer?: string | Tokenizer;
  /** Search the largest concurrency meeting --slo (bisection with repeated trials). */
  findMaxConcurrency?: boolean;
  /** Bounds of the capacity search, `1:256` (default). */
  searchRange?: string;
  /** Trials per probed concurrency; a probe passes when most trials pass (default 3). */
  searchTrials?: string | number;
  /** A local server process whose resident memory (VmRSS) is sampled. */
  serverPid?: string | number;
  /** Sample GPU memory/utilisation with nvidia-smi (default true). */
  sampleGpu?: boolean;
  /** Read the server's Prometheus /metrics before and after (default true). */
  readMetrics?: boolean;
  /** Keep each chunk's arrival time and text in records given to hooks (tests; default false). */
  keepChunks?: boolean;
  /** The command line, stored in results.json. */
  argv?: readonly string[];
  /** Stops the bench: in-flight requests are aborted and partial results written. */
  signal?: AbortSignal;
  /** Go on with the interrupted bench in `out` (`servelab bench --resume DIR`): its options come
   * from DIR/plan.json (only url, apiKey, serverPid, sampleGpu, readMetrics and tokenizer may be
   * given again), the runs it finished are kept, the rest is run, and one results.json covers all. */
  resume?: boolean;
}

export type LoadLevel =
  | { mode: "concurrency"; concurrency: number }
  | {
      mode: "rate";
      rate: number;
      arrival: "poisson" | "constant";
      burstiness: number;
      maxConcurrency: number | undefined;
    };

/** Options after validation and defaults. */
export interface ResolvedBenchOptions {
  url: string;
  model: string | undefined;
  api: "chat" | "completions";
  apiKey: string | undefined;
  workload: string;
  inputTokens: LengthDistribution;
  maxTokens: number;
  ignoreEos: boolean | undefined;
  levels: LoadLevel[];
  requests: number | undefined;
  durationMs: number | undefined;
  warmup: number;
  runs: number;
  slo: Slo | undefined;
  sloPercentile: 50 | 90 | 95 | 99;
  timeoutMs: number;
  out: string | undefined;
  extra: Record<string, unknown>;
  seed: number;
  tokenizer: string | Tokenizer | undefined;
  findMaxConcurrency: boolean;
  searchMin: number;
  searchMax: number;
  searchTrials: number;
  serverPid: number | undefined;
  sampleGpu: boolean;
  readMetrics: boolean;
  keepChunks: boolean;
  argv: string[];
}

const bad = (flag: string, what: string, got: unknown): InvalidArgumentError =>
  new InvalidArgumentError(`--${flag} must be ${what}, got ${JSON.stringify(String(got))}`, { param: flag });

/** Parse a list of positive integers ("1,4,8"). */
export function parsePositiveIntList(flag: string, value: string | number | readonly number[]): number[] {
  const parts =
    typeof value === "string"
      ? value.split(",").map((s) => s.trim())
      : Array.isArray(value)
        ? value
        : [value];
  if (parts.length === 0) throw bad(flag, "a list of positive integers", value);
  return parts.map((p) => {
    const n = typeof p === "number" ? p : /^\d+$/u.test(p as string) ? Number(p) : NaN;
    if (!Number.isInteger(n) || n <= 0) throw bad(flag, "a list of positive integers", p);
    return n;
  });
}

function parsePositiveNumberList(flag: string, value: string | number | readonly number[]): number[] {
  const parts =
    typeof value === "string"
      ? value.split(",").map((s) => s.trim())
      : Array.isArray(value)
        ? value
        : [value];
  return parts.map((p) => {
    const n = typeof p === "number" ? p : (p as string) === "" ? NaN : Number(p);
    if (!Number.isFinite(n) || n <= 0) throw bad(flag, "a list of positive numbers", p);
    return n;
  });
}

/** Parse an integer flag with a minimum. */
export function parseIntFlag(flag: string, value: string | number, min: number): number {
  const n = typeof value === "number" ? value : /^-?\d+$/u.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min)
    throw bad(
      flag,
      min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer >= ${min}`,
      value,
    );
  return n;
}

/**
 * Parse a duration: `250ms`, `60s`, `2m`, `1h`; a bare number is in `bareUnit`.
 * @returns milliseconds
 */
export function parseDuration(flag: string, value: string | number, bareUnit: "ms" | "s"): number {
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  if (typeof value === "number") {
    if (!(value > 0)) throw bad(flag, "a positive duration such as 60s or 500ms", value);
    return value * scale[bareUnit];
  }
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/u.exec(value.trim());
  if (m === null || !(Number(m[1]) > 0)) throw bad(flag, "a positive duration such as 60s or 500ms", value);
  return Number(m[1]) * scale[(m[2] as keyof typeof scale | undefined) ?? bareUnit];
}

/** Parse `128`, `uniform:64:256` or `normal:128:16`. */
export function parseInputTokens(value: string | number): LengthDistribution {
  const text = String(value).trim();
  const what = "a token count (128), uniform:MIN:MAX or normal:MEAN:STD";
  if (/^\d+$/u.test(text)) {
    const v = Number(text);
    if (v < 1) throw bad("input-tokens", what, value);
    return { kind: "fixed", value: v };
  }
  const parts = text.split(":");
  const nums = parts.slice(1).map(Number);
  if (parts[0] === "uniform" && nums.length === 2 && nums.every((n) => Number.isInteger(n) && n >= 1)) {
    const [min, max] = nums as [number, number];
    if (min > max) throw bad("input-tokens", `${what} with MIN <= MAX`, value);
    return { kind: "uniform", min, max };
  }
  if (
    parts[0] === "normal" &&
    nums.length === 2 &&
    nums.every((n) => Number.isFinite(n) && n >= 0) &&
    (nums[0] as number) >= 1
  )
    return { kind: "normal", mean: nums[0] as number, std: nums[1] as number };
  throw bad("input-tokens", what, value);
}

/** Parse `ttft=200ms,itl=50ms,e2e=5s` (bare numbers are milliseconds). */
export function parseSlo(value: string | Slo): Slo {
  if (typeof value !== "string") return { ...value };
  const slo: Slo = {};
  const keyMap = { ttft: "ttftMs", ttfo: "ttfoMs", tpot: "tpotMs", itl: "itlMs", e2e: "e2eMs" } as const;
  for (const part of value.split(",")) {
    const pieces = part.split("=").map((s) => s.trim());
    const [key, bound] = pieces;
    const field = Object.hasOwn(keyMap, key ?? "")
      ? (keyMap[key as keyof typeof keyMap] as keyof Slo)
      : undefined;
    if (field === undefined || pieces.length !== 2 || bound === undefined || bound === "")
      throw bad("slo", "a list like ttft=200ms,itl=50ms,e2e=5s (keys ttft, ttfo, tpot, itl, e2e)", part);
    slo[field] = parseDuration("slo", bound, "ms");
  }
  return slo;
}

function parseExtra(value: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof value !== "string") return { ...value };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw bad("extra", "a JSON object such as '{\"temperature\":0}'", value);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw bad("extra", "a JSON object such as '{\"temperature\":0}'", value);
  return parsed as Record<string, unknown>;
}

/** Validate options and fill defaults; every problem is an InvalidArgumentError with a fix-it message. */
export function resolveBenchOptions(
  options: BenchOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedBenchOptions {
  const url = (options.url ?? env.SERVELAB_BENCH_URL ?? "http://127.0.0.1:8000/v1").replace(/\/+$/u, "");
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw bad("url", "an http(s) URL ending in /v1, such as http://127.0.0.1:8000/v1", url);
  }
  if (parsedUrl.protocol !== "http:" && parsedUrl.protocol !== "https:")
    throw bad("url", "an http(s) URL ending in /v1, such as http://127.0.0.1:8000/v1", url);
  const api = options.api ?? "chat";
  if (api !== "chat" && api !== "completions") throw bad("api", "chat or completions", api);

  const workload = options.workload ?? "short,medium,long";
  const classes = workload.split(",").map((s) => s.trim());
  const isBuiltin = classes.every((c) => c === "short" || c === "medium" || c === "long");
  if (!isBuiltin && workload !== "synthetic" && !existsSync(workload))
    throw bad(
      "workload",
      "short,medium,long (any of them), synthetic, or an existing JSONL/ShareGPT file",
      workload,
    );

  const rateGiven = options.rate !== undefined;
  if (rateGiven && options.concurrency !== undefined)
    throw new InvalidArgumentError(
      "--rate and --concurrency cannot be combined; use --rate with --max-concurrency to cap requests in flight",
      { param: "rate" },
    );
  const arrival = options.arrival ?? "poisson";
  if (arrival !== "poisson" && arrival !== "constant") throw bad("arrival", "poisson or constant", arrival);
  const burstiness =
    options.burstiness === undefined
      ? 1
      : typeof options.burstiness === "number"
        ? options.burstiness
        : options.burstiness.trim() === ""
          ? NaN
          : Number(options.burstiness);
  if (!(burstiness > 0) || !Number.isFinite(burstiness))
    throw bad("burstiness", "a positive number (1 = Poisson)", options.burstiness);
  // Open-loop flags without --rate would be ignored silently: say so instead.
  for (const [flag, value] of [
    ["arrival", options.arrival],
    ["burstiness", options.burstiness],
    ["max-concurrency", options.maxConcurrency],
  ] as const)
    if (value !== undefined && !rateGiven)
      throw new InvalidArgumentError(`--${flag} applies to open-loop load only; add --rate, e.g. --rate 10`, {
        param: flag,
      });
  if (arrival === "constant" && burstiness !== 1)
    throw new InvalidArgumentError(
      "--burstiness shapes Poisson (gamma) arrivals; constant arrivals have none (drop --burstiness or use --arrival poisson)",
      { param: "burstiness" },
    );
  const maxConcurrency =
    options.maxConcurrency === undefined
      ? undefined
      : parseIntFlag("max-concurrency", options.maxConcurrency, 1);

  const levels: LoadLevel[] = rateGiven
    ? parsePositiveNumberList("rate", options.rate as string | number | readonly number[]).map((rate) => ({
        mode: "rate" as const,
        rate,
        arrival,
        burstiness,
        maxConcurrency,
      }))
    : parsePositiveIntList("concurrency", options.concurrency ?? 1).map((concurrency) => ({
        mode: "concurrency" as const,
        concurrency,
      }));

  const durationMs =
    options.duration === undefined ? undefined : parseDuration("duration", options.duration, "s");
  const requests =
    options.requests === undefined
      ? durationMs === undefined
        ? 100
        : undefined
      : parseIntFlag("requests", options.requests, 1);
  const slo = options.slo === undefined ? undefined : parseSlo(options.slo);
  const findMaxConcurrency = options.findMaxConcurrency ?? false;
  if (findMaxConcurrency && (slo === undefined || Object.keys(slo).length === 0))
    throw new InvalidArgumentError("--find-max-concurrency needs --slo, e.g. --slo itl=50ms", {
      param: "slo",
    });
  const range = (options.searchRange ?? "1:256").split(":").map((s) => s.trim());
  const searchMin = /^\d+$/u.test(range[0] ?? "") ? Number(range[0]) : NaN;
  const searchMax = /^\d+$/u.test(range[1] ?? "") ? Number(range[1]) : NaN;
  if (range.length !== 2 || !(searchMin >= 1) || !(searchMax >= searchMin))
    throw bad("search-range", "MIN:MAX with 1 <= MIN <= MAX, such as 1:256", options.searchRange);
  const sloPercentile = options.sloPercentile === undefined ? 95 : Number(options.sloPercentile);
  if (sloPercentile !== 50 && sloPercentile !== 90 && sloPercentile !== 95 && sloPercentile !== 99)
    throw bad("slo-percentile", "one of 50, 90, 95, 99", options.sloPercentile);

  if (typeof options.tokenizer === "string" && !existsSync(options.tokenizer))
    throw bad("tokenizer", "an existing GGUF file of the served model", options.tokenizer);

  const resolved: ResolvedBenchOptions = {
    url,
    model: options.model,
    api,
    apiKey: options.apiKey ?? env.OPENAI_API_KEY,
    workload,
    inputTokens: parseInputTokens(options.inputTokens ?? 128),
    maxTokens: parseIntFlag("max-tokens", options.maxTokens ?? 128, 1),
    ignoreEos: options.ignoreEos,
    levels,
    requests,
    durationMs,
    warmup: parseIntFlag("warmup", options.warmup ?? 0, 0),
    runs: parseIntFlag("runs", options.runs ?? 1, 1),
    slo,
    sloPercentile,
    timeoutMs: parseDuration("timeout", options.timeout ?? "300s", "s"),
    out: options.out === false ? undefined : (options.out ?? `results/${timestampForPath(new Date())}-bench`),
    extra: options.extra === undefined ? {} : parseExtra(options.extra),
    seed: parseIntFlag("seed", options.seed ?? 1, 0),
    tokenizer: options.tokenizer,
    findMaxConcurrency,
    searchMin,
    searchMax,
    searchTrials: parseIntFlag("search-trials", options.searchTrials ?? 3, 1),
    serverPid: options.serverPid === undefined ? undefined : parseIntFlag("server-pid", options.serverPid, 1),
    sampleGpu: options.sampleGpu ?? true,
    readMetrics: options.readMetrics ?? true,
    keepChunks: options.keepChunks ?? false,
    argv: [...(options.argv ?? [])],
  };
  return resolved;
}

/** `2026-11-21T14-03-05` for folder names. */
export function timestampForPath(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/:/gu, "-");
}
