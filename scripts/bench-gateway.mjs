#!/usr/bin/env node
/**
 * What `servelab serve --engine url:...` (the gateway) costs in front of an OpenAI-compatible server.
 *
 *   npm run bench:gateway
 *   npm run bench:gateway -- --rounds 5 --concurrency 1,64,256 --itl 10 --tokens 64
 *   npm run bench:gateway -- --baseline /tmp/old-build   # a second gateway from another build, same rounds
 *   npm run bench:gateway -- --pin                      # the gateway on a CPU of its own (taskset)
 *   npm run bench:gateway -- --workers 4 --pin          # the gateway in 4 processes (serve --workers), on 4 CPUs
 *   npm run bench:gateway -- --probe                    # + the gateway's own time on the first-token path
 *   npm run bench:gateway -- --relay                    # + a byte-copying TCP relay: the floor of any hop
 *   npm run bench:gateway -- --minimal                  # + the least HTTP gateway in Node (node:http + undici)
 *   npm run bench:gateway -- --paired 300               # + added TTFT from 300 alternating requests
 *
 * The upstream is the scripted-timing server (its own process; every stream follows a fixed script of TTFT
 * and inter-token interval), so any difference between going direct and going through the gateway is the
 * gateway's. For each round and level, runBench measures direct, then through the gateway (and the
 * baseline gateway, when given); the order rotates between rounds. Added latency = gateway - direct at the
 * median (TTFT and end-to-end, at concurrency 1 by default); throughput = gateway / direct output tokens/s
 * at each level. Medians over rounds; a ratio is taken within a round, then the median.
 *
 * CPU: user and system time of each process during each measurement, from /proc (Linux), per streamed
 * token (the scripted server sends one token per chunk, so per chunk too). The three processes (load
 * generator, upstream, gateway) share the machine's CPUs: when they need more than there is, throughput
 * through the gateway falls because the gateway's CPU time is taken from the other two, so the gateway's
 * CPU time per token is the figure that says what the gateway itself costs. --pin puts the gateway(s) on the
 * last CPU and the upstream and load generator on the others (taskset; other work on the machine is not
 * kept off either).
 *
 * --probe preloads scripts/gateway-probe.mjs into the gateway(s): at concurrency 1 it times, inside the
 * gateway process, the request from its head parsed to the upstream request written (inbound) and from the
 * upstream's first bytes to the write that carries the first token (outbound). Added TTFT minus these two
 * is what the gateway cannot do less of: waking its process and two more loopback hops. The probe costs
 * CPU of its own: take CPU figures from a run without it.
 *
 * --relay measures scripts/tcp-relay.mjs in front of the upstream the same way: a process that copies the
 * bytes both ways and does nothing else. What it adds (latency, CPU per token) is what putting any process
 * in the path costs on this machine; the gateway's figures above the relay's are its HTTP, SSE and JSON work.
 *
 * --minimal measures scripts/minimal-gateway.mjs the same way: node:http in, undici out, each chunk parsed
 * and framed again, nothing else. Between the relay and the gateway, it splits the gateway's cost into what
 * Node's HTTP stack and undici cost and what servelab's own layers do.
 *
 * --paired N, after the rounds: N cycles of one streamed request to each of direct and every target in
 * turn (order rotated), TTFT = send -> first bytes of a non-empty token; added TTFT is the median of the
 * per-cycle differences to direct. Requests minutes apart (the rounds above) see the machine's other load
 * change; requests a few ms apart see the same, so sub-millisecond differences show through it.
 * Needs `npm run build` first (the npm script does it).
 */
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
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
    baseline: { type: "string" },
    pin: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
    probe: { type: "boolean", default: false },
    relay: { type: "boolean", default: false },
    minimal: { type: "boolean", default: false },
    paired: { type: "string", default: "0" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`usage: node scripts/bench-gateway.mjs [--concurrency 1,64,256] [--ttft 20] [--itl 10] [--tokens 64]
  [--latency-requests 200 (at concurrency 1)] [--requests-per-stream 3] [--rounds 3] [--quick] [--json FILE]
  [--baseline DIR (a build, DIR/dist/cli/index.js, measured as a second gateway in the same rounds)]
  [--pin (gateways on the last CPU, upstream and load generator on the others; needs taskset)]
  [--workers N (the gateway runs as serve --workers N; with --pin it gets the last N CPUs; CPU figures sum its processes)]
  [--probe (the gateway's own time on the first-token path at concurrency 1; CPU figures then include it)]
  [--relay (also measure a byte-copying TCP relay in front of the upstream: the floor of any hop)]
  [--minimal (also measure scripts/minimal-gateway.mjs: node:http + undici and nothing else)]
  [--paired N (added TTFT from N cycles of one request to direct and each target in turn; default 0: off)]`);
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
const workers = int("workers", values.workers);
const levels = values.concurrency.split(",").map((s) => int("concurrency", s.trim()));
const tokens = int("tokens", values.tokens);
const rounds = values.quick ? 1 : int("rounds", values.rounds);
const latencyRequests = values.quick ? 50 : int("latency-requests", values["latency-requests"]);
const perStream = values.quick ? 1 : int("requests-per-stream", values["requests-per-stream"]);
const pairedCycles = values.paired === "0" ? 0 : int("paired", values.paired);
const log = (s) => process.stderr.write(`${s}\n`);
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const root = new URL("..", import.meta.url).pathname;
const baselineCli =
  values.baseline === undefined ? undefined : path.resolve(values.baseline, "dist/cli/index.js");
