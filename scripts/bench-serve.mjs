#!/usr/bin/env node
/**
 * servelab against llama.cpp's own llama-server on the same GGUF and machine, side by side in one run.
 *
 *   npm run bench:serve -- --model ~/.cache/servelab/models/deepseek-r1-distill-qwen-1.5b-q8_0.gguf
 *   npm run bench:serve -- --quick            # one round, fewer requests (about 4 minutes on 2 cores)
 *
 * Each round starts one server at a time (never two on a small machine): `servelab serve`, then llama-server
 * (the order alternates between rounds), and measures with servelab's own load generator (runBench):
 *   - aggregate output tokens/s at each --concurrency (fixed max_tokens with ignore_eos);
 *   - TTFT at concurrency 1 on prompts never seen before (cold) and on one prompt sent again (prompt cache);
 * The default API is /v1/completions: a synthetic model's random output makes llama-server's chat parser fail
 * mid-stream ("does not match the expected peg-native format"); --api chat measures the chat path anyway.
 * Then the embedded engine alone, in this process, on the same prompts at the same concurrency, against which
 * the servelab HTTP figure gives the HTTP layer's overhead. Prints medians over rounds and the ratios, and
 * writes everything to --json (default results/bench-serve-<time>.json).
 *
 * llama-server is not part of servelab: build it outside the repo (../shared/peers/build-llama-server.sh) and
 * pass --llama-server PATH or set LLAMA_SERVER; default /tmp/llama-peer/build/bin/llama-server. Without it the
 * llama-server columns are skipped, and the script says so.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { runBench } from "../dist/bench/index.js";
import { createSyntheticWorkload } from "../dist/bench/workloads.js";
import { loadGgufTokenizer } from "../dist/bench/tokenizer.js";
import { createLlamaCppEngine } from "../dist/engines/llama-cpp.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    "llama-server": { type: "string" },
    concurrency: { type: "string", default: "1,4,8" },
    parallel: { type: "string" },
    "ctx-size": { type: "string", default: "1024" },
    threads: { type: "string" },
    "input-tokens": { type: "string", default: "32" },
    "max-tokens": { type: "string", default: "64" },
    "requests-per-stream": { type: "string", default: "2" },
    "ttft-input-tokens": { type: "string", default: "128" },
    "ttft-requests": { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    api: { type: "string", default: "completions" },
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`usage: node scripts/bench-serve.mjs [--model FILE.gguf] [--llama-server PATH] [--concurrency 1,4,8]
  [--parallel N (default: the largest concurrency)] [--ctx-size 1024 (per sequence)] [--threads N (default: cores)]
  [--input-tokens 32] [--max-tokens 64] [--requests-per-stream 2] [--ttft-input-tokens 128] [--ttft-requests 5]
  [--rounds 3] [--api completions|chat] [--only servelab,llama-server,engine] [--quick] [--json FILE]`);
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
const parallel = values.parallel === undefined ? Math.max(...levels) : int("parallel", values.parallel);
const ctxSize = int("ctx-size", values["ctx-size"]);
const threads = values.threads === undefined ? os.availableParallelism() : int("threads", values.threads);
const inputTokens = int("input-tokens", values["input-tokens"]);
const maxTokens = int("max-tokens", values["max-tokens"]);
const perStream = values.quick ? 1 : int("requests-per-stream", values["requests-per-stream"]);
const ttftInput = int("ttft-input-tokens", values["ttft-input-tokens"]);
const ttftRequests = values.quick ? 3 : int("ttft-requests", values["ttft-requests"]);
const rounds = values.quick ? 1 : int("rounds", values.rounds);
const api = values.api === "chat" ? "chat" : "completions";
const only = new Set((values.only ?? "servelab,llama-server,engine").split(",").map((s) => s.trim()));

const modelPath = path.resolve(values.model ?? findDefaultModel());
if (!existsSync(modelPath)) fail(`model not found: ${modelPath}`);
const llamaServer =
  values["llama-server"] ?? process.env.LLAMA_SERVER ?? "/tmp/llama-peer/build/bin/llama-server";
let haveLlamaServer = only.has("llama-server") && existsSync(llamaServer);
if (only.has("llama-server") && !haveLlamaServer)
  console.error(
    `llama-server not found at ${llamaServer}: its columns are skipped.\n` +
      `  build it outside the repo (../shared/peers/build-llama-server.sh) and pass --llama-server PATH or set LLAMA_SERVER`,
  );

const cliEntry = new URL("../dist/cli/index.js", import.meta.url).pathname;
const log = (s) => process.stderr.write(`${s}\n`);

function fail(message) {
  console.error(message);
  process.exit(2);
}

function findDefaultModel() {
  const dir = path.join(os.homedir(), ".cache", "servelab", "models");
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const hit = files.find((f) => /deepseek-r1-distill-qwen-1\.5b.*q8_0.*\.gguf$/i.test(f));
  if (hit === undefined)
    fail(
      `no --model given and no synthetic model in ${dir}; make one with:\n  node dist/cli/index.js synth deepseek-r1-distill-qwen-1.5b --type q8_0`,
    );
  return path.join(dir, hit);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url, child, name, timeoutMs = 180_000) {
  const started = Date.now();
  let exited = null;
  child.once("exit", (code, signal) => (exited = signal ?? code));
  while (Date.now() - started < timeoutMs) {
    if (exited !== null) throw new Error(`${name} exited (${exited}) before it was ready`);
    try {
      const res = await fetch(`${url}/models`);
      if (res.ok) {
        const health = await fetch(url.replace(/\/v1$/, "/health"));
        if (health.ok) return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} not ready after ${timeoutMs / 1000} s`);
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await done;
  clearTimeout(timer);
}

async function startServelab() {
  const port = await freePort();
  const args = [cliEntry, "serve", "--model", modelPath, "--parallel", String(parallel)];
  args.push(
    "--ctx-size",
    String(ctxSize),
    "--threads",
    String(threads),
    "--gpu",
    "cpu",
    "--port",
    String(port),
  );
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}/v1`;
  try {
    await waitReady(url, child, "servelab serve");
  } catch (err) {
    await stopChild(child);
    throw new Error(`${err.message}\n${stderr}`);
  }
  return { url, child, command: `node dist/cli/index.js ${args.slice(1).join(" ")}` };
}

async function startLlamaServer() {
  const port = await freePort();
  // -c is the whole KV cache, shared by the -np slots: give each slot what servelab gives a sequence.
  const args = ["-m", modelPath, "-np", String(parallel), "-t", String(threads), "-tb", String(threads)];
  args.push("-c", String(ctxSize * parallel), "--host", "127.0.0.1", "--port", String(port), "-ngl", "0");
  const child = spawn(llamaServer, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}/v1`;
  try {
    await waitReady(url, child, "llama-server");
  } catch (err) {
    await stopChild(child);
    throw new Error(`${err.message}\n${stderr}`);
  }
  return { url, child, command: `${llamaServer} ${args.join(" ")}` };
}

// The vocabulary is loaded only while it is needed (runBench loads its own from the path): a second model
// held in this process during the engine-alone runs would not be there in `servelab serve`.
const tokenizer = await loadGgufTokenizer(modelPath);
const repeatedWorkload = path.join(os.tmpdir(), `servelab-bench-serve-repeat-${process.pid}.jsonl`);
{
  const w = await createSyntheticWorkload({
    inputTokens: { kind: "fixed", value: ttftInput },
    seed: 7,
    tokenizer,
  });
  writeFileSync(repeatedWorkload, `${JSON.stringify({ prompt: w.item(0).prompt })}\n`);
  await tokenizer.dispose?.();
}

const common = {
  api,
  tokenizer: modelPath,
  out: false,
  sampleGpu: false,
  readMetrics: false,
  timeout: "600s",
};

/** Records the first failure of a bench, so a run with failed requests says why. */
const errorHook = () => {
  const hooks = {
    error: undefined,
    onRequest: (rec) => {
      if (!rec.ok && hooks.error === undefined) hooks.error = rec.error;
    },
  };
  return hooks;
};

