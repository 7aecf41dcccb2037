import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { InvalidArgumentError } from "../../core/errors.js";
import { formatBytes, formatMs } from "../../core/format.js";
import { createEngineFromSpec, type EngineSpecOptions } from "../../engines/create-engine.js";
import { parseProfileOptions, profileOptionsHelp } from "../../models/profile-options.js";
import { createFileAuditLog } from "../../server/audit.js";
import { startServer } from "../../server/index.js";
import { formatListening } from "../../server/listen-address.js";
import { joinPrimary, runPrimary } from "../../server/workers.js";
import type { ServerLimits } from "../../server/request.js";
import { parseIntegerOption, parsePositiveIntegerOption, parseProfileOption } from "../options.js";

interface ServeFlags extends EngineSpecOptions {
  host: string;
  port: number;
  apiKey?: string;
  apiKeyFile?: string;
  profile?: string;
  profileOption: string[];
  requestTimeout?: number;
  bodyLimit?: number;
  maxTokensCeiling?: number;
  maxMessages?: number;
  maxStops?: number;
  maxStopLength?: number;
  maxConcurrentPerClient?: number;
  shutdownGrace: number;
  restartOnFailure: number;
  cors?: string[];
  accessLog?: boolean;
  auditLog?: string;
  auditLogText?: boolean;
  workers: number;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve a model behind an OpenAI-compatible HTTP API")
    .option(
      "-m, --model <path|hf:uri>",
      "GGUF file or hf: URI (env SERVELAB_MODEL)",
      process.env.SERVELAB_MODEL,
    )
    .option(
      "--engine <engine>",
      "embedded (llama.cpp in this process), vllm (launch vLLM), or url:http://host:port/v1 (attach as a gateway)",
      "embedded",
    )
    .option("--model-id <name>", "the model name clients send (default: the file name)")
    .option("--host <host>", "address to bind; 0.0.0.0 exposes the server to the network", "127.0.0.1")
    .option(
      "-p, --port <port>",
      "port to listen on (0 picks a free one)",
      parseIntegerOption("--port", 0, 65535),
      8000,
    )
    // No commander default from the environment: --help would print the secret.
    .option("--api-key <key>", "require 'Authorization: Bearer <key>' (env SERVELAB_API_KEY)")
    .option("--api-key-file <file>", "read the API key from a file")
    .option(
      "--parallel <n>",
      "sequences decoded together (continuous batching)",
      parsePositiveIntegerOption("--parallel"),
      4,
    )
    .option(
      "--ctx-size <n>",
      "context tokens per sequence (default: min(model's, 4096))",
      parsePositiveIntegerOption("--ctx-size"),
    )
    .option(
      "--max-queue <n>",
      "requests that may wait for a sequence before 429",
      parseIntegerOption("--max-queue", 0, 1_000_000),
      64,
    )
    .option(
      "--threads <n>",
      "CPU threads (default: the available cores)",
      parsePositiveIntegerOption("--threads"),
    )
    .addOption(
      new Option("--gpu <backend>", "GPU backend")
        .choices(["auto", "cuda", "vulkan", "metal", "cpu"])
        .default("auto"),
    )
    .option(
      "--gpu-layers <n>",
      "layers to offload to the GPU (default: as many as fit)",
      parseIntegerOption("--gpu-layers", 0, 10_000),
    )
    .option("--batch-size <n>", "tokens per decode batch", parsePositiveIntegerOption("--batch-size"))
    .option("--flash-attn", "use flash attention")
    .addOption(
      new Option("--dtype <dtype>", "vLLM: weight dtype").choices(["auto", "float32", "bfloat16", "float16"]),
    )
    .addOption(
      new Option("--quantization <method>", "vLLM: quantization of the checkpoint").choices([
        "awq",
        "gptq",
        "fp8",
        "bitsandbytes",
        "compressed-tensors",
      ]),
    )
    .option("--gpu-memory-utilization <fraction>", "vLLM: share of GPU memory to use (0-1]", parseFloat)
    .option(
      "--tensor-parallel-size <n>",
      "vLLM: GPUs each layer is split over",
      parsePositiveIntegerOption("--tensor-parallel-size"),
    )
    .option(
      "--pipeline-parallel-size <n>",
      "vLLM: pipeline stages (GPUs or nodes)",
      parsePositiveIntegerOption("--pipeline-parallel-size"),
    )
    .option(
      "--data-parallel-size <n>",
      "vLLM: model replicas",
      parsePositiveIntegerOption("--data-parallel-size"),
    )
    .option("--enable-prefix-caching", "vLLM: reuse the KV cache of shared prompt prefixes")
    .option(
      "--reasoning-parser <name>",
      "vLLM: reasoning parser (default deepseek_r1 for R1 models; none to disable)",
    )
    .option("--vllm-arg <arg...>", "vLLM: extra arguments passed through as they are")
    .option("--upstream-api-key <key>", "url: the API key the upstream server expects")
    .option(
      "--workers <n>",
      "url: gateway processes sharing the port, for upstreams that stream more tokens than one core carries (limits apply per process)",
      parsePositiveIntegerOption("--workers"),
      1,
    )
    .option(
      "--profile <name>",
      "model profile: deepseek-r1-distill, phi-3 or generic (default: from the model)",
      parseProfileOption,
    )
    .option(
      "--profile-option <key=value>",
      "change one profile behaviour (repeatable; keys below)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      "--request-timeout <ms>",
      "abort requests that take longer (504)",
      parsePositiveIntegerOption("--request-timeout"),
    )
    .option(
      "--body-limit <bytes>",
      "largest request body (default 4 MiB)",
      parsePositiveIntegerOption("--body-limit"),
    )
    .option(
      "--max-tokens-ceiling <n>",
      "largest max_tokens a request may ask for (default 32768)",
      parsePositiveIntegerOption("--max-tokens-ceiling"),
    )
    .option(
      "--max-messages <n>",
      "most messages in one chat request (default 1000)",
      parsePositiveIntegerOption("--max-messages"),
    )
    .option(
      "--max-stops <n>",
      "most stop strings in one request (default 16)",
      parseIntegerOption("--max-stops", 0, 1_000_000),
    )
    .option(
      "--max-stop-length <n>",
      "longest stop string in characters (default 256)",
      parsePositiveIntegerOption("--max-stop-length"),
    )
    .option(
      "--max-concurrent-per-client <n>",
      "requests one client address may have running or queued before 429 (default 128)",
      parsePositiveIntegerOption("--max-concurrent-per-client"),
    )
    .option(
      "--shutdown-grace <ms>",
      "on SIGTERM/SIGINT, time in-flight requests get to finish before they are aborted",
      parseIntegerOption("--shutdown-grace", 0, 3_600_000),
      10_000,
    )
    .option(
      "--restart-on-failure <attempts>",
      "restart an engine that fails while serving, up to this many attempts in a row (backoff 1 s, 2 s, 4 s ... 30 s); 0: never (/health answers 503)",
      parseIntegerOption("--restart-on-failure", 0, 1000),
      3,
    )
    .option("--cors <origins...>", "allow these browser origins (* for any); CORS is off by default")
    .option("--access-log", "print one line per request (never prompt or answer text)")
    .option(
      "--audit-log <file>",
      "append one JSON line per generation (time, client, model, tokens, latency); API keys redacted",
    )
    .option("--audit-log-text", "also record prompt and answer text in the audit log")
    .addHelpText(
      "after",
      `
Examples:
  servelab synth deepseek-r1-distill-qwen-1.5b --type q8_0 -o r1.gguf
  servelab serve -m r1.gguf                      # http://127.0.0.1:8000/v1
  servelab serve -m r1.gguf --parallel 8 --api-key secret
  servelab serve --engine vllm -m deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
  servelab serve --engine url:http://127.0.0.1:8080/v1   # gateway in front of llama-server
  servelab serve --engine url:http://10.0.0.5:8000/v1 --host 0.0.0.0 --api-key secret --workers 4

Then: curl http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json' \\
        -d '{"messages":[{"role":"user","content":"What is 4*4?"}]}'`,
    )
    .addHelpText("after", `\n${profileOptionsHelp()}`)
    .action(async (flags: ServeFlags, command: Command) => {
      const verbose = Boolean(command.optsWithGlobals().verbose);
      await runServe(flags, verbose);
    });
}