if (baselineCli !== undefined && !existsSync(baselineCli)) {
  console.error(`--baseline: ${baselineCli} does not exist (build that checkout first)`);
  process.exit(2);
}

// --pin: the gateways get the last CPU; the upstream and this process (the load generator) the others.
const cpus = os.availableParallelism();
let pinning;
if (values.pin) {
  if (cpus < workers + 1 || spawnSync("taskset", ["-V"]).status !== 0) {
    console.error(`--pin needs taskset and at least ${workers + 1} CPUs`);
    process.exit(2);
  }
  const first = cpus - workers;
  pinning = {
    gateway: workers === 1 ? String(first) : `${first}-${cpus - 1}`,
    others: first === 1 ? "0" : `0-${first - 1}`,
  };
  spawnSync("taskset", ["-pc", pinning.others, String(process.pid)], { stdio: "ignore" });
}
/** Spawns `node args`, under taskset when pinning. */
const spawnNode = (cpuList, args, options) =>
  cpuList === undefined
    ? spawn(process.execPath, args, options)
    : spawn("taskset", ["-c", cpuList, process.execPath, ...args], options);

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
const upstream = spawnNode(pinning?.others, upstreamArgs, { stdio: ["pipe", "pipe", "inherit"] });
const direct = await new Promise((resolve, reject) => {
  createInterface({ input: upstream.stdout }).once("line", (l) => resolve(l.trim()));
  upstream.once("exit", (c) => reject(new Error(`scripted server exited ${c}`)));
});

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

/** Starts `servelab serve --engine url:<upstream>` from `cli` and waits until it answers. */
async function startGateway(name, cli) {
  const port = await freePort();
  const args = [
    cli,
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
    // Only this build's gateway: a baseline build may predate the option.
    ...(workers > 1 && name === "gateway" ? ["--workers", String(workers)] : []),
  ];
  const probeFile = values.probe ? path.join(probeDir, `${name}.jsonl`) : undefined;
  if (probeFile !== undefined) writeFileSync(probeFile, "");
  const child = spawnNode(
    pinning?.gateway,
    probeFile === undefined ? args : ["--import", path.join(root, "scripts/gateway-probe.mjs"), ...args],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: probeFile === undefined ? process.env : { ...process.env, SERVELAB_PROBE_FILE: probeFile },
    },
  );
  const url = `http://127.0.0.1:${port}/v1`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the ${name} gateway exited before it was ready`);
    try {
      if ((await fetch(`${url}/models`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 240) throw new Error(`the ${name} gateway was not ready after 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { name, url, child, args, probeFile, probeRead: 0 };
}

/** The probe's lines a gateway wrote since the last call: medians of its in-process times. */
function readProbe(gateway) {
  if (gateway.probeFile === undefined) return undefined;
  const lines = readFileSync(gateway.probeFile, "utf8")
    .split("\n")
    .filter((l) => l !== "");
  const fresh = lines.slice(gateway.probeRead).map((l) => JSON.parse(l));
  gateway.probeRead = lines.length;
  return {
    requests: fresh.length,
    inboundP50Ms: median(fresh.map((e) => e.inboundMs)),
    outboundP50Ms: median(fresh.map((e) => e.outboundMs)),
  };
}

