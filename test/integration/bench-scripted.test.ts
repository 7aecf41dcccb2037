/**
 * runBench against the scripted-timing server in its own process: token counting when chunks carry several
 * tokens (usage and tokenizer paths), reasoning-first streams (TTFT vs TTFO), open-loop intended vs actual send
 * times, duration limits, warm-up, repeated runs, goodput and error classification. One server serves every
 * case: each request's script comes in the body (`scripted`, passed through with `extra`).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArrivalGaps } from "../../src/bench/arrivals.js";
import { renderBenchTable, runBench } from "../../src/bench/index.js";
import type { BenchOptions, BenchResult, RequestRecord, RunSummary } from "../../src/bench/index.js";
import { runReferenceReader } from "../../src/bench/testing/reference-reader.js";
import type { ScriptedScript } from "../../src/bench/testing/scripted-server.js";
import type { Tokenizer } from "../../src/bench/tokenizer.js";
import { createRandom } from "../../src/bench/workloads.js";
import { spawnScriptedServer } from "../helpers/bench-scripted-server.js";
import type { ScriptedProcess } from "../helpers/bench-scripted-server.js";

let server: ScriptedProcess;
beforeAll(async () => {
  server = await spawnScriptedServer(["--ttft", "5", "--itl", "2"]);
});
afterAll(async () => {
  await server.stop();
});

interface Bench {
  result: BenchResult;
  /** Measured (non-warmup) records in index order. */
  records: RequestRecord[];
  warmup: RequestRecord[];
  run: RunSummary;
}

async function bench(options: BenchOptions, script: Partial<ScriptedScript> = {}): Promise<Bench> {
  const all: RequestRecord[] = [];
  const result = await runBench(
    {
      url: server.url,
      workload: "short",
      ...(options.rate === undefined ? { concurrency: 1 } : {}),
      maxTokens: 8,
      out: false,
      sampleGpu: false,
      readMetrics: false,
      ...options,
      extra: { scripted: script, ...(options.extra as Record<string, unknown> | undefined) },
    },
    { onRequest: (r) => all.push(r) },
  );
  const records = all.filter((r) => !r.warmup).sort((a, b) => a.run - b.run || a.index - b.index);
  const run = result.levels[0]?.runs[0];
  if (run === undefined) throw new Error("no run");
  return { result, records, warmup: all.filter((r) => r.warmup), run };
}

/** Counts words: the scripted server's tokens are words ("t1 t2 t3 "). */
const wordTokenizer: Tokenizer = { countTokens: (text) => text.split(/\s+/u).filter((w) => w !== "").length };
const asyncWordTokenizer: Tokenizer = {
  countTokens: async (text) => {
    await new Promise((r) => setTimeout(r, 1));
    return wordTokenizer.countTokens(text) as number;
  },
};

