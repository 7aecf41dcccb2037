/**
 * `servelab compare` end to end, as a user runs it: the CLI in a child process, each configuration's
 * `servelab serve` in its own process on a scripted synthetic model (real llama.cpp), a dataset whose
 * answers are known, a configuration that fails. Accuracy and agreement are checked against the values
 * the scripts make certain; the HTML report is opened in Chromium.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ComparisonResult } from "../../src/compare/types.js";
import { reportChartIds } from "../../src/report/html.js";
import { pathWithFakeNvidiaSmi } from "../helpers/fake-nvidia-smi.js";
import { fakeVllmDir } from "../helpers/fake-vllm.js";
import { tinyModel } from "../helpers/models.js";
import { launchReportBrowser } from "../helpers/report-browser.js";

const cli = new URL("../../dist/cli/index.js", import.meta.url).pathname;
const right = "<think>\nFour times four.\n</think>\n\nThe answer is \\boxed{16}.";
const wrong = "<think>\nFour times four.\n</think>\n\nThe answer is \\boxed{15}.";
// A GPU host as far as nvidia-smi tells (a slow one): the embedded engine still runs on the CPU.
const vllmEnv = {
  PATH: pathWithFakeNvidiaSmi(`${fakeVllmDir}${delimiter}${process.env.PATH ?? ""}`),
  FAKE_NVIDIA_SMI_DELAY_MS: "200",
  FAKE_NVIDIA_SMI_USED_MIB: "1234",
  FAKE_VLLM_REASONING: "Four times four.",
  FAKE_VLLM_ANSWER: "The answer is \\boxed{16}.",
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`servelab ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("servelab compare on scripted models", () => {
  let dir: string;
  let run: Run;
  let result: ComparisonResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "servelab-compare-"));
    const [rightModel, wrongModel] = [await tinyModel({ script: right }), await tinyModel({ script: wrong })];
    // A random-weight model embeds the two answers apart (a scripted one sees only their shared last token).
    const embeddingModel = await tinyModel();
    const dataset = join(dir, "sixteen.jsonl");
    await writeFile(
      dataset,
      [
        { question: "What is 4 * 4?", answer: "#### 16" },
        { question: "What is 2 * 8?", answer: "#### 16" },
        { question: "What is 20 - 4?", answer: "#### 16" },
      ]
        .map((line) => JSON.stringify(line))
        .join("\n"),
    );
    const config = join(dir, "compare.yaml");
    await writeFile(
      config,
      [
        "reference: right",
        "profile: smoke",
        // Any GGUF works as the embedding model through the embedded engine (a real one gives meaning).
        `embeddings: "${embeddingModel}"`,
        "configurations:",
        `  - { name: right, engine: embedded, model: "${rightModel}" }`,
        `  - { name: wrong, engine: embedded, model: "${wrongModel}" }`,
        `  - { name: missing, engine: embedded, model: "${join(dir, "no-such-model.gguf")}" }`,
        `  - { name: right-again, engine: embedded, model: "${rightModel}", options: { parallel: 2 } }`,
        // vLLM cannot run here: its stand-in (same flags, start-up, API) mixes a second engine in.
        "  - { name: vllm, engine: vllm, model: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B, options: { dtype: bfloat16 } }",
      ].join("\n"),
    );
    run = await runCli(
      ["compare", "--config", config, "--dataset", dataset, "--out", join(dir, "out")],
      vllmEnv,
    );
    result = JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")) as ComparisonResult;
  }, 660_000);

  afterAll(async () => {
    if (dir !== undefined && process.env.KEEP_COMPARE_TEST === undefined)
      await rm(dir, { recursive: true, force: true });
  });

  it("measures every configuration that can run and reports the one that cannot", () => {
    expect(run.code, run.stderr).toBe(1); // one configuration failed
    expect(result.configurations.map((c) => [c.name, c.status])).toEqual([
      ["right", "ok"],
      ["wrong", "ok"],
      ["missing", "failed"],
      ["right-again", "ok"],
      ["vllm", "ok"],
    ]);
    expect(result.configurations[2]?.error).toMatch(/model file not found: .*no-such-model\.gguf/u);
    expect(run.stderr).toMatch(/error: missing: model file not found/u);
    // no terminal: one line as each phase starts, with the time since the comparison started; then the
    // agreement step is announced (it loads the reference's vocabulary: a silent wait otherwise)
    expect(run.stderr).toMatch(/^\[1\/5 right\] loading \(at \d[\d.,]* (ms|s)\)$/mu);
    expect(run.stderr).toMatch(/^comparing the answers with right's$/mu);
    const vllm = result.configurations[4];
    expect([vllm?.engine, vllm?.precision]).toEqual(["vllm", "bfloat16"]);
    expect(readFileSync(join(dir, "out", "serve-vllm.log"), "utf8")).toMatch(
      /loading deepseek-ai\/DeepSeek-R1-Distill-Qwen-1\.5B/u,
    );
    for (const c of result.configurations.filter((x) => x.status === "ok")) {
      expect(c.precision).toBe(c.engine === "vllm" ? "bfloat16" : "f16");
      expect(c.synthetic).toBe(c.engine !== "vllm");
      // read from the GGUF: scripted (servelab.synthetic), so its quality figures count
      if (c.engine !== "vllm") expect(c.syntheticWeights).toBe("scripted");
      expect(c.load?.loadTimeMs).toBeGreaterThan(0);
      expect(c.load?.firstTokenMs).toBeGreaterThan(c.load?.loadTimeMs ?? Infinity);
      // Memory by the device the engine reported, not by whether nvidia-smi answers: the embedded
      // engine on the CPU gives resident memory only; the (fake) vLLM on CUDA gives GPU memory first
      // (nothing above the fake's constant baseline) and resident memory as well.
      expect(c.memory?.device).toBe(c.engine === "vllm" ? "cuda" : "cpu");
      expect(c.memory?.kind).toBe(c.engine === "vllm" ? "vram" : "rss");
      if (c.engine === "vllm") expect(c.memory?.vram).toEqual({ idleBytes: 0, peakBytes: 0 });
      else expect(c.memory?.vram).toBeUndefined();
      expect(c.memory?.rss?.peakBytes).toBeGreaterThanOrEqual(c.memory?.rss?.idleBytes ?? Infinity);
      expect(c.memory?.rss?.idleBytes).toBeGreaterThan(10 * 1024 * 1024);
      for (const cls of ["short", "medium", "long"] as const)
        expect(c.latency?.ttftMs?.[cls]?.summary.n).toBe(1);
      expect(c.throughput?.outputTokensPerSecond).toBeGreaterThan(0);
      expect(c.throughput?.requestsPerMinuteAt4).toBeGreaterThan(0);
      expect(c.throughput?.byConcurrency?.map((p) => p.concurrency)).toEqual([1, 4]);
      expect(c.latency?.itlMs?.summary.n).toBeGreaterThan(0);
      expect(c.maxConcurrencyUnderSlo?.slo).toBe("p95 itl <= 50ms");
      expect(c.maxConcurrencyUnderSlo?.value).toBeGreaterThanOrEqual(0);
    }
  });

  it("grades the known answers and compares them with the reference", () => {
    const [rightResult, wrongResult, , again, vllm] = result.configurations;
    expect(rightResult?.quality?.n).toBe(3);
    expect(rightResult?.quality?.accuracy.value).toBe(1);
    expect(wrongResult?.quality?.accuracy.value).toBe(0);
    expect(again?.quality?.accuracy.value).toBe(1);
    expect(vllm?.quality?.accuracy.value).toBe(1);
    expect(vllm?.quality?.agreement?.sameAnswerRate).toBe(1);
    expect(rightResult?.quality?.agreement).toBeUndefined(); // the reference itself
    expect(wrongResult?.quality?.agreement?.sameAnswerRate).toBe(0);
    expect(wrongResult?.quality?.agreement?.identicalRate).toBe(0);
    expect(again?.quality?.agreement?.sameAnswerRate).toBe(1);
    expect(again?.quality?.agreement?.identicalRate).toBe(1);
    expect(again?.quality?.agreement?.chrf).toBeCloseTo(100, 5);
    expect(again?.quality?.agreement?.embeddingCosine).toBeCloseTo(1, 5);
    expect(again?.quality?.agreement?.embeddingModel).toBeDefined();
    // The answers differ in one digit: close, but not the same text.
    expect(wrongResult?.quality?.agreement?.embeddingCosine).toBeGreaterThan(0.9);
    expect(wrongResult?.quality?.agreement?.embeddingCosine).toBeLessThan(0.999);
    expect(wrongResult?.quality?.agreement?.chrf).toBeLessThan(100);
    expect(wrongResult?.quality?.agreement?.chrf).toBeGreaterThan(90);
    // First differing token, in the reference model's own tokens: "<think>", "\n", "Four", " times",
    // " four", ".\n\n", "</think>", "\n\n", "The", " answer", " is", " \\", "boxed", "{", "1", then "5"
    // against "6" at index 15 (words and punctuation would say 17).
    expect(wrongResult?.quality?.agreement?.tokenizer).toMatch(/^model tokens \(right: .*\.gguf\)$/u);
    expect(wrongResult?.quality?.agreement?.firstDifferingToken).toMatchObject({ min: 15, max: 15, n: 3 });
    expect(again?.quality?.agreement?.firstDifferingToken).toBeUndefined();
    // scripted weights: the answers are known, so the figures are meaningful, and said to be scripted
    expect(wrongResult?.quality?.meaningful).toBe(true);
    expect(wrongResult?.quality?.agreement?.meaningful).toBe(true);
    expect(wrongResult?.quality?.note).toMatch(/^scripted synthetic model/u);
  });

  it("prints the table and writes JSON, Markdown, HTML and the measurements as they were taken", () => {
    expect(run.stdout).toMatch(/Metric\s+right\s+wrong\s+missing\s+right-again\s+vllm/u);
    // scripted models' figures are printed as they are (random weights' would read "n/a: random weights")
    expect(run.stdout).toMatch(/Accuracy ↑\s+100%\s+0%\s+—\s+100%\s+100%\s+▼ −100 pp \(worse\)/u);
    expect(run.stdout).toContain("note: Scripted synthetic models");
    expect(run.stdout).not.toContain("random weights");
    expect(run.stdout).toMatch(/First differing token, median ↑\s+—\s+15 tok/u);
    // Only the report on stdout: llama.cpp's logs of the embedding model and the tokenizer stay off it.
    expect(run.stdout).toMatch(/^\n(?:note: |Metric)/u);
    expect(run.stdout).toMatch(/First differing position counted in model tokens \(right: .*\.gguf\)\./u);
    const out = join(dir, "out");
    for (const file of ["results.json", "report.md", "report.html", "measurements.jsonl", "requests.jsonl"])
      expect(existsSync(join(out, file)), file).toBe(true);
    const markdown = readFileSync(join(out, "report.md"), "utf8");
    expect(markdown).toMatch(/\| Metric \| right \| wrong \| missing \| right-again \| vllm \|/u);
    expect(markdown).toContain("failed: model file not found");
    const phases = readFileSync(join(out, "measurements.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { configuration: string; phase: string })
      .filter((m) => m.configuration === "right")
      .map((m) => m.phase);
    expect(phases).toEqual(["warm-up", "ttft", "throughput", "capacity", "quality", "stopping"]);
    const qualityLines = readFileSync(join(out, "quality-wrong.jsonl"), "utf8").trim().split("\n");
    expect(qualityLines.map((line) => (JSON.parse(line) as { extracted: string }).extracted)).toEqual([
      "15",
      "15",
      "15",
    ]);
    expect(readFileSync(join(out, "serve-right.log"), "utf8")).toMatch(
      /listening on http:\/\/127\.0\.0\.1:\d+/u,
    );
  });

  it("re-renders the results with servelab report, and the HTML draws every chart in Chromium", async () => {
    const out = join(dir, "out");
    const markdown = await runCli(["report", join(out, "results.json"), "--format", "markdown"]);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toBe(readFileSync(join(out, "report.md"), "utf8"));
    const bad = await runCli(["report", join(dir, "sixteen.jsonl")]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/cannot read|not a servelab compare result/u);

    const browser = await launchReportBrowser();
    try {
      const page = await browser.openReport(readFileSync(join(out, "report.html"), "utf8"), "compare-e2e");
      expect(page.consoleErrors).toEqual([]);
      expect(page.requests).toEqual([]);
      for (const id of reportChartIds) {
        expect(page.charts[id]?.marks, `chart ${id}: ${JSON.stringify(page.charts)}`).toBeGreaterThan(0);
        expect(page.charts[id]?.drawn, `chart ${id} has marks of zero size`).toBe(page.charts[id]?.marks);
      }
      expect(page.text).toContain("model file not found");
    } finally {
      await browser.close();
    }
  });

  it("resumes: finished configurations are kept, the failed one runs again", async () => {
    const out = join(dir, "out");
    const before = readFileSync(join(out, "results.json"), "utf8");
    const again = await runCli(["compare", "--resume", out], vllmEnv);
    expect(again.code).toBe(1);
    const resumed = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as ComparisonResult;
    const previous = JSON.parse(before) as ComparisonResult;
    expect(resumed.configurations[0]).toEqual(previous.configurations[0]);
    expect(resumed.configurations[3]?.load).toEqual(previous.configurations[3]?.load);
    expect(resumed.configurations[2]?.status).toBe("failed");
    expect(again.stderr).not.toMatch(/\[1\/5 right\] loading/u);
    expect(again.stderr).toMatch(/\[3\/5 missing\]/u);
  }, 300_000); // agreement again: the embedding model and the reference's vocabulary load in the CLI
});