/** Throughput at each level, then TTFT cold and repeated, against one running server. */
async function measureServer(url, round) {
  const throughput = {};
  for (const c of levels) {
    const hooks = errorHook();
    const r = await runBench(
      {
        ...common,
        url,
        workload: "synthetic",
        inputTokens,
        maxTokens,
        ignoreEos: true,
        concurrency: [c],
        requests: c * perStream,
        warmup: 1,
        seed: 1,
      },
      hooks,
    );
    const run = r.levels[0].runs[0];
    throughput[c] = {
      outputTokensPerSecond: run.outputTokensPerSecond,
      completed: run.completed,
      failed: run.failed,
      itlP50Ms: run.itl.p50,
      inputTokensP50: run.inputTokens?.p50 ?? null,
      notes: r.notes,
    };
    log(
      `    c=${c}: ${run.outputTokensPerSecond.toFixed(2)} tok/s (${run.completed} ok, ${run.failed} failed)`,
    );
    if (hooks.error !== undefined) log(`      first failure: ${JSON.stringify(hooks.error)}`);
  }
  // Prompts of a seed never used before: only the chat template's first tokens can be cached.
  const cold = await runBench({
    ...common,
    url,
    workload: "synthetic",
    inputTokens: ttftInput,
    maxTokens: 4,
    ignoreEos: true,
    concurrency: [1],
    requests: ttftRequests,
    warmup: 0,
    seed: 1000 + round,
  });
  const repeated = await runBench({
    ...common,
    url,
    workload: repeatedWorkload,
    maxTokens: 4,
    ignoreEos: true,
    concurrency: [1],
    requests: ttftRequests,
    warmup: 1,
  });
  const ttft = {
    coldMs: cold.levels[0].runs[0].ttft.p50,
    repeatedMs: repeated.levels[0].runs[0].ttft.p50,
    coldInputTokens: cold.levels[0].runs[0].inputTokens?.p50 ?? null,
  };
  log(`    TTFT c=1: cold ${ttft.coldMs.toFixed(1)} ms, repeated prompt ${ttft.repeatedMs.toFixed(1)} ms`);
  return { throughput, ttft };
}