describe("tokens counted exactly when chunks carry several tokens", () => {
  // 10 tokens, 3 per chunk: chunks of 3, 3, 3 and 1 token, 6 ms apart (2 ms per token).
  const script = { tokensPerChunk: 3, ttftMs: 5, itlMs: 2 };

  it("from per-chunk usage (continuous_usage_stats): per-token ITL, not per chunk", async () => {
    const { records, run, result } = await bench({ maxTokens: 10, requests: 3, keepChunks: true }, script);
    expect(run.tokenCountMethods).toEqual({ usage: 3 });
    for (const r of records) {
      expect(r).toMatchObject({ ok: true, outputTokens: 10, chunks: 4, tokenCountMethod: "usage" });
      // The tokens of the first chunk arrive with it: ITL for the 7 later tokens.
      expect(r.itl).toHaveLength(7);
      // Each chunk's interval is spread over its tokens: three equal values per 3-token chunk.
      expect(r.itl?.[0]).toBe(r.itl?.[2]);
      expect(r.itl?.[3]).toBe(r.itl?.[5]);
      expect((r.itl?.[0] ?? 0) * 3).toBeCloseTo((r.chunkLog?.[1]?.at ?? 0) - (r.chunkLog?.[0]?.at ?? 0), 9);
    }
    expect(run.itl.count).toBe(21);
    for (const r of records) {
      // Per token: the values add up to the time from the first to the last chunk.
      const log = r.chunkLog ?? [];
      const sum = (r.itl ?? []).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo((log[3]?.at ?? 0) - (log[0]?.at ?? 0), 9);
    }
    // About 2 ms per token; a per-chunk figure would be about 6 ms.
    expect(run.itl.mean).toBeGreaterThan(1);
    expect(run.itl.mean).toBeLessThan(4.5);
    expect(result.notes).toEqual([]);
  });

  it.each([
    ["a synchronous", wordTokenizer],
    ["an asynchronous", asyncWordTokenizer],
  ])("with %s tokenizer when chunks carry no usage", async (_name, tokenizer) => {
    const { records, run, result } = await bench(
      { maxTokens: 10, requests: 2, tokenizer },
      { ...script, usage: "none" },
    );
    expect(run.tokenCountMethods).toEqual({ tokenizer: 2 });
    for (const r of records) {
      expect(r).toMatchObject({ ok: true, outputTokens: 10, chunks: 4, tokenCountMethod: "tokenizer" });
      expect(r.itlMeanMs).not.toBeNull();
    }
    expect(run.itl.count).toBe(14);
    expect(run.itl.p50).toBeLessThan(5);
    expect(result.notes.join("\n")).toMatch(/2 of 2 requests were counted with the tokenizer/u);
  });

  it("without usage or tokenizer: counts chunks and says ITL is per chunk", async () => {
    const { records, result } = await bench({ maxTokens: 10, requests: 2 }, { ...script, usage: "none" });
    expect(records.map((r) => [r.outputTokens, r.tokenCountMethod])).toEqual([
      [4, "chunks"],
      [4, "chunks"],
    ]);
    expect(result.notes.join("\n")).toMatch(/2 of 2 requests had no per-chunk usage and no tokenizer/u);
  });

  it("with only a final usage chunk (include_usage): the reported total counts", async () => {
    const { records } = await bench(
      { maxTokens: 10, requests: 1, tokenizer: wordTokenizer },
      { ...script, usage: "final" },
    );
    expect(records[0]).toMatchObject({ outputTokens: 10, tokenCountMethod: "tokenizer", inputTokens: 5 });
  });

  it("through the completions API too", async () => {
    const { records } = await bench({ api: "completions", maxTokens: 7, requests: 2 }, script);
    expect(records.map((r) => [r.ok, r.outputTokens, r.chunks, r.ttfoMs !== null])).toEqual([
      [true, 7, 3, true],
      [true, 7, 3, true],
    ]);
  });
});

describe("reasoning-first streams", () => {
  it.each(["reasoning_content", "reasoning", "thinking"] as const)(
    "TTFT at the first reasoning token, TTFO at the first answer token (%s)",
    async (reasoningField) => {
      const { records, run, result } = await bench(
        { maxTokens: 8, requests: 2, keepChunks: true },
        { reasoningTokens: 3, reasoningField, ttftMs: 10, itlMs: 6 },
      );
      for (const r of records) {
        const log = r.chunkLog ?? [];
        expect(log[0]?.data).toContain(`"${reasoningField}":"r1 "`);
        const firstAnswer = log.find((c) => c.data.includes('"content":"t1 '));
        expect(firstAnswer, JSON.stringify(log)).toBeDefined();
        // Both measured from the same send time: their difference is exactly that of the two chunks' arrivals.
        expect((r.ttfoMs ?? NaN) - (r.ttftMs ?? NaN)).toBeCloseTo(
          (firstAnswer?.at ?? 0) - (log[0]?.at ?? 0),
          2,
        );
        // Three one-token reasoning chunks come first.
        expect(log.indexOf(firstAnswer as (typeof log)[number])).toBe(3);
        expect(r.ttfoMs ?? 0).toBeGreaterThan(r.ttftMs ?? Infinity);
        expect(r).toMatchObject({ reasoningTokens: 3, outputTokens: 8 });
      }
      expect(run.ttfo.count).toBe(2);
      expect(run.ttfo.p50).toBeGreaterThan(run.ttft.p50);
      expect(result.levels[0]?.aggregate.ttfoP50.n).toBe(1);
    },
  );

  it("all reasoning, no answer: no TTFO, shown as - rather than 0 ms", async () => {
    const { records, run, result } = await bench({ maxTokens: 4, requests: 2 }, { reasoningTokens: 10 });
    expect(records.map((r) => [r.ttfoMs, r.reasoningTokens])).toEqual([
      [null, 4],
      [null, 4],
    ]);
    expect(run.ttfo.count).toBe(0);
    expect(result.levels[0]?.aggregate.ttfoP50).toMatchObject({ n: 0 });
    const table = renderBenchTable(result);
    const header = table.split("\n")[1] as string;
    const row = table.split("\n")[3] as string;
    const column = header.indexOf("TTFO p50");
    expect(row.slice(column, column + "TTFO p50".length).trim()).toBe("-");
  });
});

