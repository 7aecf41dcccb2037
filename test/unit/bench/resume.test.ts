import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  readBenchPlan,
  readFinishedWork,
  resumeOptions,
  runKey,
  toSavedOptions,
  writeBenchPlan,
  type BenchPlan,
} from "../../../src/bench/resume.js";
import type { RunSummary } from "../../../src/bench/types.js";

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "servelab-bench-resume-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const plan = (over: Partial<BenchPlan> = {}): BenchPlan => ({
  kind: "servelab-bench",
  version: 1,
  options: {
    concurrency: "1,4",
    requests: "12",
    url: "http://127.0.0.1:1/v1",
    argv: ["--concurrency", "1,4"],
  },
  apiKey: false,
  customTokenizer: false,
  startedAt: "2026-01-01T00:00:00.000Z",
  sessions: 1,
  ...over,
});

describe("bench resume files", () => {
  it("saves options without the API key or the signal, with file paths made absolute", () => {
    const dir = tempDir();
    const workload = join(dir, "prompts.jsonl");
    writeFileSync(workload, '{"prompt":"hi"}\n');
    const saved = toSavedOptions({
      apiKey: "sk-secret",
      signal: new AbortController().signal,
      out: dir,
      resume: true,
      workload: `${dir}/./prompts.jsonl`,
      tokenizer: "model.gguf",
      concurrency: [1, 4],
    });
    expect(saved).toEqual({ workload, tokenizer: resolve("model.gguf"), concurrency: [1, 4] });
    expect(JSON.stringify(saved)).not.toContain("sk-secret");
  });

  it("reads what earlier sessions finished, skipping a line torn by a crash", () => {
    const dir = tempDir();
    const summary = { run: 1, requests: 12 } as unknown as RunSummary;
    const path = join(dir, "runs.jsonl");
    appendFileSync(
      path,
      `${JSON.stringify({ type: "run", levelIndex: 0, level: "c=1", run: 1, session: 1, summary })}\n`,
    );
    appendFileSync(path, '{"type":"run","levelIndex":1,"level":"c=4","ru');
    const work = readFinishedWork(dir);
    expect([...work.runs.keys()]).toEqual([runKey(0, "c=1", 1)]);
    expect(work.runs.get(runKey(0, "c=1", 1))).toEqual(summary);
    expect(work.capacity).toBeUndefined();
  });

  it("says so when a folder holds no bench to resume", () => {
    const dir = tempDir();
    expect(() => readBenchPlan(dir)).toThrow(
      /cannot resume from .*: no bench run there \(plan\.json is missing/,
    );
    writeFileSync(join(dir, "plan.json"), '{"configurations":[]}');
    expect(() => readBenchPlan(dir)).toThrow(/is not the plan of a servelab bench run/);
    writeBenchPlan(dir, plan());
    expect(readBenchPlan(dir).options.concurrency).toBe("1,4");
  });

  it("resumes with the saved options; only where the server is may change", () => {
    const dir = tempDir();
    const options = resumeOptions(
      plan(),
      { out: dir, resume: true, url: "http://127.0.0.1:2/v1", serverPid: 7 },
      dir,
    );
    expect(options).toMatchObject({
      concurrency: "1,4",
      requests: "12",
      url: "http://127.0.0.1:2/v1",
      serverPid: 7,
      out: dir,
      resume: true,
      argv: ["--concurrency", "1,4"],
    });
    expect(() => resumeOptions(plan(), { out: dir, resume: true, maxTokens: 64, runs: 3 }, dir)).toThrow(
      /runs with the options saved in .*plan\.json; it cannot change maxTokens, runs/,
    );
  });

  it("asks for the API key again when the bench used one", () => {
    const dir = tempDir();
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      expect(() => resumeOptions(plan({ apiKey: true }), { out: dir, resume: true }, dir)).toThrow(
        /used an API key, which is never saved: give it again/,
      );
      expect(resumeOptions(plan({ apiKey: true }), { out: dir, resume: true, apiKey: "k" }, dir).apiKey).toBe(
        "k",
      );
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});
