/** `servelab bench`: load-test any OpenAI-compatible server. Thin: parse flags, call runBench, print. */
import type { Command } from "commander";
import { InvalidArgumentError } from "../../core/errors.js";
import { runBench, renderBenchTable } from "../../bench/index.js";
import type { BenchOptions } from "../../bench/index.js";
import { createProgressReporter } from "../../bench/progress.js";
import { formatJson } from "../../report/json.js";

const examples = `
Examples:
  servelab bench --url http://127.0.0.1:8000/v1 --concurrency 1,4,8 --workload short,medium,long --runs 3
  servelab bench --workload synthetic --input-tokens uniform:64:256 --max-tokens 128 --tokenizer model.gguf
  servelab bench --rate 10 --arrival poisson --burstiness 0.5 --duration 60s --max-concurrency 64
  servelab bench --find-max-concurrency --slo itl=50ms --search-range 1:256 --search-trials 3
  servelab bench --workload prompts.jsonl --api completions --extra '{"temperature":0}' --json > results.json
  servelab bench --resume results/2026-11-21T10-00-00-bench   # go on with an interrupted bench

Every finished run is written as it ends (runs.jsonl, and a partial results.json and report.md):
Ctrl-C or a crash keeps it, and --resume DIR runs only what did not finish.
`;

/** Flags a resumed bench may take: where the server is now and how to reach and watch it. The rest
 * comes from the run's plan.json. */
const resumeFlags = new Set(["resume", "url", "apiKey", "serverPid", "json", "gpu", "metrics"]);

interface BenchFlags {
  url?: string;
  model?: string;
  api?: string;
  apiKey?: string;
  workload?: string;
  inputTokens?: string;
  maxTokens?: string;
  ignoreEos?: boolean;
  concurrency?: string;
  rate?: string;
  arrival?: string;
  burstiness?: string;
  maxConcurrency?: string;
  requests?: string;
  duration?: string;
  warmup?: string;
  runs?: string;
  slo?: string;
  sloPercentile?: string;
  timeout?: string;
  out?: string;
  save: boolean;
  json?: boolean;
  extra?: string;
  seed?: string;
  tokenizer?: string;
  findMaxConcurrency?: boolean;
  searchRange?: string;
  searchTrials?: string;
  serverPid?: string;
  gpu: boolean;
  metrics: boolean;
  resume?: string;
}

/** Register `servelab bench`. */
export function registerBenchCommand(program: Command): void {
  program
    .command("bench")
    .description(
      "measure an OpenAI-compatible server: TTFT, TTFO, per-token ITL, throughput, goodput, capacity",
    )
    .option("--url <url>", "base URL ending in /v1 (env SERVELAB_BENCH_URL)", "http://127.0.0.1:8000/v1")
    .option("--model <name>", "model to request (default: the first from /v1/models)")
    .option("--api <api>", "chat or completions", "chat")
    .option("--api-key <key>", "bearer token (env OPENAI_API_KEY)")
    .option(
      "--workload <w>",
      "short,medium,long | synthetic | FILE (.jsonl or ShareGPT .json)",
      "short,medium,long",
    )
    .option("--input-tokens <n>", "synthetic input length: 128, uniform:64:256 or normal:128:16", "128")
    .option("--max-tokens <n>", "output tokens per request (max_tokens)", "128")
    .option("--ignore-eos", "send ignore_eos: true (default for synthetic)")
    .option("--no-ignore-eos", "never send ignore_eos")
    .option("--concurrency <list>", "closed-loop concurrency levels, e.g. 1,4,8 (default 1)")
    .option("--rate <list>", "open-loop request rates per second, e.g. 10 or 5,10,20")
    .option("--arrival <kind>", "with --rate: poisson (default) or constant")
    .option("--burstiness <f>", "with --rate: gamma shape of arrivals (default 1 = Poisson; < 1 burstier)")
    .option("--max-concurrency <n>", "with --rate: cap on requests in flight (waits count as latency)")
    .option("--requests <n>", "measured requests per run and level (default 100 without --duration)")
    .option("--duration <d>", "time limit per run and level, e.g. 60s")
    .option("--warmup <n>", "requests before each run, excluded from results", "0")
    .option("--runs <n>", "repetitions (mean ± std, IQR outliers trimmed)", "1")
    .option("--slo <list>", "objectives, e.g. ttft=200ms,itl=50ms,e2e=5s (goodput; capacity search)")
    .option("--slo-percentile <p>", "percentile the capacity search checks: 50, 90, 95 or 99", "95")
    .option("--timeout <d>", "per-request timeout", "300s")
    .option("--out <dir>", "results folder (default ./results/<timestamp>-bench)")
    .option("--no-save", "write no results folder")
    .option("--json", "print results JSON on stdout instead of the table")
    .option("--extra <json>", "JSON fields added to every request body")
    .option("--seed <n>", "seed for synthetic prompts and arrival times", "1")
    .option(
      "--tokenizer <file.gguf>",
      "GGUF of the served model: exact input lengths, token counts without usage",
    )
    .option("--find-max-concurrency", "search the largest concurrency meeting --slo")
    .option("--search-range <min:max>", "capacity search bounds", "1:256")
    .option("--search-trials <n>", "trials per probed concurrency (majority decides)", "3")
    .option("--server-pid <pid>", "sample this local server process's resident memory")
    .option("--no-gpu", "do not sample nvidia-smi")
    .option("--no-metrics", "do not read the server's /metrics")
    .option(
      "--resume <dir>",
      "go on with the interrupted bench in DIR: its saved options, only the runs it did not finish (--url, --api-key and --server-pid may be given again)",
    )
    .addHelpText("after", examples)
    .action(async (flags: BenchFlags, command: Command) => {
      const explicit = (name: string): boolean => command.getOptionValueSource(name) === "cli";
      const options: BenchOptions =
        flags.resume === undefined ? optionsFromFlags(flags, explicit) : resumeFromFlags(flags, command);

      // First Ctrl-C: stop, print and write the partial results; second: exit at once.
      const controller = new AbortController();
      options.signal = controller.signal;
      const outDir = typeof options.out === "string" ? options.out : undefined;
      const resumeHint =
        outDir === undefined
          ? undefined
          : `to run what did not finish: servelab bench --resume ${outDir}${explicit("apiKey") ? " --api-key KEY (keys are not saved)" : ""}\n`;
      const onSigint = (): void => {
        if (controller.signal.aborted) {
          if (resumeHint !== undefined) process.stderr.write(`\nquit: ${resumeHint}`);
          process.exit(130);
        }
        process.stderr.write("\nstopping: finishing partial results (Ctrl-C again to quit now)\n");
        controller.abort();
      };
      process.on("SIGINT", onSigint);
      const progress = createProgressReporter(process.stderr);
      try {
        const result = await runBench(options, { onProgress: progress.onProgress });
        progress.clear();
        if (flags.json === true) process.stdout.write(formatJson(result));
        else process.stdout.write(renderBenchTable(result));
        if (result.partial) {
          if (resumeHint !== undefined) process.stderr.write(`interrupted: ${resumeHint}`);
          process.exitCode = 130;
        }
      } finally {
        progress.clear();
        process.off("SIGINT", onSigint);
      }
    });
}