describe("the scripted server's TTFT jitter (bench:harness spreads 1,000 streams with it)", () => {
  it("adds a random 0 to ttftJitterMs to each request's TTFT", async () => {
    const { records } = await bench(
      { concurrency: 4, requests: 12 },
      { ttftMs: 5, ttftJitterMs: 40, itlMs: 1 },
    );
    const ttfts = records.map((r) => r.ttftMs ?? NaN);
    expect(ttfts.every(Number.isFinite)).toBe(true);
    expect(Math.min(...ttfts)).toBeGreaterThanOrEqual(4.5);
    expect(Math.max(...ttfts)).toBeLessThan(5 + 40 + 20);
    // 12 uniform draws over 40 ms all within 8 ms of each other: probability below 1e-6.
    expect(Math.max(...ttfts) - Math.min(...ttfts)).toBeGreaterThan(8);
  });
});

describe("load patterns", () => {
  it("rate mode (seeded Poisson) records each request's intended and actual send time", async () => {
    const { records, run } = await bench({ rate: 100, requests: 20, seed: 4 }, { ttftMs: 2, itlMs: 1 });
    expect(records).toHaveLength(20);
    expect(records[0]?.level).toBe("rate=100");
    const gaps = createArrivalGaps({ rate: 100, arrival: "poisson", burstiness: 1 }, createRandom(4));
    let expected = 0;
    for (const [i, r] of records.entries()) {
      if (i > 0) expected += gaps();
      // The schedule is the seeded one (times from the run start, give or take the loop's own start).
      expect(r.intendedMs, `request ${i}`).toBeGreaterThanOrEqual(expected);
      expect(r.intendedMs, `request ${i}`).toBeLessThan(expected + 5);
      expect(r.sentMs).toBeGreaterThanOrEqual(r.intendedMs);
      expect(Math.abs(r.queueMs - (r.sentMs - r.intendedMs))).toBeLessThan(0.002);
      expect(Math.abs(r.e2eFromIntendedMs - r.e2eMs - r.queueMs)).toBeLessThan(0.002);
    }
    expect(run.queue.count).toBe(20);
  });

  it("rate mode over --max-concurrency: the wait in the client queue counts (no coordinated omission)", async () => {
    const { records, run } = await bench(
      { rate: 1000, arrival: "constant", maxConcurrency: 1, requests: 8 },
      { ttftMs: 15, itlMs: 1 },
    );
    // Sent one at a time, ~1 ms apart as intended: the last waits behind seven requests of 15+ ms.
    expect(records.map((r) => r.intendedMs).every((t, i) => Math.abs(t - i) < 1)).toBe(true);
    expect(records[7]?.queueMs).toBeGreaterThan(7 * 15 - 10);
    expect(run.queue.max).toBe(records[7]?.queueMs);
    expect(run.e2eFromIntended.max).toBeGreaterThan(run.e2e.max + 90);
    expect(run.ttftFromIntended.p99).toBeGreaterThan(run.ttft.p99 + 90);
  });

  it("a duration limit sends no request after it", async () => {
    const { records, run } = await bench(
      { concurrency: 2, duration: "400ms", maxTokens: 4 },
      { ttftMs: 10, itlMs: 5 },
    );
    expect(records.length).toBeGreaterThanOrEqual(6);
    expect(records.length).toBeLessThan(40);
    expect(Math.max(...records.map((r) => r.sentMs))).toBeLessThan(400);
    expect(run.durationS).toBeLessThan(0.4 + 0.2);
    expect(run.requests).toBe(records.length);
  });

  it("warm-up requests are written but excluded from the results", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "servelab-bench-warmup-")), "out");
    const { records, warmup, run, result } = await bench({ warmup: 3, requests: 4, concurrency: 2, out });
    expect(warmup).toHaveLength(3);
    expect(records).toHaveLength(4);
    expect(run.requests).toBe(4);
    const lines = readFileSync(join(out, "requests.jsonl"), "utf8").trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as RequestRecord).warmup).sort()).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
    const saved = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResult;
    expect(saved.levels[0]?.runs[0]?.requests).toBe(4);
    expect(result.outDir).toBe(out);
  });

  it("--runs 3: each run summarized, the level aggregated as mean ± sample std", async () => {
    const { result } = await bench({ runs: 3, requests: 3, concurrency: "1,2" });
    expect(result.levels.map((l) => [l.label, l.runs.length])).toEqual([
      ["c=1", 3],
      ["c=2", 3],
    ]);
    for (const level of result.levels) {
      const rps = level.runs.map((r) => r.requestsPerSecond);
      const mean = rps.reduce((a, b) => a + b, 0) / 3;
      const std = Math.sqrt(rps.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
      expect(level.aggregate.requestsPerSecond.n).toBe(3);
      expect(level.aggregate.requestsPerSecond.mean).toBeCloseTo(mean, 9);
      expect(level.aggregate.requestsPerSecond.std).toBeCloseTo(std, 9);
      expect(level.aggregate.requestsPerMinute.mean).toBeCloseTo(mean * 60, 6);
      expect(level.runs.map((r) => r.run)).toEqual([1, 2, 3]);
      expect(level.runs.every((r) => r.requests === 3)).toBe(true);
    }
    expect(renderBenchTable(result)).toMatch(/c=2 +3 +9 +0 +\d+\.\d\d ± \d+\.\d\d/u);
  });
});

