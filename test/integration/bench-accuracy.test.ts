/**
 * Accuracy of the bench harness against the scripted-timing server running in its own process. Each chunk
 * carries the monotonic time the server really wrote it (x_sent), so the comparison measures the error on the
 * reading side, not the server's timer lateness.
 *
 * The reading side has a floor that is not the harness's: on this 2-vCPU VM, loopback delivery, waking an
 * idle process and the scheduler put the p99 error of a bare `node:net` reader at 1 to 5 ms at concurrency 1
 * and at 3 to 30 ms at 256, and that p99 moves by a millisecond or more from one run to the next even at
 * c=1. So each attempt measures the floor with the reference reader (same concurrency, requests and lengths,
 * same server, same process) in rounds alternating with the harness, and the harness may exceed the floor's
 * p99 by 0.5 ms plus two standard errors of the difference (bootstrapped over the floor's rounds: no
 * comparison of two runs resolves less), and 1 ms is always allowed. Error the harness adds itself (per-chunk
 * instead of per-token ITL, a blocked event loop, queueing of its own) shows up above that; each attempt
 * prints both p99s, the standard error and the allowance.
 */
import { getPriority, setPriority } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runBench } from "../../src/bench/index.js";
import type { RequestRecord } from "../../src/bench/index.js";
import { computePercentile } from "../../src/bench/stats.js";
import { createRandom } from "../../src/bench/workloads.js";
import { runReferenceReader } from "../../src/bench/testing/reference-reader.js";
import { monotonicOffsetMs, spawnScriptedServer } from "../helpers/bench-scripted-server.js";
import type { ScriptedProcess } from "../helpers/bench-scripted-server.js";

interface ChunkTruth {
  sent: number;
  tokens: number;
}

function truthOf(record: RequestRecord): ChunkTruth[] {
  return (record.chunkLog ?? []).map((c) => {
    const json = JSON.parse(c.data) as { x_sent: number; x_tokens: number };
    return { sent: json.x_sent, tokens: json.x_tokens };
  });
}

/** Absolute errors (ms) of TTFT and of every per-token ITL value, against the server's send times. */
function measureErrors(records: RequestRecord[], offset: number): { ttft: number[]; itl: number[] } {
  const ttft: number[] = [];
  const itl: number[] = [];
  for (const r of records) {
    const log = r.chunkLog ?? [];
    const truth = truthOf(r);
    const first = log[0];
    const firstTruth = truth[0];
    if (first === undefined || firstTruth === undefined || r.ttftMs === null) continue;
    // Harness TTFT = first arrival - send; the true value is the server's first write - send.
    const startMono = first.at - r.ttftMs + offset;
    ttft.push(Math.abs(r.ttftMs - (firstTruth.sent - startMono)));
    let j = 0;
    for (let i = 1; i < truth.length; i++) {
      const t = truth[i] as ChunkTruth;
      const perTokenTruth = (t.sent - (truth[i - 1] as ChunkTruth).sent) / t.tokens;
      for (let k = 0; k < t.tokens; k++) itl.push(Math.abs((r.itl?.[j++] ?? NaN) - perTokenTruth));
    }
    expect(j).toBe(r.itl?.length);
  }
  return { ttft, itl };
}

const median = (values: number[]): number =>
  computePercentile(
    [...values].sort((a, b) => a - b),
    50,
  );

const p99 = (values: number[]): number =>
  computePercentile(
    [...values].sort((a, b) => a - b),
    99,
  );

interface Errors {
  ttft: number[];
  itl: number[];
}

/**
 * A side's p99 error and its standard error: the spread of p99 over bootstrap resamples of whole rounds (the
 * errors of one round are not independent: one stall of the machine delays many chunks at c=256).
 */
function judge(rounds: Errors[], key: keyof Errors): { p99: number; se: number } {
  const random = createRandom(1);
  const resampled: number[] = [];
  for (let b = 0; b < 200; b++) {
    const pool: number[] = [];
    for (let i = 0; i < rounds.length; i++)
      pool.push(...(rounds[Math.floor(random() * rounds.length)] as Errors)[key]);
    resampled.push(p99(pool));
  }
  const mean = resampled.reduce((x, y) => x + y, 0) / resampled.length;
  const se = Math.sqrt(resampled.reduce((x, y) => x + (y - mean) ** 2, 0) / (resampled.length - 1));
  return { p99: p99(rounds.flatMap((r) => r[key])), se };
}

/**
 * What the harness may show at p99: the floor + 0.5 ms + two standard errors of the difference of two such
 * measurements (the least a comparison of two runs can resolve here), and never less than 1 ms.
 */
const allowedMs = (floor: { p99: number; se: number }): number =>
  Math.max(1, floor.p99 + 0.5 + 2 * Math.SQRT2 * floor.se);

/** One attempt's verdict on one metric: the harness's p99 and what it may be (ms). */
interface Judged {
  harness: number;
  allowed: number;
}

