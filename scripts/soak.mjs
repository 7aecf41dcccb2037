#!/usr/bin/env node
/**
 * Soak test (not in CI): `servelab serve` as a child process under mixed load for a long time, its
 * resident memory sampled from /proc, and a verdict: RSS growth after warm-up below --max-growth.
 *
 *   npm run soak                                   # 30 min, tiny scripted model, concurrency 16
 *   npm run soak -- --minutes 10 --warmup 2 --out soak.json
 *   npm run soak -- --model r1.gguf --parallel 8 --threads 4
 *
 * The mix, per request: 40% chat, 25% streamed chat, 15% streamed completion, 10% streams the client
 * abandons at a random moment, 5% bad requests (400), 3% prompts longer than the context (400),
 * 2% unknown model (404). Unexpected statuses, bodies and a leaked sequence at the end fail the run.
 * Prints one line per minute and a summary; exits 1 when a check fails. Needs dist/ (npm run build).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    warmup: { type: "string", default: "2" },
    concurrency: { type: "string", default: "16" },
    parallel: { type: "string", default: "4" },
    threads: { type: "string", default: "1" },
    model: { type: "string" },
    "max-growth": { type: "string", default: "5" },
    out: { type: "string" },
    /** Share of requests whose client abandons the stream (default 0.1). */
    abandon: { type: "string", default: "0.1" },
  },
});
const minutes = Number(args.minutes);
const warmupMinutes = Number(args.warmup);
const concurrency = Number(args.concurrency);
const maxGrowth = Number(args["max-growth"]);

async function resolveModel() {
  if (args.model !== undefined) return args.model;
  const { synthesizeModel } = await import(join(root, "dist/models/synthesize.js"));
  const path = join(tmpdir(), "servelab-soak-model.gguf");
  const script = "<think>\nSum the digits one by one.\n</think>\n\nThe answer is \\boxed{42}.";
  await synthesizeModel({
    preset: "tiny-deepseek-r1-distill-qwen",
    type: "q8_0",
    outputPath: path,
    force: true,
    script,
  });
  return path;
}