describe("goodput, exact output lengths and errors", () => {
  it("goodput under --slo counts errors against it", async () => {
    // Every 4th request fails with HTTP 503: 2 of 8 in a row, whatever came before.
    const { run, records } = await bench(
      { requests: 8, slo: "e2e=10s,ttft=5s" },
      { error: "status", errorStatus: 503, errorEvery: 4 },
    );
    expect(run).toMatchObject({ requests: 8, completed: 6, failed: 2, errorsByKind: { http: 2 } });
    expect(run.goodputFraction).toBe(0.75);
    expect(run.goodputPerSecond).toBeCloseTo(6 / run.durationS, 9);
    const failed = records.filter((r) => !r.ok);
    expect(failed.map((r) => r.error)).toEqual([
      { kind: "http", status: 503, message: "HTTP 503: scripted failure", midStream: false },
      { kind: "http", status: 503, message: "HTTP 503: scripted failure", midStream: false },
    ]);
    // A tight objective: nothing meets it.
    const tight = await bench({ requests: 2, slo: "ttft=1ms" }, { ttftMs: 20 });
    expect(tight.run.goodputFraction).toBe(0);
  });

  it("classifies failures: HTTP status, connection reset, error event mid-stream, timeout, refused", async () => {
    const kinds = async (script: Partial<ScriptedScript>, options: BenchOptions = {}) =>
      (await bench({ requests: 1, maxTokens: 6, ...options }, script)).records[0]?.error;
    expect(await kinds({ error: "status", errorStatus: 429 })).toMatchObject({ kind: "http", status: 429 });
    expect(await kinds({ error: "reset", errorAfterTokens: 2 })).toMatchObject({
      kind: "connection",
      midStream: true,
    });
    expect(await kinds({ error: "stream-error", errorAfterTokens: 2 })).toMatchObject({
      kind: "stream",
      midStream: true,
      message: expect.stringContaining("scripted stream failure") as string,
    });
    expect(await kinds({ error: "hang" }, { timeout: "300ms" })).toMatchObject({
      kind: "timeout",
      midStream: false,
    });
    const refused = await runBench({
      url: "http://127.0.0.1:9/v1",
      model: "m",
      requests: 2,
      out: false,
      sampleGpu: false,
      readMetrics: false,
    });
    expect(refused.levels[0]?.runs[0]).toMatchObject({ failed: 2, errorsByKind: { connection: 2 } });
    await expect(
      runBench({
        url: "http://127.0.0.1:9/v1",
        requests: 1,
        out: false,
        sampleGpu: false,
        readMetrics: false,
      }),
    ).rejects.toMatchObject({ code: "UPSTREAM_FAILED" });
  });

  it("synthetic prompts ask for exact output lengths with ignore_eos, and say when the server ignores it", async () => {
    const honoured = await bench(
      { workload: "synthetic", inputTokens: 8, maxTokens: 6, requests: 2 },
      { eosAfter: 3 },
    );
    expect(honoured.result.workload.ignoreEos).toBe(true);
    expect(honoured.records.map((r) => [r.outputTokens, r.finishReason, r.ignoreEosIgnored])).toEqual([
      [6, "length", false],
      [6, "length", false],
    ]);
    const ignored = await bench(
      { workload: "synthetic", inputTokens: 8, maxTokens: 6, requests: 2 },
      { eosAfter: 3, honourIgnoreEos: false },
    );
    expect(ignored.records.map((r) => [r.outputTokens, r.ignoreEosIgnored])).toEqual([
      [3, true],
      [3, true],
    ]);
    expect(ignored.result.notes.join("\n")).toMatch(/the server ignored ignore_eos on 2 of 2 requests/u);
  });
});

