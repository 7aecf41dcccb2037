#!/usr/bin/env node
/**
 * What `servelab serve --engine url:...` (the gateway) costs in front of an OpenAI-compatible server.
 *
 *   npm run bench:gateway
 *   npm run bench:gateway -- --rounds 5 --concurrency 1,64,256 --itl 10 --tokens 64
 *
 * The upstream is the scripted-timing server (its own process; every stream follows a fixed script of TTFT
 * and inter-token interval), so any difference between going direct and going through the gateway is the
 * gateway's. For each round and level, runBench measures direct, then through the gateway (the order
 * alternates between rounds). Added latency = gateway - direct at the median (TTFT and end-to-end, at
 * concurrency 1 by default); throughput = gateway / direct output tokens/s at each level. Medians over rounds.
 * Needs `npm run build` first (the npm script does it).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { runBench } from "../dist/bench/index.js";

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "1,64,256" },
    ttft: { type: "string", default: "20" },
    itl: { type: "string", default: "10" },
    tokens: { type: "string", default: "64" },
    "latency-requests": { type: "string", default: "200" },
    "requests-per-stream": { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`usage: node scripts/bench-gateway.mjs [--concurrency 1,64,256] [--ttft 20] [--itl 10] [--tokens 64]
  [--latency-requests 200 (at concurrency 1)] [--requests-per-stream 3] [--rounds 3] [--quick] [--json FILE]`);
  process.exit(0);
}
const int = (name, v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const levels = values.concurrency.split(",").map((s) => int("concurrency", s.trim()));
const tokens = int("tokens", values.tokens);
const rounds = values.quick ? 1 : int("rounds", values.rounds);
const latencyRequests = values.quick ? 50 : int("latency-requests", values["latency-requests"]);
const perStream = values.quick ? 1 : int("requests-per-stream", values["requests-per-stream"]);
const log = (s) => process.stderr.write(`${s}\n`);

const root = new URL("..", import.meta.url).pathname;
const upstreamArgs = [
  path.join(root, "dist/bench/testing/scripted-server-main.js"),
  "--port",
  "0",
  "--exit-on-stdin-close",
  "--ttft",
  values.ttft,
  "--itl",
  values.itl,
];
const upstream = spawn(process.execPath, upstreamArgs, { stdio: ["pipe", "pipe", "inherit"] });
const direct = await new Promise((resolve, reject) => {
  createInterface({ input: upstream.stdout }).once("line", (l) => resolve(l.trim()));
  upstream.once("exit", (c) => reject(new Error(`scripted server exited ${c}`)));
});

const port = await new Promise((resolve, reject) => {
  const s = createServer();
  s.once("error", reject);
  s.listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const gatewayArgs = [
  path.join(root, "dist/cli/index.js"),
  "serve",
  "--engine",
  `url:${direct}`,
  "--port",
  String(port),
  "--parallel",
  String(Math.max(...levels)),
  "--max-queue",
  "100000",
  // Every bench request comes from one address: lift the per-client limit (default 128).
  "--max-concurrent-per-client",
  "100000",
];
const gateway = spawn(process.execPath, gatewayArgs, { stdio: ["ignore", "ignore", "inherit"] });
const through = `http://127.0.0.1:${port}/v1`;
for (let i = 0; ; i++) {
  if (gateway.exitCode !== null) throw new Error("the gateway exited before it was ready");
  try {
    if ((await fetch(`${through}/models`)).ok) break;
  } catch {
    // not listening yet
  }
  if (i > 240) throw new Error("the gateway was not ready after 60 s");
  await new Promise((r) => setTimeout(r, 250));
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

async function measure(url, c) {
  const viaGateway = url === through;
  const cpu0 = viaGateway ? cpuMs(gateway.pid) : NaN;
  const r = await runBench({
    url,
    workload: "synthetic",
    inputTokens: 16,
    maxTokens: tokens,
    ignoreEos: true,
    concurrency: [c],
    requests: c === 1 ? latencyRequests : c * perStream,
    warmup: Math.min(c * 2, 200),
    out: false,
    sampleGpu: false,
    readMetrics: false,
  });
  const run = r.levels[0].runs[0];
  // Warm-up requests stream through the gateway too, so they count in its CPU time.
  const streamedTokens = (run.completed + Math.min(c * 2, 200)) * tokens;
  return {
    gatewayCpuUsPerToken: viaGateway ? ((cpuMs(gateway.pid) - cpu0) * 1000) / streamedTokens : undefined,
    outputTokensPerSecond: run.outputTokensPerSecond,
    ttftP50Ms: run.ttft.p50,
    ttftP99Ms: run.ttft.p99,
    e2eP50Ms: run.e2e.p50,
    itlP50Ms: run.itl.p50,
    completed: run.completed,
    failed: run.failed,
  };
}

const results = [];
const t0 = performance.now();
try {
  for (let round = 1; round <= rounds; round++)
    for (const c of levels) {
      const order = round % 2 === 1 ? ["direct", "gateway"] : ["gateway", "direct"];
      const entry = { round, concurrency: c };
      for (const which of order) entry[which] = await measure(which === "direct" ? direct : through, c);
      results.push(entry);
      log(
        `round ${round} c=${c}: direct ${entry.direct.outputTokensPerSecond.toFixed(0)} tok/s TTFT p50 ${entry.direct.ttftP50Ms.toFixed(2)} ms; ` +
          `gateway ${entry.gateway.outputTokensPerSecond.toFixed(0)} tok/s TTFT p50 ${entry.gateway.ttftP50Ms.toFixed(2)} ms` +
          (entry.direct.failed + entry.gateway.failed > 0
            ? ` (failed: ${entry.direct.failed} direct, ${entry.gateway.failed} gateway)`
            : ""),
      );
    }
} finally {
  gateway.kill("SIGTERM");
  upstream.stdin.end();
  upstream.kill("SIGTERM");
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = {};
for (const c of levels) {
  const rs = results.filter((r) => r.concurrency === c);
  const med = (f) => median(rs.map(f));
  summary[c] = {
    directTokensPerSecond: med((r) => r.direct.outputTokensPerSecond),
    gatewayTokensPerSecond: med((r) => r.gateway.outputTokensPerSecond),
    throughputRatio: med((r) => r.gateway.outputTokensPerSecond / r.direct.outputTokensPerSecond),
    addedTtftP50Ms: med((r) => r.gateway.ttftP50Ms - r.direct.ttftP50Ms),
    addedE2eP50Ms: med((r) => r.gateway.e2eP50Ms - r.direct.e2eP50Ms),
    addedItlP50Ms: med((r) => r.gateway.itlP50Ms - r.direct.itlP50Ms),
    gatewayCpuUsPerToken: med((r) => r.gateway.gatewayCpuUsPerToken),
  };
}

const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const rows = [
  [
    "level",
    "direct tok/s",
    "gateway tok/s",
    "ratio",
    "+TTFT p50 ms",
    "+e2e p50 ms",
    "+ITL p50 ms",
    "gateway CPU us/token",
  ],
];
for (const c of levels) {
  const s = summary[c];
  rows.push([
    `c=${c}`,
    f(s.directTokensPerSecond, 0),
    f(s.gatewayTokensPerSecond, 0),
    `${f(s.throughputRatio * 100, 1)}%`,
    f(s.addedTtftP50Ms, 3),
    f(s.addedE2eP50Ms, 3),
    f(s.addedItlP50Ms, 3),
    f(s.gatewayCpuUsPerToken, 1),
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(
  `\nscripted upstream: TTFT ${values.ttft} ms, ITL ${values.itl} ms, ${tokens} tokens per request; medians of ${rounds} round(s)\n`,
);
console.log(
  rows
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "))
    .join("\n"),
);

const out =
  values.json ?? path.join("results", `bench-gateway-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        node: process.version,
      },
      options: {
        levels,
        ttftMs: Number(values.ttft),
        itlMs: Number(values.itl),
        tokens,
        rounds,
        latencyRequests,
        perStream,
      },
      commands: {
        upstream: `node ${upstreamArgs.map((a) => path.relative(root, a) || a).join(" ")}`,
        gateway: `node ${gatewayArgs.map((a) => (a.startsWith(root) ? path.relative(root, a) : a)).join(" ")}`,
      },
      wallS: (performance.now() - t0) / 1000,
      summary,
      rounds: results,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${out}`);
process.exit(0);