/** BenchOptions from the flags of a new bench. */
function optionsFromFlags(flags: BenchFlags, explicit: (name: string) => boolean): BenchOptions {
  const options: BenchOptions = {
    // The arguments after the command name (global flags such as --verbose may come before it).
    argv: process.argv.slice(2).filter((arg, i, all) => i !== all.indexOf("bench")),
    sampleGpu: flags.gpu,
    readMetrics: flags.metrics,
  };
  const copy = <K extends keyof BenchOptions>(key: K, value: BenchOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  copy("url", explicit("url") ? flags.url : (process.env.SERVELAB_BENCH_URL ?? flags.url));
  copy("model", flags.model);
  copy("api", flags.api);
  copy("apiKey", flags.apiKey);
  copy("workload", flags.workload);
  copy("inputTokens", flags.inputTokens);
  copy("maxTokens", flags.maxTokens);
  if (explicit("ignoreEos")) options.ignoreEos = flags.ignoreEos === true;
  copy("concurrency", flags.concurrency);
  copy("rate", flags.rate);
  copy("arrival", flags.arrival);
  copy("burstiness", flags.burstiness);
  copy("maxConcurrency", flags.maxConcurrency);
  copy("requests", flags.requests);
  copy("duration", flags.duration);
  copy("warmup", flags.warmup);
  copy("runs", flags.runs);
  copy("slo", flags.slo);
  copy("sloPercentile", flags.sloPercentile);
  copy("timeout", flags.timeout);
  copy("extra", flags.extra);
  copy("seed", flags.seed);
  copy("tokenizer", flags.tokenizer);
  copy("findMaxConcurrency", flags.findMaxConcurrency);
  copy("searchRange", flags.searchRange);
  copy("searchTrials", flags.searchTrials);
  copy("serverPid", flags.serverPid);
  if (!flags.save) options.out = false;
  else copy("out", flags.out);
  return options;
}

/** BenchOptions of `--resume DIR`: the saved ones (runBench reads DIR/plan.json), with only the
 * flags a resume may change. */
function resumeFromFlags(flags: BenchFlags, command: Command): BenchOptions {
  const others = command.options
    .filter((o) => command.getOptionValueSource(o.attributeName()) === "cli")
    .filter((o) => !resumeFlags.has(o.attributeName()))
    .map((o) => o.long ?? o.flags);
  if (others.length > 0)
    throw new InvalidArgumentError(
      `--resume goes on with the options saved in ${flags.resume}/plan.json; drop ${others.join(", ")} (or start a new bench)`,
      { param: "resume" },
    );
  const options: BenchOptions = {
    out: flags.resume as string,
    resume: true,
    sampleGpu: flags.gpu,
    readMetrics: flags.metrics,
  };
  if (flags.url !== undefined && command.getOptionValueSource("url") === "cli") options.url = flags.url;
  if (flags.apiKey !== undefined) options.apiKey = flags.apiKey;
  if (flags.serverPid !== undefined) options.serverPid = flags.serverPid;
  return options;
}