describe("capacity search", () => {
  it("--find-max-concurrency probes by doubling and reports the largest concurrency meeting the SLO", async () => {
    // The scripted server's latency does not grow with load: every probe passes, up to the upper bound.
    const { result } = await bench({
      findMaxConcurrency: true,
      slo: "ttft=5s",
      searchRange: "1:6",
      searchTrials: 1,
      requests: 2,
      maxTokens: 2,
    });
    expect(result.capacity).toMatchObject({ maxConcurrency: 6, limitedByUpperBound: true, bounds: [1, 6] });
    expect(result.capacity?.probes.map((p) => [p.concurrency, p.passed])).toEqual([
      [1, true],
      [2, true],
      [4, true],
      [6, true],
    ]);
    expect(renderBenchTable(result)).toMatch(
      /capacity \(p95 ttft <= 5000 ms\): max concurrency 6 \(the upper bound/u,
    );
    // Every request fails: even the lower bound misses the SLO.
    const failing = await bench(
      { findMaxConcurrency: true, slo: "ttft=5s", searchRange: "2:8", searchTrials: 1, requests: 2 },
      { error: "status" },
    );
    expect(failing.result.capacity).toMatchObject({ maxConcurrency: null });
    expect(failing.result.capacity?.probes[0]?.trials[0]?.violations).toContain("error rate 100.0% > 1%");
  });
});

describe("the reference reader (the transport floor that bench-accuracy and bench:harness compare with)", () => {
  it("decodes the stream, counts the tokens of multi-token chunks and spreads ITL error per token", async () => {
    const floor = await runReferenceReader({
      url: server.url,
      concurrency: 2,
      requests: 4,
      maxTokens: 10,
      extra: { scripted: { tokensPerChunk: 3, ttftMs: 5, itlMs: 2 } },
    });
    expect(floor).toMatchObject({ completed: 4, failed: 0, tokens: 40 });
    expect(floor.ttftErrorsMs).toHaveLength(4);
    // Chunks of 3, 3, 3 and 1 token: the tokens after the first chunk, 7 per request, as the harness counts ITL.
    expect(floor.itlErrorsMs).toHaveLength(28);
    // Errors, not times: an arrival compared with the wrong clock would be off by the process's age or more.
    for (const e of [...floor.ttftErrorsMs, ...floor.itlErrorsMs]) {
      expect(e).toBeGreaterThanOrEqual(0);
      expect(e).toBeLessThan(1000);
    }
    expect(floor.wallMs).toBeGreaterThan(0);
  });

  it("counts a failed request and drops its connection: HTTP status, reset mid-stream", async () => {
    const run = (scripted: Partial<ScriptedScript>) =>
      runReferenceReader({
        url: server.url,
        concurrency: 1,
        requests: 3,
        maxTokens: 6,
        warmup: 0,
        extra: { scripted },
      });
    expect(await run({ error: "status", errorStatus: 503 })).toMatchObject({ completed: 0, failed: 1 });
    expect(await run({ error: "reset", errorAfterTokens: 2 })).toMatchObject({ completed: 0, failed: 1 });
  });
});
