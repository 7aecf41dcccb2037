/**
 * `servelab bench` as a user runs it (the built CLI, dist/): against `servelab serve` on a tiny synthetic
 * model, both child processes. The done-when command, a wrong API key, bad flags, Ctrl-C mid-run,
 * and a multi-level run interrupted after its first level, then resumed.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchResult, RequestRecord } from "../../src/bench/index.js";
import type { FinishedUnit } from "../../src/bench/resume.js";
import { tinyModel } from "../helpers/models.js";

const cli = join(import.meta.dirname, "../../dist/cli/index.js");
// Long and never repeating, so requests run as long as max_tokens asks.
const script = Array.from({ length: 400 }, (_, i) => `w${(i * 7919) % 10007}`).join(" ");
const apiKey = "sk-bench-test";
const dir = mkdtempSync(join(tmpdir(), "servelab-bench-cli-"));
let serve: ChildProcess;
let url: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bench(args: string[], onStart?: (child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "bench", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", OPENAI_API_KEY: "", SERVELAB_BENCH_URL: "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`servelab bench ${args.join(" ")} did not finish in 90 s\n${stderr}`));
    }, 90_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    onStart?.(child);
  });
}

const readLines = (path: string): RequestRecord[] =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as RequestRecord);

beforeAll(async () => {
  const model = await tinyModel({ script });
  serve = spawn(
    process.execPath,
    [cli, "serve", "-m", model, "--port", "0", "--parallel", "4", "--threads", "1", "--ctx-size", "512"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SERVELAB_API_KEY: apiKey } },
  );
  let stdout = "";
  let stderr = "";
  serve.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  url = await new Promise<string>((resolve, reject) => {
    serve.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
      const m = /listening on (http:\/\/\S+)/u.exec(stdout);
      if (m) resolve(`${m[1] as string}/v1`);
    });
    serve.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
});

afterAll(async () => {
  if (serve.exitCode === null) {
    const exited = new Promise((resolve) => serve.once("exit", resolve));
    serve.kill("SIGTERM");
    const timer = setTimeout(() => serve.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("servelab bench against servelab serve", () => {
  it("--concurrency 1,4,8 --workload short,medium,long --runs 3: table, results.json, requests.jsonl, report.md", async () => {
    const out = join(dir, "done-when");
    // prettier-ignore
    const run = await bench([
      "--url", url, "--concurrency", "1,4,8", "--workload", "short,medium,long", "--runs", "3",
      "--requests", "4", "--max-tokens", "8", "--out", out, "--api-key", apiKey, "--server-pid", String(serve.pid),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toMatch(/^model \S+ at http:\/\/127\.0\.0\.1:\d+\/v1, workload short,medium,long/u);
    expect(lines[1]).toMatch(/^load +runs +ok +err +req\/s +req\/min +out tok\/s +TTFT p50 .* goodput\/s$/u);
    for (const c of [1, 4, 8])
      expect(run.stdout).toMatch(new RegExp(`^c=${c} +3 +12 +0 +\\d+\\.\\d\\d ± \\d+\\.\\d\\d `, "mu"));
    expect(run.stdout).toMatch(/server RSS peak \d+ MiB/u);
    expect(run.stdout).toContain(`results in ${out}/ (results.json, requests.jsonl, report.md)`);

    const result = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResult;
    expect(result.partial).toBe(false);
    expect(result.levels.map((l) => [l.label, l.runs.map((r) => [r.requests, r.completed])])).toEqual(
      [1, 4, 8].map((c) => [
        `c=${c}`,
        [
          [4, 4],
          [4, 4],
          [4, 4],
        ],
      ]),
    );
    expect(result.options.apiKey).toBe("(set)");
    expect(JSON.stringify(result).includes(apiKey), "the API key is in results.json").toBe(false);
    expect(result.options.argv.slice(-4, -2)).toEqual(["--api-key", "(redacted)"]);
    expect(result.server.metricsBefore, "/metrics read with the key").not.toBeNull();
    expect(result.environment.node).toBe(process.version);
    expect(result.options.argv).toContain("--concurrency");
    expect(result.resources.serverRssMiB?.peak).toBeGreaterThan(10);
    for (const level of result.levels) {
      expect(level.aggregate.requestsPerSecond.n).toBe(3);
      expect(level.aggregate.ttftP50.mean).toBeGreaterThan(0);
      for (const r of level.runs) expect(r.outputTokens.max).toBeLessThanOrEqual(8);
    }

    const records = readLines(join(out, "requests.jsonl"));
    expect(records).toHaveLength(36);
    expect(records.every((r) => r.ok && !r.warmup && r.ttftMs !== null)).toBe(true);
    expect(new Set(records.map((r) => r.source))).toEqual(new Set(["short", "medium", "long"]));
    expect(new Set(records.map((r) => `${r.level} ${r.run}`)).size).toBe(9);

    const markdown = readFileSync(join(out, "report.md"), "utf8");
    expect(markdown).toMatch(/^# servelab bench: /u);
    expect(markdown).toContain("| load | runs | ok | err | req/s |");
    expect(markdown.match(/^\| c=8 \| 3 \| 12 \| 0 \|/mu)).not.toBeNull();
    expect(markdown.match(/^\| c=4 \| [123] \| 4 \| 0 \|/gmu)).toHaveLength(3);
    expect(markdown).toContain("servelab bench --url");
    expect(markdown.includes(apiKey), "the API key is in report.md").toBe(false);
  });

  it("a wrong API key: every request fails with HTTP 401, counted and classified", async () => {
    const out = join(dir, "bad-key");
    // prettier-ignore
    const run = await bench(["--url", url, "--api-key", "wrong", "--model", "m", "--requests", "2", "--max-tokens", "4", "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^c=1 +1 +0 +2 /mu);
    const records = readLines(join(out, "requests.jsonl"));
    expect(records.map((r) => [r.error?.kind, r.error?.status])).toEqual([
      ["http", 401],
      ["http", 401],
    ]);
  });

  it("a bad flag: one line, exit code 2, nothing sent", async () => {
    const run = await bench(["--url", url, "--concurrency", "0,4"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('servelab: --concurrency must be a list of positive integers, got "0"\n');
    expect(run.stdout).toBe("");
  });

  it("Ctrl-C mid-run: the partial summary, exit code 130, requests.jsonl holds what finished", async () => {
    const out = join(dir, "interrupted");
    const jsonl = join(out, "requests.jsonl");
    let interruptedAfter = 0;
    // prettier-ignore
    const run = await bench(
      ["--url", url, "--api-key", apiKey, "--concurrency", "2", "--requests", "100000", "--max-tokens", "32", "--out", out],
      (child) => {
        const poll = setInterval(() => {
          const done = existsSync(jsonl) ? readLines(jsonl).length : 0;
          if (done >= 4) {
            clearInterval(poll);
            interruptedAfter = done;
            child.kill("SIGINT");
          }
        }, 50);
        child.once("exit", () => clearInterval(poll));
      },
    );
    expect(interruptedAfter).toBeGreaterThanOrEqual(4);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain("stopping: finishing partial results");
    expect(run.stdout).toMatch(/^PARTIAL results \(stopped early\)$/mu);
    expect(run.stdout).toMatch(/^c=2 +1 +\d+ +0 /mu);
    const records = readLines(jsonl);
    const finished = records.filter((r) => r.ok);
    // Everything that finished before the signal is there; the requests in flight were aborted and say so.
    expect(finished.length).toBeGreaterThanOrEqual(interruptedAfter);
    expect(records.filter((r) => !r.ok).every((r) => r.error?.kind === "aborted")).toBe(true);
    expect(records.length - finished.length).toBeLessThanOrEqual(2);
    const result = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResult;
    expect(result.partial).toBe(true);
    expect(result.levels[0]?.runs[0]?.completed).toBe(finished.length);
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("(partial)");
  });

  it("interrupted after its first level, --resume runs only what did not finish and merges one result", async () => {
    const out = join(dir, "resumed");
    const jsonl = join(out, "requests.jsonl");
    const runsFile = join(out, "runs.jsonl");
    const finishedUnits = (): FinishedUnit[] =>
      existsSync(runsFile)
        ? readFileSync(runsFile, "utf8")
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => JSON.parse(l) as FinishedUnit)
        : [];
    // Interrupt once c=1 is finished and c=2 has started: c=2's run is cut short.
    // prettier-ignore
    const first = await bench(
      ["--url", url, "--api-key", apiKey, "--concurrency", "1,2,4", "--requests", "12", "--max-tokens", "24", "--out", out],
      (child) => {
        const poll = setInterval(() => {
          if (finishedUnits().length === 0 || !existsSync(jsonl)) return;
          if (readLines(jsonl).some((r) => r.level === "c=2")) {
            clearInterval(poll);
            child.kill("SIGINT");
          }
        }, 20);
        child.once("exit", () => clearInterval(poll));
      },
    );
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toContain(
      `interrupted: to run what did not finish: servelab bench --resume ${out} --api-key KEY (keys are not saved)\n`,
    );
    expect(finishedUnits().map((u) => (u.type === "run" ? [u.level, u.run, u.session] : u.type))).toEqual([
      ["c=1", 1, 1],
    ]);
    const partial = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResult;
    expect(partial.partial).toBe(true);
    expect(partial.levels[0]?.label).toBe("c=1");
    const cut = readLines(jsonl).filter((r) => r.level === "c=2");
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.length, "c=2 finished before the signal: the test did not cut a run short").toBeLessThan(12);

    // Only the flags that say where the server is may change; the key is asked for again.
    const changed = await bench(["--resume", out, "--api-key", apiKey, "--concurrency", "8"]);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain("drop --concurrency");
    // A new bench into the folder would mix two runs: it is refused, and says how to go on.
    const again = await bench(["--url", url, "--api-key", apiKey, "--out", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      `already holds a bench run (plan.json): go on with it with --resume ${out}`,
    );
    const keyless = await bench(["--resume", out]);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain("used an API key, which is never saved");

    const resumed = await bench(["--resume", out, "--api-key", apiKey]);
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const c of [1, 2, 4])
      expect(resumed.stdout.match(new RegExp(`^c=${c} +1 +12 +0 `, "gmu")), `c=${c} once`).toHaveLength(1);
    expect(resumed.stdout).not.toContain("PARTIAL");

    const result = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResult;
    expect(result.partial).toBe(false);
    expect(result.startedAt).toBe(partial.startedAt);
    expect(result.options.argv).toContain("--concurrency");
    expect(result.levels.map((l) => [l.label, l.runs.map((r) => [r.requests, r.completed])])).toEqual([
      ["c=1", [[12, 12]]],
      ["c=2", [[12, 12]]],
      ["c=4", [[12, 12]]],
    ]);
    // c=1 is the run the first session finished, not measured again.
    expect(result.levels[0]?.runs[0]).toEqual(partial.levels[0]?.runs[0]);
    expect(result.notes.some((n) => n.startsWith("resumed (session 2)"))).toBe(true);
    expect(finishedUnits().map((u) => (u.type === "run" ? [u.level, u.run, u.session] : u.type))).toEqual([
      ["c=1", 1, 1],
      ["c=2", 1, 2],
      ["c=4", 1, 2],
    ]);

    // Every record is there: c=1 from the first session, the attempt of c=2 that was cut short
    // (kept for the record), and c=2 again and c=4 from the second (marked session 2).
    const records = readLines(jsonl);
    const bySession = (level: string, session: number | undefined) =>
      records.filter((r) => r.level === level && r.session === session);
    expect(bySession("c=1", undefined)).toHaveLength(12);
    expect(bySession("c=1", 2)).toHaveLength(0);
    expect(bySession("c=2", undefined)).toHaveLength(cut.length);
    expect(bySession("c=2", 2)).toHaveLength(12);
    expect(bySession("c=4", 2)).toHaveLength(12);
    expect(records).toHaveLength(36 + cut.length);
    expect([...bySession("c=2", 2), ...bySession("c=4", 2)].every((r) => r.ok)).toBe(true);

    const markdown = readFileSync(join(out, "report.md"), "utf8");
    expect(markdown).not.toContain("(partial)");
    for (const c of [1, 2, 4])
      // Once in the summary table (runs 1, ok 12) and once in the runs table (run 1, 12 requests).
      expect(markdown.match(new RegExp(`^\\| c=${c} \\| 1 \\| 12 \\| 0 \\|`, "gmu"))).toHaveLength(2);
  });
});
