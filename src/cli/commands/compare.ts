/**
 * `servelab compare` (and `servelab start`, the default run): precision modes and models side by side,
 * each in its own server process, with a table, Markdown, JSON and a self-contained HTML report.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { InvalidArgumentError } from "../../core/errors.js";
import { redactArgv } from "../../core/redact.js";
import { formatMs } from "../../core/format.js";
import { timestampForPath } from "../../bench/options.js";
import {
  checkUniqueNames,
  compareProfiles,
  comparePresetNames,
  loadCompareFile,
  modelConfigurations,
  presetConfigurations,
  type CompareConfiguration,
  type ComparePlan,
  type ComparePreset,
  type CompareProfileName,
} from "../../compare/config.js";
import { readComparePlan, runCompare, type CompareEvent } from "../../compare/run-compare.js";
import { renderComparison } from "../../compare/report.js";
import { parseSlo } from "../../bench/options.js";
import { createStyles } from "../ui/ansi.js";

export interface CompareFlags {
  preset: ComparePreset;
  config?: string;
  model?: string[];
  precision?: string;
  profile?: CompareProfileName;
  reference?: string;
  slo?: string;
  dataset?: string;
  embeddings?: string;
  gpu?: string;
  parallel?: number;
  serveOption?: string[];
  out?: string;
  resume?: string;
  json?: boolean;
}

const examples = `
Examples:
  servelab compare                                   # R1-Distill-Qwen-1.5B F32 against Q8_0 (synthetic if no --model)
  servelab compare --preset precision --precision f32,f16,bf16,q8_0,q4_0 --profile full
  servelab compare --preset models                   # R1-Distill-Qwen-1.5B against Phi-3-mini, Q8_0
  servelab compare --model r1-f32.gguf --model r1-q8_0.gguf --dataset gsm8k.jsonl --embeddings nomic-embed.gguf
  servelab compare --config compare.yaml --gpu vulkan
  servelab compare --resume results/2026-11-21T10-00-00-compare   # run what did not finish
  servelab report results/2026-11-21T10-00-00-compare/results.json --format html

A compare file (YAML or JSON):
  reference: r1-f32
  configurations:
    - { name: r1-f32, engine: embedded, model: ./r1-f32.gguf }
    - { name: r1-q8, engine: embedded, model: synth:deepseek-r1-distill-qwen-1.5b, precision: q8_0 }
    - { name: r1-vllm-fp8, engine: vllm, model: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B,
        options: { quantization: fp8, gpu-memory-utilization: 0.5 } }
    - { name: llama-server, engine: "url:http://127.0.0.1:8080/v1", model: r1, api-key-env: LLAMA_API_KEY }
    - { name: gateway, engine: "url:https://llm.example/v1", model: r1, api-key: "\${GATEWAY_KEY}" }

Each configuration runs alone in its own process: load time, memory at idle and at peak (resident
memory always; GPU memory too when the engine runs on a GPU and nvidia-smi works), TTFT on short/medium/long prompts, tokens/s,
requests/min at concurrency 4, max concurrency under --slo, and math accuracy with agreement against
the reference. Results are written as they are measured: Ctrl-C keeps them, --resume goes on.
API keys (api-key, api-key-env, --serve-option api-key=...) are sent, never written: results.json,
plan.json and the reports hold "(redacted)" or the variable's name.
`;

function parseServeOption(value: string, previous: string[] = []): string[] {
  if (!/^[a-z][a-z0-9-]*(=.*)?$/u.test(value))
    throw new InvalidArgumentError(
      `--serve-option takes NAME or NAME=VALUE (a serve flag without --), got "${value}"`,
    );
  return [...previous, value];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds the plan from the flags, the compare file and SERVELAB_MODEL. */