function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kb * 1024;
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main() {
  const model = await resolveModel();
  const child = spawn(
    process.execPath,
    [
      join(root, "dist/cli/index.js"),
      "serve",
      "-m",
      model,
      "--port",
      "0",
      "--parallel",
      args.parallel,
      "--threads",
      args.threads,
      "--ctx-size",
      "512",
      "--max-queue",
      "256",
      "--max-concurrent-per-client",
      "1024",
    ],
    // The server stops when our stdin pipe closes (SERVELAB_STOP_WITH_PARENT), so it never outlives us.
    {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, SERVELAB_API_KEY: "", SERVELAB_STOP_WITH_PARENT: "1" },
    },
  );
  let stdout = "";
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (c) => {
      stdout += c;
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  const dispatcher = new Agent({ connections: concurrency * 2 });
  const counts = {};
  const unexpected = [];
  const count = (k) => (counts[k] = (counts[k] ?? 0) + 1);

  async function call(path, body, { stream = false, abandonAfterMs } = {}) {
    const controller = new AbortController();
    const timer =
      abandonAfterMs === undefined ? undefined : setTimeout(() => controller.abort(), abandonAfterMs);
    try {
      const res = await request(`${url}${path}`, {
        method: "POST",
        dispatcher,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...body, ...(stream ? { stream: true } : {}) }),
        signal: controller.signal,
      });
      const text = await res.body.text();
      return { status: res.statusCode, text };
    } catch (err) {
      if (controller.signal.aborted) return { status: "abandoned", text: "" };
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  const chat = { messages: [{ role: "user", content: "What is 40 + 2?" }], max_tokens: 64 };
  const kinds = [
    [
      0.5 - Number(args.abandon),
      "chat",
      () => call("/v1/chat/completions", chat),
      (r) => r.status === 200 && r.text.includes("boxed{42}"),
    ],
    [
      0.25,
      "chat-stream",
      () => call("/v1/chat/completions", chat, { stream: true }),
      (r) => r.status === 200 && r.text.endsWith("data: [DONE]\n\n") && !r.text.includes('"error"'),
    ],
    [
      0.15,
      "completion-stream",
      () => call("/v1/completions", { prompt: "Sum:", max_tokens: 32 }, { stream: true }),
      (r) => r.status === 200 && r.text.endsWith("data: [DONE]\n\n"),
    ],
    [
      Number(args.abandon),
      "abandoned",
      () => call("/v1/chat/completions", chat, { stream: true, abandonAfterMs: Math.random() * 40 }),
      (r) => r.status === "abandoned" || r.status === 200,
    ],
    [
      0.05,
      "bad-request",
      () => call("/v1/chat/completions", { messages: "nope", temperature: -3 }),
      (r) => r.status === 400 && r.text.startsWith('{"error":'),
    ],
    [
      0.03,
      "too-long",
      () => call("/v1/completions", { prompt: "word ".repeat(3000) }),
      (r) => r.status === 400 && r.text.includes("context_length_exceeded"),
    ],
    [
      0.02,
      "unknown-model",
      () => call("/v1/chat/completions", { ...chat, model: "../../etc/passwd" }),
      (r) => r.status === 404,
    ],
  ];
  const pick = () => {
    let x = Math.random();
    for (const kind of kinds) if ((x -= kind[0]) < 0) return kind;
    return kinds[0];
  };

  const started = Date.now();
  const endAt = started + minutes * 60_000;
  const warmupAt = started + warmupMinutes * 60_000;
  const samples = [];
  let baseline;
  const sampler = setInterval(() => {
    const t = Date.now();
    const rss = rssOf(child.pid);
    samples.push({ t: (t - started) / 1000, rss });
    if (baseline === undefined && t >= warmupAt) baseline = rss;
  }, 5_000);
  const reporter = setInterval(() => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const last = samples.at(-1);
    console.log(
      `${((Date.now() - started) / 60_000).toFixed(1)} min  ${total} requests  rss ${last ? mib(last.rss) : "?"}` +
        `${baseline === undefined ? "  (warming up)" : `  growth ${(((last.rss - baseline) / baseline) * 100).toFixed(2)}%`}  unexpected ${unexpected.length}`,
    );
  }, 60_000);

  const worker = async () => {
    while (Date.now() < endAt) {
      const [, name, run, ok] = pick();
      let r;
      try {
        r = await run();
      } catch (err) {
        r = { status: "error", text: String(err) };
      }
      count(name);
      if (!ok(r)) unexpected.push({ name, status: r.status, text: r.text.slice(0, 300) });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(sampler);
  clearInterval(reporter);

  // Afterwards: nothing running or waiting.
  await new Promise((r) => setTimeout(r, 500));
  const metrics = await (await request(`${url}/metrics`, { dispatcher })).body.text();
  const running = Number(/^servelab_requests_running (\S+)$/m.exec(metrics)?.[1]);
  const waiting = Number(/^servelab_requests_waiting (\S+)$/m.exec(metrics)?.[1]);
  const finalRss = rssOf(child.pid);
  const after = samples.filter((s) => s.t >= warmupMinutes * 60);
  const peak = Math.max(...after.map((s) => s.rss));
  // Growth judged on the last minute's median, so one sample caught mid-batch does not decide it.
  const lastMinute = samples
    .filter((s) => s.t >= minutes * 60 - 60)
    .map((s) => s.rss)
    .sort((a, b) => a - b);
  const endRss = lastMinute[Math.floor(lastMinute.length / 2)] ?? finalRss;
  const growth = ((endRss - baseline) / baseline) * 100;
  child.kill("SIGTERM");
  const exitCode = await new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  await dispatcher.close();

  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const summary = {
    date: new Date().toISOString(),
    minutes,
    warmupMinutes,
    concurrency,
    parallel: Number(args.parallel),
    threads: Number(args.threads),
    model,
    requests: total,
    requestsPerSecond: total / (minutes * 60),
    counts,
    unexpected: unexpected.length,
    unexpectedByKind: Object.fromEntries(
      Object.keys(counts).map((k) => [k, unexpected.filter((u) => u.name === k).length]),
    ),
    unexpectedSamples: unexpected.slice(0, 5),
    rssAfterWarmup: baseline,
    rssEnd: endRss,
    rssPeakAfterWarmup: peak,
    rssGrowthPercent: growth,
    runningAfter: running,
    waitingAfter: waiting,
    exitCode,
    samples,
  };
  if (args.out !== undefined) writeFileSync(args.out, JSON.stringify(summary, null, 2));
  console.log(
    [
      `requests        ${total} (${summary.requestsPerSecond.toFixed(1)}/s): ${JSON.stringify(counts)}`,
      `unexpected      ${unexpected.length}: ${JSON.stringify(summary.unexpectedByKind)}`,
      `rss             after warm-up ${mib(baseline)}, end ${mib(endRss)}, peak ${mib(peak)}, growth ${growth.toFixed(2)}% (limit ${maxGrowth}%)`,
      `after the load  running ${running}, waiting ${waiting}; SIGTERM exit code ${exitCode}`,
    ].join("\n"),
  );
  const pass =
    unexpected.length === 0 && growth < maxGrowth && running === 0 && waiting === 0 && exitCode === 0;
  console.log(pass ? "PASS" : "FAIL");
  process.exit(pass ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
