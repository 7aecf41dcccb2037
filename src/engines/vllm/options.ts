/** Options of the vLLM engine, their validation, and the vLLM flags they map to. */

import { InvalidArgumentError } from "../../core/errors.js";

/** vLLM's --dtype values servelab exposes. */
export const vllmDtypes = ["auto", "float32", "bfloat16", "float16"] as const;
export type VllmDtype = (typeof vllmDtypes)[number];

/** vLLM's --quantization values servelab exposes (`compressed-tensors` loads W8A8 INT8 checkpoints). */
export const vllmQuantizations = ["awq", "gptq", "fp8", "bitsandbytes", "compressed-tensors"] as const;
export type VllmQuantization = (typeof vllmQuantizations)[number];

export interface VllmEngineOptions {
  /** Hugging Face repo id or local directory (`vllm serve MODEL`). */
  model: string;
  /** --dtype (default: vLLM's "auto"). */
  dtype?: VllmDtype;
  /** --quantization (default: what the checkpoint's config says). */
  quantization?: VllmQuantization;
  /** --gpu-memory-utilization, in (0, 1] (default: vLLM's 0.9). */
  gpuMemoryUtilization?: number;
  /** --max-model-len: tokens per sequence (default: the model's own). */
  maxModelLen?: number;
  /** --max-num-seqs: sequences decoded together (default: vLLM's, 256 on most GPUs). */
  maxNumSeqs?: number;
  /** --tensor-parallel-size: GPUs each layer is split over. */
  tensorParallelSize?: number;
  /** --pipeline-parallel-size: stages the layers are split into (GPUs or nodes). */
  pipelineParallelSize?: number;
  /** --data-parallel-size: model replicas. */
  dataParallelSize?: number;
  /** --enable-prefix-caching / --no-enable-prefix-caching (default: vLLM's, on in V1). */
  enablePrefixCaching?: boolean;
  /** --reasoning-parser; `false` for none. Default: `deepseek_r1` when the model name looks like an R1
   * model (DeepSeek-R1, R1-Distill), none otherwise. */
  reasoningParser?: string | false;
  /** --host (default 127.0.0.1). */
  host?: string;
  /** --port (default: a free port). */
  port?: number;
  /** --served-model-name: the name clients use (default: the model). */
  servedModelName?: string;
  /** --api-key vLLM requires from clients (the engine sends it too). */
  apiKey?: string;
  /** Passed through to vLLM after servelab's flags, e.g. ["--enforce-eager"]. */
  extraArgs?: readonly string[];
  /** Added to servelab's environment for vLLM (CUDA_VISIBLE_DEVICES, HF_TOKEN, PATH, ...). */
  env?: Readonly<Record<string, string>>;
  /** Run `PYTHON -m vllm.entrypoints.openai.api_server` with this Python instead of `vllm serve`. */
  pythonExecutable?: string;
  /** The `vllm` executable to run (default: `vllm` on PATH). */
  vllmExecutable?: string;
  /** File receiving vLLM's output (default: servelab-vllm-<time>-<pid>.log under os.tmpdir()). */
  logFile?: string;
  /** Called with each line vLLM prints (the CLI shows them under --verbose). */
  onLog?: (line: string) => void;
  /** Longest wait for vLLM to become ready, in ms (default 900 000: downloads and CUDA graphs take time). */
  startupTimeoutMs?: number;
  /** Time vLLM gets to exit after SIGINT before SIGKILL, in ms (default 10 000). */
  stopGraceMs?: number;
  /** Send a 1-token request before reporting ready (default true). */
  warmup?: boolean;
  /** Concurrent connections to vLLM (default 256). */
  connections?: number;
}

/** The reasoning parser vLLM needs for this model, if any. */
export function defaultReasoningParser(model: string): string | undefined {
  return /deepseek-r1|r1-distill|(^|[/_-])r1([/_-]|$)/i.test(model) ? "deepseek_r1" : undefined;
}