export async function buildComparePlan(
  flags: CompareFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ComparePlan> {
  // --resume DIR alone goes on with the plan stored there.
  if (flags.resume !== undefined && flags.config === undefined && flags.model === undefined)
    return readComparePlan(resolve(flags.resume));
  const file = flags.config === undefined ? undefined : await loadCompareFile(flags.config);
  const precisions =
    flags.precision === undefined
      ? []
      : flags.precision
          .split(",")
          .map((p) => p.trim().toLowerCase())
          .filter((p) => p !== "");
  const envModels =
    env.SERVELAB_MODEL?.split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "") ?? [];
  const models = flags.model ?? envModels;
  let configurations: CompareConfiguration[];
  if (file !== undefined) configurations = file.configurations;
  else if (models.length > 0) configurations = modelConfigurations(models);
  else configurations = presetConfigurations(flags.preset, precisions);
  if (configurations.length === 0)
    throw new InvalidArgumentError("nothing to compare: give --preset, --model or --config");
  checkUniqueNames(configurations);

  const common: Record<string, string | number | boolean> = {};
  if (flags.gpu !== undefined) common["gpu"] = flags.gpu;
  for (const option of flags.serveOption ?? []) {
    const eq = option.indexOf("=");
    common[eq === -1 ? option : option.slice(0, eq)] = eq === -1 ? true : option.slice(eq + 1);
  }
  if (Object.keys(common).length > 0)
    configurations = configurations.map((c) =>
      c.engine === "embedded" || c.engine === "vllm" ? { ...c, options: { ...common, ...c.options } } : c,
    );

  const profileName = flags.profile ?? file?.profile ?? "quick";
  const profile = { ...compareProfiles[profileName] };
  if (flags.parallel !== undefined) profile.parallel = flags.parallel;
  const reference = flags.reference ?? file?.reference ?? (configurations[0] as CompareConfiguration).name;
  if (!configurations.some((c) => c.name === reference))
    throw new InvalidArgumentError(
      `--reference "${reference}" is not one of the configurations: ${configurations.map((c) => c.name).join(", ")}`,
    );
  const slo = flags.slo ?? file?.slo ?? "itl=50ms";
  parseSlo(slo);
  const plan: ComparePlan = { configurations, reference, profile, slo };
  const dataset = flags.dataset ?? file?.dataset;
  if (dataset !== undefined) plan.dataset = dataset;
  const embeddings = flags.embeddings ?? file?.embeddings;
  if (embeddings !== undefined) plan.embeddings = embeddings;
  return plan;
}

const phaseNames: Record<CompareEvent["phase"], string> = {
  model: "model",
  loading: "loading",
  "warm-up": "warm-up",
  ttft: "TTFT",
  throughput: "throughput",
  capacity: "max concurrency",
  quality: "quality",
  stopping: "stopping",
};