const probeDir = values.probe ? mkdtempSync(path.join(os.tmpdir(), "servelab-probe-")) : "";
/** Starts a script of ours in front of the upstream (it prints its port on its first line): the relay,
 * or the minimal gateway. */
async function startInFront(name, args) {
  const child = spawnNode(pinning?.gateway, args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", (l) => resolve(l.trim()));
    child.once("exit", (c) => reject(new Error(`the ${name} process exited ${c}`)));
  });
  return { name, url: `http://127.0.0.1:${port}/v1`, child, args, probeFile: undefined, probeRead: 0 };
}

/** The processes measured against going direct: the gateway, the baseline build, the minimal gateway, the
 * relay. */
const gateways = [await startGateway("gateway", path.join(root, "dist/cli/index.js"))];
if (baselineCli !== undefined) gateways.push(await startGateway("baseline", baselineCli));
if (values.minimal)
  gateways.push(
    await startInFront("minimal", [path.join(root, "scripts/minimal-gateway.mjs"), "--to", direct]),
  );
if (values.relay)
  gateways.push(
    await startInFront("relay", [path.join(root, "scripts/tcp-relay.mjs"), "--to", new URL(direct).host]),
  );
const targets = ["direct", ...gateways.map((g) => g.name)];

/** CPU time (user, system) a process and the processes it started (serve --workers) have used, in ms,
 * from /proc (Linux); NaN elsewhere. */
function cpuMs(pid) {
  const stat = (p) => readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
  try {
    const fields = stat(pid);
    let user = Number(fields[11]);
    let system = Number(fields[12]);
    if (workers > 1)
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || entry === String(pid)) continue;
        try {
          const f = stat(entry);
          if (f[1] !== String(pid)) continue; // the parent's pid
          user += Number(f[11]);
          system += Number(f[12]);
        } catch {
          // gone meanwhile
        }
      }
    return { user: (user * 1000) / 100, system: (system * 1000) / 100 }; // ticks of 1/100 s
  } catch {
    return { user: NaN, system: NaN };
  }
}
function selfCpuMs() {
  const u = process.cpuUsage();
  return { user: u.user / 1000, system: u.system / 1000 };
}
const perToken = (before, after, streamed) => ({
  user: ((after.user - before.user) * 1000) / streamed,
  system: ((after.system - before.system) * 1000) / streamed,
});

async function measure(target, c) {
  const gateway = gateways.find((g) => g.name === target);
  const readCpu = () => ({
    gateway: gateway === undefined ? undefined : cpuMs(gateway.child.pid),
    upstream: cpuMs(upstream.pid),
    client: selfCpuMs(),
  });
  const cpu0 = readCpu();
  const warmup = Math.min(c * 2, 200);
  const r = await runBench({
    url: gateway?.url ?? direct,
    workload: "synthetic",
    inputTokens: 16,
    maxTokens: tokens,
    ignoreEos: true,
    concurrency: [c],
    requests: c === 1 ? latencyRequests : c * perStream,
    warmup,
    out: false,
    sampleGpu: false,
    readMetrics: false,
  });
  const cpu1 = readCpu();
  const run = r.levels[0].runs[0];
  // The probe pairs requests by order: its figures hold at concurrency 1 only.
  const probe = gateway === undefined ? undefined : readProbe(gateway);
  // Warm-up requests stream too, so they count in the CPU time.
  const streamed = (run.completed + warmup) * tokens;
  const cpu = {};
  for (const k of Object.keys(cpu1)) if (cpu1[k] !== undefined) cpu[k] = perToken(cpu0[k], cpu1[k], streamed);
  return {
    outputTokensPerSecond: run.outputTokensPerSecond,
    ttftP50Ms: run.ttft.p50,
    ttftP99Ms: run.ttft.p99,
    e2eP50Ms: run.e2e.p50,
    itlP50Ms: run.itl.p50,
    completed: run.completed,
    failed: run.failed,
    /** CPU microseconds per streamed token, user and system, of each process. */
    cpuUsPerToken: cpu,
    ...(probe !== undefined && c === 1 ? { probe } : {}),
  };
}

/** TTFT of one streamed chat request: send -> the first bytes holding a non-empty token. */
function firstToken(pool, basePath, body) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first;
    pool.dispatch(
      {
        path: `${basePath}/chat/completions`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      },
      {
        onRequestStart() {},
        onResponseStart() {},
        onResponseData(_c, chunk) {
          if (
            first === undefined &&
            /"(?:content|reasoning_content|text)":"[^"]/.test(chunk.toString("latin1"))
          )
            first = performance.now() - t0;
        },
        onResponseEnd: () => resolve(first ?? NaN),
        onResponseError: (_c, err) => reject(err),
      },
    );
  });
}

