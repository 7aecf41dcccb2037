import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  parseDuration,
  parseInputTokens,
  parseSlo,
  resolveBenchOptions,
  timestampForPath,
} from "../../../src/bench/options.js";
import type { BenchOptions } from "../../../src/bench/options.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";

const resolve = (options: BenchOptions) => resolveBenchOptions({ out: false, ...options }, {});

/** The error resolving these options throws: an InvalidArgumentError with a one-line message. */
function refusal(options: BenchOptions): InvalidArgumentError {
  try {
    resolve(options);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const e = err as InvalidArgumentError;
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).not.toContain("\n");
    return e;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe("resolveBenchOptions: defaults", () => {
  it("is sequential, chat, the three built-in classes, 100 requests, one run", () => {
    const r = resolveBenchOptions({}, {});
    expect(r).toMatchObject({
      url: "http://127.0.0.1:8000/v1",
      api: "chat",
      workload: "short,medium,long",
      levels: [{ mode: "concurrency", concurrency: 1 }],
      requests: 100,
      durationMs: undefined,
      warmup: 0,
      runs: 1,
      maxTokens: 128,
      timeoutMs: 300_000,
      sloPercentile: 95,
      searchMin: 1,
      searchMax: 256,
      searchTrials: 3,
      apiKey: undefined,
      slo: undefined,
    });
    expect(r.out).toMatch(/^results\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-bench$/u);
  });

  it("takes the URL and key from the environment, flags first", () => {
    const env = { SERVELAB_BENCH_URL: "http://h:1/v1/", OPENAI_API_KEY: "sk-env" };
    expect(resolveBenchOptions({}, env)).toMatchObject({ url: "http://h:1/v1", apiKey: "sk-env" });
    expect(resolveBenchOptions({ url: "http://x:2/v1", apiKey: "sk-flag" }, env)).toMatchObject({
      url: "http://x:2/v1",
      apiKey: "sk-flag",
    });
  });

  it("parses a concurrency sweep, rates with their arrival process, durations and limits", () => {
    expect(
      resolve({ concurrency: "1,2,4,8" }).levels.map((l) => l.mode === "concurrency" && l.concurrency),
    ).toEqual([1, 2, 4, 8]);
    expect(resolve({ concurrency: [3] }).levels).toEqual([{ mode: "concurrency", concurrency: 3 }]);
    expect(resolve({ rate: "2.5,10", burstiness: "0.5", maxConcurrency: "16" }).levels).toEqual([
      { mode: "rate", rate: 2.5, arrival: "poisson", burstiness: 0.5, maxConcurrency: 16 },
      { mode: "rate", rate: 10, arrival: "poisson", burstiness: 0.5, maxConcurrency: 16 },
    ]);
    expect(resolve({ rate: 4, arrival: "constant" }).levels[0]).toMatchObject({ arrival: "constant" });
    // --duration alone lifts the request limit; both together keep both.
    expect(resolve({ duration: "2m" })).toMatchObject({ durationMs: 120_000, requests: undefined });
    expect(resolve({ duration: "500ms", requests: "7" })).toMatchObject({ durationMs: 500, requests: 7 });
    expect(resolve({ duration: 3 })).toMatchObject({ durationMs: 3000 });
    expect(resolve({ timeout: "1.5s" }).timeoutMs).toBe(1500);
    expect(resolve({ extra: '{"temperature":0,"top_k":1}' }).extra).toEqual({ temperature: 0, top_k: 1 });
    expect(resolve({ api: "completions", warmup: "0", runs: "3", seed: "0" })).toMatchObject({
      api: "completions",
      warmup: 0,
      runs: 3,
      seed: 0,
    });
  });

  it("accepts a JSONL workload file that exists", () => {
    const file = join(mkdtempSync(join(tmpdir(), "servelab-bench-options-")), "w.jsonl");
    writeFileSync(file, '{"prompt":"hi"}\n');
    expect(resolve({ workload: file }).workload).toBe(file);
  });
});

describe("resolveBenchOptions: every bad value is one InvalidArgumentError line naming its flag", () => {
  const cases: [string, BenchOptions, RegExp][] = [
    ["url", { url: "not a url" }, /^--url must be an http\(s\) URL/u],
    ["url", { url: "ftp://x/v1" }, /^--url must be an http\(s\) URL/u],
    ["api", { api: "embeddings" }, /^--api must be chat or completions, got "embeddings"/u],
    ["workload", { workload: "short,huge" }, /^--workload must be short,medium,long .*got "short,huge"/u],
    ["workload", { workload: "/nonexistent/prompts.jsonl" }, /^--workload must be/u],
    ["input-tokens", { inputTokens: "0" }, /^--input-tokens must be a token count/u],
    ["input-tokens", { inputTokens: "abc" }, /^--input-tokens must be/u],
    ["input-tokens", { inputTokens: "uniform:9:3" }, /^--input-tokens must be .* MIN <= MAX/u],
    ["input-tokens", { inputTokens: "uniform:1" }, /^--input-tokens must be/u],
    ["input-tokens", { inputTokens: "normal:0:3" }, /^--input-tokens must be/u],
    ["input-tokens", { inputTokens: "normal:10:-1" }, /^--input-tokens must be/u],
    ["max-tokens", { maxTokens: "0" }, /^--max-tokens must be a positive integer, got "0"/u],
    ["max-tokens", { maxTokens: "8.5" }, /^--max-tokens must be a positive integer/u],
    ["concurrency", { concurrency: "1,,4" }, /^--concurrency must be a list of positive integers, got ""/u],
    ["concurrency", { concurrency: "0" }, /^--concurrency must be a list of positive integers/u],
    ["concurrency", { concurrency: "two" }, /^--concurrency must be/u],
    ["concurrency", { concurrency: [1.5] }, /^--concurrency must be/u],
    ["rate", { rate: "0" }, /^--rate must be a list of positive numbers, got "0"/u],
    ["rate", { rate: "fast" }, /^--rate must be a list of positive numbers/u],
    ["rate", { rate: "5", concurrency: "4" }, /^--rate and --concurrency cannot be combined/u],
    ["arrival", { rate: 1, arrival: "bursty" }, /^--arrival must be poisson or constant, got "bursty"/u],
    ["arrival", { arrival: "constant" }, /^--arrival applies to open-loop load only; add --rate/u],
    ["burstiness", { rate: 1, burstiness: "0" }, /^--burstiness must be a positive number/u],
    ["burstiness", { rate: 1, burstiness: "x" }, /^--burstiness must be a positive number/u],
    ["burstiness", { rate: 1, burstiness: " " }, /^--burstiness must be a positive number/u],
    ["burstiness", { rate: 1, burstiness: "1e999" }, /^--burstiness must be a positive number/u],
    ["burstiness", { burstiness: "0.5" }, /^--burstiness applies to open-loop load only/u],
    ["burstiness", { rate: 1, arrival: "constant", burstiness: 0.5 }, /^--burstiness shapes Poisson/u],
    ["max-concurrency", { rate: 1, maxConcurrency: "0" }, /^--max-concurrency must be a positive integer/u],
    ["max-concurrency", { maxConcurrency: "8" }, /^--max-concurrency applies to open-loop load only/u],
    ["requests", { requests: "0" }, /^--requests must be a positive integer, got "0"/u],
    ["requests", { requests: "-3" }, /^--requests must be a positive integer/u],
    [
      "duration",
      { duration: "0s" },
      /^--duration must be a positive duration such as 60s or 500ms, got "0s"/u,
    ],
    ["duration", { duration: "soon" }, /^--duration must be a positive duration/u],
    ["duration", { duration: "10 minutes" }, /^--duration must be a positive duration/u],
    ["duration", { duration: -1 }, /^--duration must be a positive duration/u],
    ["warmup", { warmup: "-1" }, /^--warmup must be a non-negative integer, got "-1"/u],
    ["runs", { runs: "0" }, /^--runs must be a positive integer/u],
    ["slo", { slo: "ttft" }, /^--slo must be a list like ttft=200ms,itl=50ms,e2e=5s/u],
    ["slo", { slo: "latency=5ms" }, /^--slo must be a list like .*got "latency=5ms"/u],
    ["slo", { slo: "ttft=1=2" }, /^--slo must be a list like/u],
    ["slo", { slo: "constructor=5" }, /^--slo must be a list like/u],
    ["slo", { slo: "ttft=fast" }, /^--slo must be a positive duration such as 60s or 500ms, got "fast"/u],
    ["slo", { slo: "" }, /^--slo must be a list like/u],
    ["slo-percentile", { sloPercentile: "97" }, /^--slo-percentile must be one of 50, 90, 95, 99, got "97"/u],
    ["timeout", { timeout: "0" }, /^--timeout must be a positive duration/u],
    ["extra", { extra: "{temperature:0}" }, /^--extra must be a JSON object/u],
    ["extra", { extra: "[1,2]" }, /^--extra must be a JSON object/u],
    ["extra", { extra: "null" }, /^--extra must be a JSON object/u],
    ["seed", { seed: "-1" }, /^--seed must be a non-negative integer/u],
    ["seed", { seed: "abc" }, /^--seed must be a non-negative integer/u],
    ["tokenizer", { tokenizer: "/nonexistent/model.gguf" }, /^--tokenizer must be an existing GGUF file/u],
    ["slo", { findMaxConcurrency: true }, /^--find-max-concurrency needs --slo/u],
    ["search-range", { searchRange: "abc" }, /^--search-range must be MIN:MAX with 1 <= MIN <= MAX/u],
    ["search-range", { searchRange: "8:2" }, /^--search-range must be MIN:MAX/u],
    ["search-range", { searchRange: "0:8" }, /^--search-range must be MIN:MAX/u],
    ["search-range", { searchRange: "1:2:3" }, /^--search-range must be MIN:MAX/u],
    ["search-trials", { searchTrials: "0" }, /^--search-trials must be a positive integer/u],
    ["server-pid", { serverPid: "me" }, /^--server-pid must be a positive integer/u],
  ];
  it.each(cases)("--%s %j", (param, options, message) => {
    const err = refusal(options);
    expect(err.message).toMatch(message);
    expect(err.param).toBe(param);
  });
});

describe("option parsers", () => {
  it("parseDuration: units and bare numbers", () => {
    expect(parseDuration("d", "250ms", "s")).toBe(250);
    expect(parseDuration("d", "1.5s", "ms")).toBe(1500);
    expect(parseDuration("d", "2m", "s")).toBe(120_000);
    expect(parseDuration("d", "1h", "s")).toBe(3_600_000);
    expect(parseDuration("d", "30", "s")).toBe(30_000);
    expect(parseDuration("d", "30", "ms")).toBe(30);
    expect(parseDuration("d", 0.5, "s")).toBe(500);
  });

  it("parseInputTokens: fixed, uniform and normal", () => {
    expect(parseInputTokens(128)).toEqual({ kind: "fixed", value: 128 });
    expect(parseInputTokens(" 64 ")).toEqual({ kind: "fixed", value: 64 });
    expect(parseInputTokens("uniform:64:256")).toEqual({ kind: "uniform", min: 64, max: 256 });
    expect(parseInputTokens("normal:128:16")).toEqual({ kind: "normal", mean: 128, std: 16 });
  });

  it("parseSlo: keys, units (bare numbers are ms) and objects", () => {
    expect(parseSlo("ttft=200ms, itl=50, e2e=5s,tpot=0.02s,ttfo=1s")).toEqual({
      ttftMs: 200,
      itlMs: 50,
      e2eMs: 5000,
      tpotMs: 20,
      ttfoMs: 1000,
    });
    expect(parseSlo({ itlMs: 10 })).toEqual({ itlMs: 10 });
  });

  it("timestampForPath has no colons", () => {
    expect(timestampForPath(new Date("2026-11-21T14:03:05.123Z"))).toBe("2026-11-21T14-03-05");
  });
});
