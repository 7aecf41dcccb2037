/**
 * `servelab serve --engine url:... --workers N` as real processes (the built CLI, dist/): the workers
 * share one port, /metrics sums them whichever answers, a worker that dies is replaced, and nothing is
 * left running after SIGTERM or after the primary is killed outright.
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startScriptedServer, type ScriptedServer } from "../../src/bench/testing/scripted-server.js";
import { spawnCli, type CliProcess } from "../helpers/cli.js";
import { metricValue, rawRequest, sseData, waitFor } from "../helpers/http.js";

let upstream: ScriptedServer;
const children: ChildProcess[] = [];
const spawned: number[] = [];

beforeAll(async () => {
  upstream = await startScriptedServer({ ttftMs: 5, itlMs: 2, outputTokens: 4 });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const pid of spawned.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
});
afterAll(() => upstream.close());

/** The processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ")[1];
      if (ppid === String(pid)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Gateway = CliProcess & { url: string };

function run(args: string[]): CliProcess {
  const started = spawnCli(["serve", "--port", "0", ...args]);
  children.push(started.child);
  return started;
}

async function startGateway(workers: number): Promise<Gateway> {
  const started = run(["--engine", `url:${upstream.url}`, "--workers", String(workers)]);
  // The primary prints the banner, "listening on" and "workers" lines in one write, once every worker serves.
  const url = await started.listening;
  await waitFor(
    () => childrenOf(started.child.pid!).length === workers || undefined,
    20_000,
    `${workers} workers`,
  );
  spawned.push(...childrenOf(started.child.pid!));
  return { ...started, url };
}

const chat = (url: string, stream = false) =>
  rawRequest(`${url}/v1/chat/completions`, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 4, stream }),
  });

describe("serve --workers (the gateway in several processes)", () => {
  it("serves from every worker on one port and sums their metrics whichever worker answers", async () => {
    const gateway = await startGateway(2);
    expect(gateway.stdout()).toMatch(/^workers +2 processes/m);
    // The banner once, not once per worker.
    expect(gateway.stdout().match(/listening on/g)).toHaveLength(1);
    // A new connection each (rawRequest): the primary hands connections to the workers in turn.
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () => chat(gateway.url)),
      ...Array.from({ length: 2 }, () => chat(gateway.url, true)),
    ]);
    for (const a of answers) expect(a.status).toBe(200);
    expect(sseData(answers.at(-1)!.text).at(-1)).toBe("[DONE]");
    // Each scrape lands on one worker or the other; every one must count all 8 requests and their tokens.
    for (let i = 0; i < 4; i++) {
      const metrics = (await rawRequest(`${gateway.url}/metrics`, { method: "GET" })).text;
      expect(metricValue(metrics, 'servelab_requests_total{route="/v1/chat/completions",status="200"}')).toBe(
        8,
      );
      expect(metricValue(metrics, "servelab_generation_tokens_total")).toBe(32);
      expect(metricValue(metrics, "servelab_time_to_first_token_seconds_count")).toBe(8);
      expect(metricValue(metrics, "servelab_engine_up")).toBe(1);
      // One # TYPE line per family, as in one server's exposition.
      expect(metrics.match(/^# TYPE servelab_requests_total /gm)).toHaveLength(1);
    }
    const workers = childrenOf(gateway.child.pid!);
    gateway.child.kill("SIGTERM");
    expect(await gateway.exited).toBe(0);
    expect(gateway.stderr()).toContain("SIGTERM: stopping 2 workers");
    expect(gateway.stderr()).toMatch(/stopped: \d+ requests finished, 0 aborted/);
    for (const pid of workers) expect(alive(pid)).toBe(false);
  });

  it("starts another worker in place of one that died, and keeps serving", async () => {
    const gateway = await startGateway(2);
    const [victim] = childrenOf(gateway.child.pid!);
    process.kill(victim!, "SIGKILL");
    await waitFor(
      () => gateway.stderr().includes(`worker ${victim} exited (SIGKILL); starting another`) || undefined,
      10_000,
      "the primary to notice",
    );
    await waitFor(
      () => {
        const now = childrenOf(gateway.child.pid!);
        return (now.length === 2 && !now.includes(victim!)) || undefined;
      },
      20_000,
      "a new worker",
    );
    spawned.push(...childrenOf(gateway.child.pid!));
    // Give the new worker time to listen, then every connection must be answered.
    await new Promise((r) => setTimeout(r, 1_500));
    const answers = await Promise.all(Array.from({ length: 4 }, () => chat(gateway.url)));
    for (const a of answers) expect(a.status).toBe(200);
  });

  it("gives up, exit 1, when replacements keep dying (the upstream went away)", async () => {
    const own = await startScriptedServer({ ttftMs: 5, itlMs: 2, outputTokens: 4 });
    const started = run(["--engine", `url:${own.url}`, "--workers", "2"]);
    await waitFor(() => /^workers +2 processes/m.test(started.stdout()) || undefined, 20_000, "the banner");
    await own.close();
    // The replacement cannot reach the upstream: it dies at start, and so does the next, up to a limit.
    process.kill(childrenOf(started.child.pid!)[0]!, "SIGKILL");
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toContain("starting another");
    expect(started.stderr()).toContain("cannot reach the upstream server");
    expect(started.stderr()).toContain("workers keep dying, stopping");
  });

  it("leaves no worker behind when the primary is killed outright", async () => {
    const gateway = await startGateway(2);
    const workers = childrenOf(gateway.child.pid!);
    expect(workers).toHaveLength(2);
    gateway.child.kill("SIGKILL");
    await gateway.exited;
    await waitFor(() => workers.every((pid) => !alive(pid)) || undefined, 15_000, "the workers to exit");
  });

  it("fails once, with the upstream's error, when the upstream cannot be reached", async () => {
    const started = run(["--engine", "url:http://127.0.0.1:9/v1", "--workers", "3"]);
    expect(await started.exited).not.toBe(0);
    // Worker 1 failed and said why; the others were never started, so it is said once.
    expect(started.stderr().match(/cannot reach the upstream server/g)).toHaveLength(1);
    // No worker lives on (one would be re-parented, so look for its command line anywhere).
    const leftover = readdirSync("/proc").filter((entry) => {
      if (!/^\d+$/.test(entry) || entry === String(process.pid)) return false;
      try {
        return readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("url:http://127.0.0.1:9/v1");
      } catch {
        return false;
      }
    });
    expect(leftover).toEqual([]);
  });

  it("refuses --workers for engines that are not a gateway, saying what to use instead", async () => {
    const embedded = run(["-m", "model.gguf", "--workers", "2"]);
    expect(await embedded.exited).toBe(2);
    expect(embedded.stderr()).toContain("--workers needs --engine url:...");
    expect(embedded.stderr()).toContain("--parallel");
    const vllm = run(["--engine", "vllm", "-m", "org/model", "--workers", "2"]);
    expect(await vllm.exited).toBe(2);
    expect(vllm.stderr()).toContain("--api-server-count");
  });
});