/** `cycles` cycles of one request to direct and each target in turn: medians of the added TTFT. */
async function measurePaired(cycles) {
  const body = JSON.stringify({
    messages: [{ role: "user", content: "one two three four five six seven eight" }],
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true, continuous_usage_stats: true },
    ignore_eos: true,
  });
  const clients = targets.map((t) => {
    const url = new URL(gateways.find((g) => g.name === t)?.url ?? direct);
    return { name: t, pool: new Pool(url.origin, { connections: 1 }), basePath: url.pathname, ttft: [] };
  });
  try {
    for (let i = 0; i < 20; i++) for (const c of clients) await firstToken(c.pool, c.basePath, body);
    for (let i = 0; i < cycles; i++) {
      const shift = i % clients.length;
      for (const c of [...clients.slice(shift), ...clients.slice(0, shift)])
        c.ttft.push(await firstToken(c.pool, c.basePath, body));
    }
  } finally {
    await Promise.all(clients.map((c) => c.pool.close()));
  }
  const directTtft = clients[0].ttft;
  const out = { cycles, directTtftP50Ms: median(directTtft) };
  for (const c of clients.slice(1))
    out[c.name] = {
      ttftP50Ms: median(c.ttft),
      addedTtftP50Ms: median(c.ttft.map((x, i) => x - directTtft[i])),
    };
  return out;
}

const results = [];
let paired;
const t0 = performance.now();
const loadAverageAtStart = os.loadavg();
try {
  for (let round = 1; round <= rounds; round++)
    for (const c of levels) {
      // Rotate the order so that no target is always measured first (or right after another).
      const shift = (round - 1) % targets.length;
      const order = [...targets.slice(shift), ...targets.slice(0, shift)];
      const entry = { round, concurrency: c, order };
      for (const which of order) entry[which] = await measure(which, c);
      results.push(entry);
      const failed = targets.map((t) => entry[t].failed).reduce((a, b) => a + b, 0);
      log(
        `round ${round} c=${c}: ` +
          targets
            .map(
              (t) =>
                `${t} ${entry[t].outputTokensPerSecond.toFixed(0)} tok/s TTFT p50 ${entry[t].ttftP50Ms.toFixed(2)} ms` +
                (t === "direct" ? "" : ` CPU ${fmtCpu(entry[t].cpuUsPerToken.gateway)} us/token`),
            )
            .join("; ") +
          (failed > 0 ? ` (failed: ${targets.map((t) => `${entry[t].failed} ${t}`).join(", ")})` : ""),
      );
    }
  if (pairedCycles > 0) paired = await measurePaired(pairedCycles);
} finally {
  for (const g of gateways) g.child.kill("SIGTERM");
  upstream.stdin.end();
  upstream.kill("SIGTERM");
  if (values.probe) rmSync(probeDir, { recursive: true, force: true });
}

function fmtCpu(cpu) {
  return cpu === undefined ? "-" : (cpu.user + cpu.system).toFixed(1);
}
const summary = {};
for (const c of levels) {
  const rs = results.filter((r) => r.concurrency === c);
  const med = (f) => median(rs.map(f));
  const level = {
    directTokensPerSecond: med((r) => r.direct.outputTokensPerSecond),
    upstreamCpuUsPerToken: med(
      (r) => r.direct.cpuUsPerToken.upstream.user + r.direct.cpuUsPerToken.upstream.system,
    ),
    clientCpuUsPerToken: med(
      (r) => r.direct.cpuUsPerToken.client.user + r.direct.cpuUsPerToken.client.system,
    ),
  };
  for (const g of gateways) {
    const n = g.name;
    level[n] = {
      tokensPerSecond: med((r) => r[n].outputTokensPerSecond),
      throughputRatio: med((r) => r[n].outputTokensPerSecond / r.direct.outputTokensPerSecond),
      addedTtftP50Ms: med((r) => r[n].ttftP50Ms - r.direct.ttftP50Ms),
      addedE2eP50Ms: med((r) => r[n].e2eP50Ms - r.direct.e2eP50Ms),
      addedItlP50Ms: med((r) => r[n].itlP50Ms - r.direct.itlP50Ms),
      cpuUsPerToken: med((r) => r[n].cpuUsPerToken.gateway.user + r[n].cpuUsPerToken.gateway.system),
      cpuUserUsPerToken: med((r) => r[n].cpuUsPerToken.gateway.user),
      cpuSystemUsPerToken: med((r) => r[n].cpuUsPerToken.gateway.system),
      ...(rs.some((r) => r[n].probe !== undefined)
        ? {
            probeInboundP50Ms: med((r) => r[n].probe?.inboundP50Ms),
            probeOutboundP50Ms: med((r) => r[n].probe?.outboundP50Ms),
          }
        : {}),
    };
  }
  summary[c] = level;
}