async function runServe(flags: ServeFlags, verbose: boolean): Promise<void> {
  let apiKey = flags.apiKey ?? (process.env.SERVELAB_API_KEY || undefined);
  if (flags.apiKeyFile !== undefined) {
    try {
      apiKey = readFileSync(flags.apiKeyFile, "utf8").trim();
    } catch (err) {
      throw new InvalidArgumentError(`--api-key-file: cannot read ${flags.apiKeyFile}`, { cause: err });
    }
  }
  if (apiKey !== undefined && apiKey.length === 0)
    throw new InvalidArgumentError("--api-key must not be empty");
  if (flags.auditLogText && flags.auditLog === undefined)
    throw new InvalidArgumentError("--audit-log-text needs --audit-log <file>");
  if (flags.workers > 1 && !flags.engine.startsWith("url:"))
    throw new InvalidArgumentError(
      flags.engine === "vllm"
        ? "--workers needs --engine url:...; vLLM scales its own API server (--vllm-arg --api-server-count N)"
        : "--workers needs --engine url:...; the embedded engine holds the model in one process (use --parallel)",
      { param: "workers" },
    );
  const worker = flags.workers > 1 && cluster.isWorker;
  const profileOptions = parseProfileOptions(flags.profileOption);
  const limits: Partial<ServerLimits> = {
    ...(flags.maxTokensCeiling === undefined ? {} : { maxTokensCeiling: flags.maxTokensCeiling }),
    ...(flags.maxMessages === undefined ? {} : { maxMessages: flags.maxMessages }),
    ...(flags.maxStops === undefined ? {} : { maxStops: flags.maxStops }),
    ...(flags.maxStopLength === undefined ? {} : { maxStopLength: flags.maxStopLength }),
    ...(flags.maxConcurrentPerClient === undefined
      ? {}
      : { maxConcurrentPerClient: flags.maxConcurrentPerClient }),
  };
  const wide = flags.host !== "127.0.0.1" && flags.host !== "localhost" && flags.host !== "::1";
  if (wide && apiKey === undefined && !worker)
    process.stderr.write(
      `warning: listening on ${flags.host} without --api-key: anyone who can reach this machine can use the model\n`,
    );
  if (flags.workers > 1 && cluster.isPrimary) {
    process.stderr.write(`starting ${flags.workers} gateway processes for ${flags.engine} ...\n`);
    // Each worker runs this command line again (cluster.fork) and takes the branch below.
    const code = await runPrimary({
      workers: flags.workers,
      shutdownGraceMs: flags.shutdownGrace,
      stopWithParent: process.env.SERVELAB_STOP_WITH_PARENT === "1",
    });
    process.exit(code);
  }
  const auditLog =
    flags.auditLog === undefined
      ? undefined
      : createFileAuditLog(flags.auditLog, {
          includeText: flags.auditLogText === true,
          secrets: [apiKey, flags.upstreamApiKey].filter((k): k is string => k !== undefined),
        });
  const engine = await createEngineFromSpec(flags, {
    onLog: verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  if (!worker) process.stderr.write(`loading ${flags.model ?? flags.engine} ...\n`);
  let stopping = false;
  // In a worker of --workers: the primary prints the banner once, sums /metrics and says when to stop.
  const started: { server?: Awaited<ReturnType<typeof startServer>> } = {};
  const primary = worker
    ? joinPrimary({
        onStop: (reason) => stop(reason),
        localMetrics: () => started.server?.metrics.render() ?? "",
      })
    : undefined;
  const server = await startServer({
    ...(primary === undefined ? {} : { collectMetrics: primary.collectMetrics }),
    engine,
    host: flags.host,
    port: flags.port,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(flags.profile === undefined ? {} : { profile: flags.profile }),
    profileOptions,
    ...(flags.requestTimeout === undefined ? {} : { requestTimeoutMs: flags.requestTimeout }),
    ...(flags.bodyLimit === undefined ? {} : { bodyLimit: flags.bodyLimit }),
    limits,
    shutdownGraceMs: flags.shutdownGrace,
    restartFailedEngine: flags.restartOnFailure > 0,
    restartPolicy: { attempts: flags.restartOnFailure },
    onEngineEvent: (line) => process.stderr.write(`${line}\n`),
    ...(auditLog === undefined ? {} : { auditLog }),
    ...(flags.cors === undefined ? {} : { corsOrigins: flags.cors }),
    ...(flags.accessLog
      ? {
          onRequestLog: (e) =>
            process.stderr.write(
              `${e.time} ${e.client} ${e.method} ${e.url} ${e.status} ${e.durationMs.toFixed(1)}ms` +
                `${e.promptTokens === undefined ? "" : ` prompt=${e.promptTokens}`}` +
                `${e.completionTokens === undefined ? "" : ` completion=${e.completionTokens}`}\n`,
            ),
        }
      : {}),
  });
  started.server = server;
  function stop(signal: string): void {
    if (stopping) {
      // A worker hears Ctrl-C from the terminal and its primary's stop message: one stop, not two.
      if (worker) return;
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    if (!worker)
      process.stderr.write(
        `\n${signal}: stopping; in-flight requests get ${formatMs(flags.shutdownGrace)} (send it again to exit now)\n`,
      );
    // Told to stop before the server listened (a worker whose primary went away early).
    const running = started.server;
    if (running === undefined) process.exit(1);
    void (async () => {
      let code = 0;
      try {
        const { drained, aborted } = await running.shutdown();
        await engine.dispose();
        await auditLog?.close();
        if (primary !== undefined) await primary.stopped({ drained, aborted });
        else process.stderr.write(`stopped: ${drained} requests finished, ${aborted} aborted\n`);
      } catch (err) {
        process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
        code = 1;
      }
      process.exit(code);
    })();
  }
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  // A parent that runs servers (servelab compare) sets this and holds our stdin open: when the parent
  // dies, even by SIGKILL, stdin ends and the server stops instead of living on as an orphan.
  if (process.env.SERVELAB_STOP_WITH_PARENT === "1" && !worker) {
    process.stdin.on("end", () => stop("parent gone"));
    process.stdin.on("error", () => stop("parent gone"));
    process.stdin.resume();
  }
  try {
    await server.ready;
  } catch (err) {
    await server.close();
    await engine.dispose();
    throw err;
  }
  const info = engine.info();
  const stats = engine.stats();
  const profile = server.profile();
  const lines = [
    `model      ${info.modelId} (${info.source})`,
    `engine     ${info.kind}, ${info.architecture ?? "unknown architecture"}, precision ${info.precision}`,
    `device     ${info.device}${info.metadata?.threads === undefined ? "" : `, ${String(info.metadata.threads)} threads`}`,
    `context    ${info.contextSize} tokens x ${info.parallel} sequences`,
    `profile    ${profile?.name ?? "generic"}`,
    `load time  ${stats.loadTimeMs === undefined ? "n/a" : formatMs(stats.loadTimeMs)}`,
    `memory     ${stats.ramBytes === undefined ? "n/a" : `${formatBytes(stats.ramBytes)} RAM`}${stats.vramBytes === undefined ? "" : `, ${formatBytes(stats.vramBytes)} VRAM`}`,
    formatListening(server.address),
  ];
  if (primary !== undefined) primary.ready(lines);
  else process.stdout.write(`${lines.join("\n")}\n`);
  // Keep running until a signal stops the server.
  await new Promise<never>(() => {});
}