/** The embedded engine alone, no HTTP: the same prompts, template and lengths, closed loop at each level. */
async function measureEngine() {
  const engine = createLlamaCppEngine({
    model: modelPath,
    parallel,
    contextSize: ctxSize,
    threads,
    gpu: "cpu",
  });
  await engine.load();
  const workload = await createSyntheticWorkload({
    inputTokens: { kind: "fixed", value: inputTokens },
    seed: 1,
    tokenizer: { countTokens: (text) => engine.countTokens(text) },
  });
  const generateOne = async (index) => {
    const item = workload.item(index % workload.size);
    const input =
      api === "chat" ? { type: "chat", messages: item.messages } : { type: "text", text: item.prompt };
    let tokens = 0;
    for await (const e of engine.generate({
      input,
      maxTokens,
      ignoreEos: true,
      sampling: { temperature: 0.6, topP: 0.95 },
    }))
      if (e.type === "done") tokens = e.completionTokens;
    return tokens;
  };
  const closedLoop = async (c, count) => {
    let next = 0;
    let tokens = 0;
    const t0 = performance.now();
    let firstStart;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < count) {
          const i = next++;
          firstStart ??= performance.now();
          const generated = await generateOne(i); // not `tokens += await`: that reads tokens before the await
          tokens += generated;
        }
      }),
    );
    return tokens / ((performance.now() - (firstStart ?? t0)) / 1000);
  };
  const throughput = {};
  try {
    for (const c of levels) {
      await closedLoop(1, 1); // warmup, as the HTTP runs have
      const tps = await closedLoop(c, c * perStream);
      throughput[c] = { outputTokensPerSecond: tps };
      log(`    c=${c}: ${tps.toFixed(2)} tok/s`);
    }
  } finally {
    await engine.dispose();
  }
  return { throughput };
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = { servelab: [], "llama-server": [], engine: [] };
const commands = {};
const t0 = performance.now();
for (let round = 1; round <= rounds; round++) {
  const order = ["servelab", "llama-server"];
  if (round % 2 === 0) order.reverse();
  for (const name of order) {
    if (name === "servelab" && !only.has("servelab")) continue;
    if (name === "llama-server" && !haveLlamaServer) continue;
    log(`round ${round}/${rounds}: ${name}`);
    const server = name === "servelab" ? await startServelab() : await startLlamaServer();
    commands[name] = server.command;
    try {
      results[name].push(await measureServer(server.url, round));
    } finally {
      await stopChild(server.child);
    }
  }
  if (only.has("engine")) {
    log(`round ${round}/${rounds}: engine alone (in process)`);
    results.engine.push(await measureEngine());
  }
}