describe("bench accuracy against the scripted server (separate process)", () => {
  let server: ScriptedProcess;
  let priorityBefore: number | undefined;
  beforeAll(async () => {
    server = await spawnScriptedServer(["--ttft", "50", "--itl", "10"]);
    // As one would run a real benchmark (nice -n -10): where permitted, the harness gets the CPU first for
    // these few seconds. Not permitted (no root) means measuring as is.
    try {
      priorityBefore = getPriority();
      setPriority(-10);
    } catch {
      priorityBefore = undefined;
    }
  });
  afterAll(async () => {
    if (priorityBefore !== undefined) setPriority(priorityBefore);
    await server.stop();
  });

  /** The reference reader's errors over `requests` requests: the floor of this moment. */
  async function measureFloor(
    concurrency: number,
    requests: number,
    maxTokens: number,
    warmup: number,
  ): Promise<Errors> {
    const floor = await runReferenceReader({ url: server.url, concurrency, requests, maxTokens, warmup });
    expect(floor.completed).toBe(requests);
    expect(floor.failed).toBe(0);
    expect(floor.tokens).toBe(requests * maxTokens);
    expect(floor.itlErrorsMs.length).toBe(requests * (maxTokens - 1));
    return { ttft: floor.ttftErrorsMs, itl: floor.itlErrorsMs };
  }

  /** The harness's errors over `requests` requests, with its sanity checks; also its own TTFT and ITL p50. */
  async function measureHarness(
    concurrency: number,
    requests: number,
    maxTokens: number,
    warmup: number,
  ): Promise<Errors & { ttftP50: number; itlP50: number }> {
    const records: RequestRecord[] = [];
    const result = await runBench(
      {
        url: server.url,
        workload: "synthetic",
        inputTokens: 16,
        maxTokens,
        concurrency: [concurrency],
        requests,
        warmup,
        out: false,
        keepChunks: true,
        sampleGpu: false,
        readMetrics: false,
      },
      { onRequest: (r) => (r.warmup ? undefined : records.push(r)) },
    );
    const run = result.levels[0]?.runs[0];
    expect(run?.completed).toBe(requests);
    expect(run?.failed).toBe(0);
    expect(run?.tokenCountMethods.usage).toBe(requests);
    expect(run?.outputTokens.min).toBe(maxTokens);
    const errors = measureErrors(records, monotonicOffsetMs());
    expect(errors.itl.length).toBe(requests * (maxTokens - 1));
    return { ...errors, ttftP50: run?.ttft.p50 ?? 0, itlP50: run?.itl.p50 ?? 0 };
  }

  // The harness shares 2 cores with other work and the floor moves with that work from second to second, so an
  // attempt alternates floor and harness in short rounds (each pair sees about the same machine). Contention only
  // ever adds error, so each metric is judged on its best attempt; attempts stop once both have passed.
  test.each([
    // c=1: 60 requests of 8 tokens a side in 6 rounds of 10 (1.2 s, and a warm-up), about 16 s an attempt: 420
    // ITL samples (p99 between the 4th and 5th worst, where 184 let the 2nd-worst decide) and 60 TTFT.
    { concurrency: 1, requests: 10, rounds: 6, maxTokens: 8, attempts: 2 },
    // c=256: every stream starts and sends in the same instant, as a batching server's do (the worst case for
    // the reading side); 4 rounds of 256 requests, about 3 s an attempt.
    { concurrency: 256, requests: 256, rounds: 4, maxTokens: 12, attempts: 3 },
  ])(
    "TTFT and per-token ITL within max(1 ms, floor + 0.5 ms + 2 standard errors) of the truth at p99, concurrency $concurrency",
    async ({ concurrency, requests, rounds, maxTokens, attempts }) => {
      const lines: string[] = [];
      const best: Partial<Record<keyof Errors, Judged>> = {};
      const over = (j: Judged | undefined): boolean => j === undefined || j.harness > j.allowed;
      const ttftP50: number[] = [];
      const itlP50: number[] = [];
      for (let attempt = 1; attempt <= attempts && (over(best.itl) || over(best.ttft)); attempt++) {
        const floor: Errors[] = [];
        const harness: Errors[] = [];
        for (let round = 0; round < rounds; round++) {
          // One warm-up request per stream each round, as a bench runs: every runBench call opens new connections,
          // and at c=256 opening them while the first streams already deliver would be counted as its error.
          floor.push(await measureFloor(concurrency, requests, maxTokens, concurrency));
          const h = await measureHarness(concurrency, requests, maxTokens, concurrency);
          harness.push(h);
          ttftP50.push(h.ttftP50);
          itlP50.push(h.itlP50);
        }
        const shown: string[] = [];
        for (const key of ["itl", "ttft"] as const) {
          const f = judge(floor, key);
          const j: Judged = { harness: judge(harness, key).p99, allowed: allowedMs(f) };
          shown.push(
            `|${key.toUpperCase()} error| p99 harness ${j.harness.toFixed(3)} ms, floor ${f.p99.toFixed(3)} ` +
              `± ${f.se.toFixed(3)} ms (allowed ${j.allowed.toFixed(3)})${over(j) ? " -> over" : ""}`,
          );
          const b = best[key];
          if (b === undefined || j.harness - j.allowed < b.harness - b.allowed) best[key] = j;
        }
        lines.push(`attempt ${attempt}: ${shown.join("; ")}`);
      }
      const report = `c=${concurrency}: ${lines.join("; ")}`;
      console.log(report);
      expect(best.itl?.harness, report).toBeLessThanOrEqual(best.itl?.allowed ?? 0);
      expect(best.ttft?.harness, report).toBeLessThanOrEqual(best.ttft?.allowed ?? 0);
      // The figures should be the script's (the server's timers may be late under load, never early); a harness
      // starved of CPU reads several chunks at once and sees ITL near 0: the median round's p50s.
      expect(median(ttftP50)).toBeGreaterThanOrEqual(49.5);
      expect(median(itlP50)).toBeGreaterThan(9);
    },
    120_000,
  );
});