/** Runs a comparison from flags and prints it. Shared by `compare` and `start`. */
export async function runCompareCommand(flags: CompareFlags, banner?: string): Promise<void> {
  const styles = createStyles(process.stderr);
  const outDir = resolve(
    flags.resume ?? flags.out ?? join("results", `${timestampForPath(new Date())}-compare`),
  );
  const plan = await buildComparePlan(flags);
  if (banner !== undefined) process.stderr.write(`${banner}\n`);
  const synthetic = plan.configurations.some((c) => c.model.startsWith("synth:"));
  if (synthetic)
    process.stderr.write(
      `${styles.yellow("note:")} no model given (--model or SERVELAB_MODEL): using synthetic models with the real architectures, made once into the cache folder. Speed and memory are real; answers are random, so quality is not meaningful.\n`,
    );
  process.stderr.write(
    `comparing ${plan.configurations.map((c) => c.name).join(", ")} (profile ${plan.profile.name}, reference ${plan.reference}); results in ${outDir}\n`,
  );

  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      "\nstopping: stopping the server and keeping what was measured (Ctrl-C again to quit now)\n",
    );
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  const live = process.stderr.isTTY === true;
  let lastLine = "";
  let phaseStart = performance.now();
  let lastPhase = "";
  let printedKey = "";
  const clear = (): void => {
    if (live && lastLine !== "") process.stderr.write("\r\x1b[2K");
    lastLine = "";
  };
  const started = performance.now();
  try {
    const result = await runCompare(
      {
        plan,
        outDir,
        command: ["servelab", ...redactArgv(process.argv.slice(2))].join(" "),
        resume: flags.resume !== undefined,
        signal: controller.signal,
      },
      {
        onProgress: (event) => {
          const key = `${event.configuration}/${event.phase}`;
          if (key !== lastPhase) {
            lastPhase = key;
            phaseStart = performance.now();
          }
          const head = `[${event.index}/${event.total} ${event.configuration}] ${phaseNames[event.phase]}${event.detail === undefined ? "" : ` ${event.detail}`}`;
          // live: the time in this phase; a log gets a line as each phase starts, so the time since the start
          const line = live
            ? `${head} (${formatMs(performance.now() - phaseStart)})`
            : `${head} (at ${formatMs(performance.now() - started)})`;
          if (live) {
            process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
            lastLine = line;
          } else if (key !== printedKey || event.phase === "model") {
            // Without a terminal: one line per phase (every step while a model is synthesized).
            printedKey = key;
            process.stderr.write(`${line}\n`);
          }
        },
        onAgreement: (reference) => {
          clear();
          process.stderr.write(`comparing the answers with ${reference}'s\n`);
        },
        onConfiguration: (c) => {
          clear();
          if (c.status === "ok") process.stderr.write(`${styles.bold(c.name)}: done\n`);
          else process.stderr.write(`${styles.red("error:")} ${c.name}: ${c.error ?? "failed"}\n`);
        },
      },
    );
    clear();
    writeFileSync(join(outDir, "report.md"), renderComparison(result, "markdown"));
    writeFileSync(join(outDir, "report.html"), renderComparison(result, "html"));
    if (flags.json === true) process.stdout.write(renderComparison(result, "json"));
    else
      process.stdout.write(
        `\n${renderComparison(result, "table", { color: createStyles(process.stdout).enabled })}`,
      );
    process.stderr.write(
      `\nwrote ${join(outDir, "results.json")}, report.md, report.html, measurements.jsonl, requests.jsonl (${formatMs(performance.now() - started)})\n`,
    );
    if (controller.signal.aborted) {
      process.stderr.write(`interrupted: to run what did not finish: servelab compare --resume ${outDir}\n`);
      process.exitCode = 130;
    } else if (result.configurations.some((c) => c.status === "failed")) {
      process.exitCode = 1;
    }
  } finally {
    clear();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

/** Adds the compare flags to a command (compare and start share them). */
export function addCompareOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--preset <name>", "what to compare without --model/--config")
        .choices([...comparePresetNames])
        .default("precision"),
    )
    .option("-c, --config <file>", "YAML or JSON file listing the configurations")
    .option(
      "-m, --model <path|hf:uri>",
      "a real GGUF model; repeat for each configuration (env SERVELAB_MODEL, comma-separated)",
      collect,
    )
    .option(
      "--precision <list>",
      "synthetic precisions: precision preset f32,q8_0 (default) or any of f32,f16,bf16,q8_0,q4_0; models preset one of them",
    )
    .addOption(
      new Option(
        "--profile <name>",
        "smoke (seconds: checks a setup), quick (minutes on a laptop; default) or full (5 runs, 40 problems, long answers)",
      ).choices(["smoke", "quick", "full"]),
    )
    .option("--reference <name>", "configuration the others are compared against (default: the first)")
    .option("--slo <objective>", "latency objective of the max-concurrency search (default itl=50ms)")
    .option(
      "--dataset <file.jsonl>",
      "math problems with question and answer fields (GSM8K or MATH-500 style) instead of generated ones",
    )
    .option(
      "--embeddings <gguf|url>",
      "embedding model (GGUF) or /v1 URL (URL#model to name the model) for answer similarity",
    )
    .addOption(
      new Option("--gpu <backend>", "GPU backend of the embedded engine").choices([
        "auto",
        "cuda",
        "vulkan",
        "metal",
        "cpu",
      ]),
    )
    .option("--parallel <n>", "sequences each server decodes together (default: 8 quick, 16 full)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError(`--parallel must be a positive integer, got "${v}"`);
      return n;
    })
    .option(
      "--serve-option <name=value>",
      "another servelab serve flag for every configuration (repeatable), e.g. flash-attn or ctx-size=2048",
      parseServeOption,
    )
    .option("-o, --out <dir>", "results folder (default ./results/<timestamp>-compare)")
    .option(
      "--resume <dir>",
      "continue an interrupted comparison in this folder (finished configurations are kept)",
    )
    .option("--json", "print the results JSON on stdout instead of the table");
}

/** Register `servelab compare`. */
export function registerCompareCommand(program: Command): void {
  addCompareOptions(
    program
      .command("compare")
      .description(
        "compare precisions, models and engines side by side: speed, memory, quality; HTML report",
      ),
  )
    .addHelpText("after", examples)
    .action(async (flags: CompareFlags) => {
      await runCompareCommand(flags);
    });
}