// Per-round ratios (servers measured minutes apart in the same round), then medians over rounds.
const perRound = (fn) => median(Array.from({ length: rounds }, (_, i) => fn(i)));
const tps = (name, i, c) => results[name][i]?.throughput[c]?.outputTokensPerSecond ?? NaN;
const summary = { throughput: {}, ttft: {} };
for (const c of levels)
  summary.throughput[c] = {
    servelab: perRound((i) => tps("servelab", i, c)),
    llamaServer: perRound((i) => tps("llama-server", i, c)),
    engine: perRound((i) => tps("engine", i, c)),
    servelabOverLlamaServer: perRound((i) => tps("servelab", i, c) / tps("llama-server", i, c)),
    httpOverheadPercent: perRound((i) => (1 - tps("servelab", i, c) / tps("engine", i, c)) * 100),
  };
for (const kind of ["coldMs", "repeatedMs"]) {
  const t = (name, i) => results[name][i]?.ttft[kind] ?? NaN;
  summary.ttft[kind] = {
    servelab: perRound((i) => t("servelab", i)),
    llamaServer: perRound((i) => t("llama-server", i)),
    servelabOverLlamaServer: perRound((i) => t("servelab", i) / t("llama-server", i)),
  };
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const rows = [["", "servelab", "llama-server", "ratio", "engine alone", "HTTP overhead"]];
for (const c of levels) {
  const s = summary.throughput[c];
  rows.push([
    `tok/s c=${c}`,
    f(s.servelab, 2),
    f(s.llamaServer, 2),
    `${f(s.servelabOverLlamaServer, 2)}x`,
    f(s.engine, 2),
    `${f(s.httpOverheadPercent, 1)}%`,
  ]);
}
for (const [kind, label] of [
  ["coldMs", "TTFT c=1 cold (ms)"],
  ["repeatedMs", "TTFT c=1 repeated (ms)"],
]) {
  const s = summary.ttft[kind];
  rows.push([label, f(s.servelab), f(s.llamaServer), `${f(s.servelabOverLlamaServer, 2)}x`, "", ""]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const table = rows.map((r) =>
  r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "),
);
console.log(
  `\n${path.basename(modelPath)}, ${threads} threads, parallel ${parallel}, ctx ${ctxSize}/sequence, ` +
    `${inputTokens} in / ${maxTokens} out (ignore_eos), TTFT prompts ${ttftInput} tokens; ` +
    `medians of ${rounds} round(s); ratios are servelab / llama-server per round, then the median\n`,
);
console.log(table.join("\n"));

const out =
  values.json ?? path.join("results", `bench-serve-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
      options: {
        model: modelPath,
        levels,
        parallel,
        ctxSize,
        threads,
        inputTokens,
        maxTokens,
        perStream,
        ttftInput,
        ttftRequests,
        rounds,
        api,
      },
      commands,
      wallS: (performance.now() - t0) / 1000,
      summary,
      rounds: results,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(0);