function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`, { param: name });
  }
}

/** Throws InvalidArgumentError with a fix-it message for the first bad option. */
export function validateVllmOptions(options: VllmEngineOptions): void {
  if (typeof options.model !== "string" || options.model.trim() === "") {
    throw new InvalidArgumentError(
      "model must name a Hugging Face repo or a local directory, got an empty string",
      { param: "model" },
    );
  }
  if (options.dtype !== undefined && !vllmDtypes.includes(options.dtype)) {
    throw new InvalidArgumentError(
      `dtype must be one of ${vllmDtypes.join(", ")}, got ${String(options.dtype)}`,
      { param: "dtype" },
    );
  }
  if (options.quantization !== undefined && !vllmQuantizations.includes(options.quantization)) {
    throw new InvalidArgumentError(
      `quantization must be one of ${vllmQuantizations.join(", ")}, got ${String(options.quantization)} (pass others through extraArgs)`,
      { param: "quantization" },
    );
  }
  const util = options.gpuMemoryUtilization;
  if (util !== undefined && !(Number.isFinite(util) && util > 0 && util <= 1)) {
    throw new InvalidArgumentError(`gpuMemoryUtilization must be in (0, 1], got ${util}`, {
      param: "gpuMemoryUtilization",
    });
  }
  checkPositiveInteger("maxModelLen", options.maxModelLen);
  checkPositiveInteger("maxNumSeqs", options.maxNumSeqs);
  checkPositiveInteger("tensorParallelSize", options.tensorParallelSize);
  checkPositiveInteger("pipelineParallelSize", options.pipelineParallelSize);
  checkPositiveInteger("dataParallelSize", options.dataParallelSize);
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
  ) {
    throw new InvalidArgumentError(`port must be an integer in [1, 65535], got ${options.port}`, {
      param: "port",
    });
  }
  for (const key of ["startupTimeoutMs", "stopGraceMs"] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new InvalidArgumentError(`${key} must be a non-negative number of milliseconds, got ${value}`, {
        param: key,
      });
    }
  }
  if (
    options.reasoningParser !== undefined &&
    options.reasoningParser !== false &&
    !/^[a-z0-9_]+$/i.test(options.reasoningParser)
  ) {
    throw new InvalidArgumentError(
      `reasoningParser must be a parser name like deepseek_r1, got '${options.reasoningParser}'`,
      {
        param: "reasoningParser",
      },
    );
  }
}

/** The flags after `vllm serve MODEL` (or after `--model MODEL` for the python module form). */
export function buildVllmArgs(options: VllmEngineOptions): string[] {
  const args: string[] = [];
  const flag = (name: string, value: string | number | undefined): void => {
    if (value !== undefined) args.push(name, String(value));
  };
  flag("--host", options.host ?? "127.0.0.1");
  flag("--port", options.port);
  flag("--served-model-name", options.servedModelName);
  flag("--dtype", options.dtype);
  flag("--quantization", options.quantization);
  flag("--gpu-memory-utilization", options.gpuMemoryUtilization);
  flag("--max-model-len", options.maxModelLen);
  flag("--max-num-seqs", options.maxNumSeqs);
  flag("--tensor-parallel-size", options.tensorParallelSize);
  flag("--pipeline-parallel-size", options.pipelineParallelSize);
  flag("--data-parallel-size", options.dataParallelSize);
  if (options.enablePrefixCaching === true) args.push("--enable-prefix-caching");
  if (options.enablePrefixCaching === false) args.push("--no-enable-prefix-caching");
  const parser =
    options.reasoningParser === undefined ? defaultReasoningParser(options.model) : options.reasoningParser;
  if (parser !== false && parser !== undefined) flag("--reasoning-parser", parser);
  flag("--api-key", options.apiKey);
  args.push(...(options.extraArgs ?? []));
  return args;
}
