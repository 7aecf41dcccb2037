#!/usr/bin/env node
/**
 * How much streaming the bench harness ingests on one core while keeping its timing accurate.
 *
 *   npm run bench:harness -- --streams 1000 --itl 20 --tokens 100 --tokens-per-chunk 1
 *   npm run bench:harness -- --no-accuracy      # throughput and memory without the accuracy bookkeeping
 *
 * Starts the scripted-timing server in its own process (the harness gets the other core), runs runBench at
 * concurrency = streams, and prints: output tokens/s and chunks/s ingested, the harness's CPU use, its peak RSS,
 * and the p99 |error| of per-token ITL and of TTFT against the send times the server stamped in each chunk.
 * With accuracy on, the same streams and requests first go through the reference reader (plain node:net, no
 * parsing beyond the stamps; src/bench/testing/reference-reader.ts) in this process, against the same server:
 * its errors are the floor this machine delivers at that moment, which no harness can go below; both are
 * printed, side by side (--no-floor skips it).
 * Each request's TTFT gets a random 0 to --ttft-jitter ms (default: one ITL), so the streams, which all start
 * together, do not send every token in the same instant; --ttft-jitter 0 keeps them in lock-step (the worst
 * case: 1,000 chunks at once). With accuracy on, every chunk is kept and checked after the run (checking
 * as requests end would block the harness's event loop and add its own delay); the peak RSS then includes
 * those chunks, so read the harness's memory from a --no-accuracy run.
 * Needs `npm run build` first (the npm script does it).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { setPriority } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { runBench } from "../dist/bench/index.js";
import { runReferenceReader } from "../dist/bench/testing/reference-reader.js";
import { measureMonotonicOffsetMs } from "../dist/bench/testing/scripted-server.js";

const { values } = parseArgs({
  options: {
    streams: { type: "string", default: "1000" },
    itl: { type: "string", default: "20" },
    ttft: { type: "string", default: "20" },
    "ttft-jitter": { type: "string" },
    tokens: { type: "string", default: "100" },
    "tokens-per-chunk": { type: "string", default: "1" },
    requests: { type: "string" },
    accuracy: { type: "boolean", default: true },
    "no-accuracy": { type: "boolean" },
    "raise-priority": { type: "boolean" },
    "no-floor": { type: "boolean" },
  },
});
const streams = Number(values.streams);
const tokens = Number(values.tokens);
const requests = values.requests === undefined ? streams * 3 : Number(values.requests);
const checkAccuracy = values["no-accuracy"] !== true;
const measureFloor = checkAccuracy && values["no-floor"] !== true;

const serverEntry = new URL("../dist/bench/testing/scripted-server-main.js", import.meta.url).pathname;
const server = spawn(
  process.execPath,
  [
    serverEntry,
    "--port",
    "0",
    "--exit-on-stdin-close",
    "--ttft",
    values.ttft,
    "--itl",
    values.itl,
    "--ttft-jitter",
    values["ttft-jitter"] ?? values.itl,
    "--tokens-per-chunk",
    values["tokens-per-chunk"],
  ],
  { stdio: ["pipe", "pipe", "inherit"] },
);
const url = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once("line", (l) => resolve(l.trim()));
  server.once("exit", (c) => reject(new Error(`scripted server exited ${c}`)));
});

// The harness is measured, the server is not (its lateness is excluded through x_sent): let the harness win the CPU.
try {
  setPriority(server.pid, 10);
} catch {
  // not permitted: measure as is
}
let raised = false;
if (values["raise-priority"] === true) {
  try {
    setPriority(-10);
    raised = true;
  } catch {
    // not permitted (not root): measure as is
  }
}

// The floor first: same streams, requests (with one warm-up per stream) and lengths, against the same server.
let floor;
if (measureFloor) {
  floor = await runReferenceReader({
    url,
    concurrency: streams,
    requests,
    maxTokens: tokens,
    promptWords: 8,
  });
}

const offset = measureMonotonicOffsetMs();
const itlErrors = [];
const ttftErrors = [];
const kept = [];
const onRequest = (r) => {
  if (checkAccuracy && !r.warmup) kept.push(r);
};
const analyze = (r) => {
  if (r.chunkLog === undefined || r.ttftMs === null) return;
  const log = r.chunkLog;
  let prevSent;
  let j = 0;
  for (let i = 0; i < log.length; i++) {
    const c = log[i];
    const sent = JSON.parse(c.data).x_sent;
    if (i === 0) ttftErrors.push(Math.abs(c.at + offset - sent));
    else
      for (let k = 0; k < c.tokens; k++) itlErrors.push(Math.abs(r.itl[j++] - (sent - prevSent) / c.tokens));
    prevSent = sent;
  }
};

const loopDelay = monitorEventLoopDelay({ resolution: 2 });
loopDelay.enable();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const result = await runBench(
  {
    url,
    workload: "synthetic",
    inputTokens: 8,
    maxTokens: tokens,
    concurrency: [streams],
    requests,
    warmup: streams, // one request per stream: connection set-up and JIT warm-up stay out of the figures
    out: false,
    keepChunks: checkAccuracy,
    sampleGpu: false,
    readMetrics: false,
  },
  { onRequest },
);
const wallS = (performance.now() - t0) / 1000;
loopDelay.disable();
const cpu = process.cpuUsage(cpu0);
for (const r of kept) analyze(r);
server.stdin.end();
server.kill("SIGTERM");

const run = result.levels[0].runs[0];
const p99 = (xs) => {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
};
const cpuS = (cpu.user + cpu.system) / 1e6;
const report = {
  streams,
  requests: run.requests,
  failed: run.failed,
  tokensPerChunk: Number(values["tokens-per-chunk"]),
  ttftJitterMs: Number(values["ttft-jitter"] ?? values.itl),
  outputTokensPerSecond: Math.round(run.outputTokensPerSecond),
  chunksPerSecond: Math.round(run.outputTokensPerSecond / Number(values["tokens-per-chunk"])),
  harnessCpuPercentOfOneCore: Math.round((cpuS / wallS) * 100),
  harnessPeakRssMiB: Math.round(result.resources.harnessPeakRssMiB),
  itlP50Ms: run.itl.p50,
  itlErrorP99Ms: checkAccuracy ? p99(itlErrors) : null,
  ttftErrorP99Ms: checkAccuracy ? p99(ttftErrors) : null,
  accuracySamples: itlErrors.length,
  floorItlErrorP99Ms: floor === undefined ? null : p99(floor.itlErrorsMs),
  floorTtftErrorP99Ms: floor === undefined ? null : p99(floor.ttftErrorsMs),
  floorSamples: floor === undefined ? null : floor.itlErrorsMs.length,
  floorNotCompleted: floor === undefined ? null : requests - floor.completed,
  floorTokensPerSecond: floor === undefined ? null : Math.round(floor.tokens / (floor.wallMs / 1000)),
  floorCpuPercentOfOneCore: floor === undefined ? null : Math.round((floor.cpuMs / floor.wallMs) * 100),
  raisedPriority: raised,
  // Event-loop delay beyond the 2 ms sampling resolution: the harness blocked or descheduled (noise on a shared machine).
  loopDelayP99Ms: loopDelay.percentile(99) / 1e6 - 2,
  loopDelayMaxMs: loopDelay.max / 1e6 - 2,
};
console.log(JSON.stringify(report));
console.log(
  `${streams} streams: ${report.outputTokensPerSecond} tok/s ingested (${report.chunksPerSecond} chunks/s), harness CPU ${report.harnessCpuPercentOfOneCore}% of one core, peak RSS ${report.harnessPeakRssMiB} MiB` +
    (checkAccuracy
      ? `, |ITL error| p99 ${report.itlErrorP99Ms.toFixed(3)} ms, |TTFT error| p99 ${report.ttftErrorP99Ms.toFixed(3)} ms`
      : ""),
);
if (floor !== undefined)
  console.log(
    `floor (reference reader, same ${streams} streams): |ITL error| p99 ${report.floorItlErrorP99Ms.toFixed(3)} ms, ` +
      `|TTFT error| p99 ${report.floorTtftErrorP99Ms.toFixed(3)} ms, ${report.floorTokensPerSecond} tok/s, ` +
      `${report.floorCpuPercentOfOneCore}% of one core; ` +
      `harness - floor: ITL ${(report.itlErrorP99Ms - report.floorItlErrorP99Ms).toFixed(3)} ms, ` +
      `TTFT ${(report.ttftErrorP99Ms - report.floorTtftErrorP99Ms).toFixed(3)} ms`,
  );
process.exit(0);