const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const rows = [
  [
    "level",
    "through",
    "direct tok/s",
    "tok/s",
    "ratio",
    "+TTFT p50 ms",
    "+e2e p50 ms",
    "+ITL p50 ms",
    "CPU us/token (user+sys)",
  ],
];
for (const c of levels) {
  const s = summary[c];
  for (const g of gateways) {
    const t = s[g.name];
    rows.push([
      `c=${c}`,
      g.name,
      f(s.directTokensPerSecond, 0),
      f(t.tokensPerSecond, 0),
      `${f(t.throughputRatio * 100, 1)}%`,
      f(t.addedTtftP50Ms, 3),
      f(t.addedE2eP50Ms, 3),
      f(t.addedItlP50Ms, 3),
      `${f(t.cpuUsPerToken, 1)} (${f(t.cpuUserUsPerToken, 1)}+${f(t.cpuSystemUsPerToken, 1)})`,
    ]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(
  `\nscripted upstream: TTFT ${values.ttft} ms, ITL ${values.itl} ms, ${tokens} tokens per request; medians of ${rounds} round(s)` +
    (workers > 1 ? `; the gateway in ${workers} processes (--workers)` : "") +
    (pinning === undefined
      ? ""
      : `; gateways on CPU ${pinning.gateway}, upstream and load on CPU ${pinning.others}`) +
    "\n",
);
console.log(
  rows
    .map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "))
    .join("\n"),
);
for (const c of levels)
  for (const g of gateways) {
    const t = summary[c][g.name];
    if (t.probeInboundP50Ms === undefined) continue;
    console.log(
      `\n${g.name} at c=${c}, inside the gateway (--probe): inbound p50 ${f(t.probeInboundP50Ms, 3)} ms + outbound p50 ` +
        `${f(t.probeOutboundP50Ms, 3)} ms = ${f(t.probeInboundP50Ms + t.probeOutboundP50Ms, 3)} ms of the ${f(t.addedTtftP50Ms, 3)} ms added TTFT`,
    );
  }
if (values.probe) console.log("(--probe: the CPU figures include the probe's own work)");
if (paired !== undefined)
  console.log(
    `\nadded TTFT, median of ${paired.cycles} paired cycles (direct TTFT p50 ${f(paired.directTtftP50Ms, 3)} ms): ` +
      gateways.map((g) => `${g.name} ${f(paired[g.name].addedTtftP50Ms, 3)} ms`).join(", "),
  );
console.log(
  `\nCPU us/token going direct: upstream ${levels.map((c) => `${f(summary[c].upstreamCpuUsPerToken, 1)} (c=${c})`).join(", ")}; ` +
    `load generator ${levels.map((c) => `${f(summary[c].clientCpuUsPerToken, 1)} (c=${c})`).join(", ")}`,
);

const out =
  values.json ?? path.join("results", `bench-gateway-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(path.dirname(out), { recursive: true });
const relative = (a) => (a.startsWith(root) ? path.relative(root, a) : a);
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        node: process.version,
        loadAverageAtStart,
        loadAverageAtEnd: os.loadavg(),
      },
      options: {
        levels,
        ttftMs: Number(values.ttft),
        itlMs: Number(values.itl),
        tokens,
        rounds,
        latencyRequests,
        perStream,
        pinning: pinning ?? null,
        workers,
        probe: values.probe,
        relay: values.relay,
        minimal: values.minimal,
        pairedCycles,
      },
      commands: {
        upstream: `node ${upstreamArgs.map(relative).join(" ")}`,
        ...Object.fromEntries(gateways.map((g) => [g.name, `node ${g.args.map(relative).join(" ")}`])),
      },
      wallS: (performance.now() - t0) / 1000,
      summary,
      ...(paired === undefined ? {} : { paired }),
      rounds: results,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${out}`);
process.exit(0);
