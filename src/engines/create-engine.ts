/**
 * Builds an Engine from the CLI's engine spec: `embedded` (llama.cpp in this process), `vllm`
 * (launch vLLM), or `url:http://host:port/v1` (attach to a running OpenAI-compatible server).
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Engine } from "./engine.js";
import { createLlamaCppEngine, type GpuChoice } from "./llama-cpp.js";
import { resolveDefaultModel } from "../models/default-model.js";
import { createUpstreamEngine } from "./upstream.js";
import { createVllmEngine, type VllmDtype, type VllmQuantization } from "./vllm.js";

export interface EngineSpecOptions {
  engine: string;
  model?: string;
  modelId?: string;
  parallel?: number;
  ctxSize?: number;
  maxQueue?: number;
  threads?: number;
  gpu?: GpuChoice;
  gpuLayers?: number;
  batchSize?: number;
  flashAttn?: boolean;
  /** vLLM only. */
  dtype?: VllmDtype;
  quantization?: VllmQuantization;
  gpuMemoryUtilization?: number;
  tensorParallelSize?: number;
  pipelineParallelSize?: number;
  dataParallelSize?: number;
  enablePrefixCaching?: boolean;
  reasoningParser?: string;
  vllmArg?: string[];
  /** url: only: the key the upstream server expects. */
  upstreamApiKey?: string;
}

export interface EngineHooks {
  onLog?: ((line: string) => void) | undefined;
  /** Progress while a default model is synthesized. */
  onProgress?: ((message: string) => void) | undefined;
}

export async function createEngineFromSpec(
  spec: EngineSpecOptions,
  hooks: EngineHooks = {},
): Promise<Engine> {
  const kind = spec.engine;
  if (kind === "embedded" || kind === "llama-cpp") {
    const model = spec.model ?? (await resolveDefaultModel({ onProgress: hooks.onProgress }));
    return createLlamaCppEngine({
      model,
      ...(spec.modelId === undefined ? {} : { modelId: spec.modelId }),
      ...(spec.parallel === undefined ? {} : { parallel: spec.parallel }),
      ...(spec.ctxSize === undefined ? {} : { contextSize: spec.ctxSize }),
      ...(spec.maxQueue === undefined ? {} : { maxQueue: spec.maxQueue }),
      ...(spec.threads === undefined ? {} : { threads: spec.threads }),
      ...(spec.gpu === undefined ? {} : { gpu: spec.gpu }),
      ...(spec.gpuLayers === undefined ? {} : { gpuLayers: spec.gpuLayers }),
      ...(spec.batchSize === undefined ? {} : { batchSize: spec.batchSize }),
      ...(spec.flashAttn === undefined ? {} : { flashAttention: spec.flashAttn }),
      ...(hooks.onLog === undefined
        ? {}
        : { onLog: (_level: string, message: string) => hooks.onLog?.(message) }),
    });
  }
  if (kind === "vllm") {
    if (spec.model === undefined)
      throw new InvalidArgumentError(
        "--engine vllm needs --model (a Hugging Face repo id or a local model folder)",
      );
    return createVllmEngine({
      model: spec.model,
      ...(spec.modelId === undefined ? {} : { servedModelName: spec.modelId }),
      ...(spec.ctxSize === undefined ? {} : { maxModelLen: spec.ctxSize }),
      ...(spec.parallel === undefined ? {} : { maxNumSeqs: spec.parallel }),
      ...(spec.dtype === undefined ? {} : { dtype: spec.dtype }),
      ...(spec.quantization === undefined ? {} : { quantization: spec.quantization }),
      ...(spec.gpuMemoryUtilization === undefined ? {} : { gpuMemoryUtilization: spec.gpuMemoryUtilization }),
      ...(spec.tensorParallelSize === undefined ? {} : { tensorParallelSize: spec.tensorParallelSize }),
      ...(spec.pipelineParallelSize === undefined ? {} : { pipelineParallelSize: spec.pipelineParallelSize }),
      ...(spec.dataParallelSize === undefined ? {} : { dataParallelSize: spec.dataParallelSize }),
      ...(spec.enablePrefixCaching === undefined ? {} : { enablePrefixCaching: spec.enablePrefixCaching }),
      ...(spec.reasoningParser === undefined
        ? {}
        : { reasoningParser: spec.reasoningParser === "none" ? false : spec.reasoningParser }),
      ...(spec.vllmArg === undefined ? {} : { extraArgs: spec.vllmArg }),
      ...(hooks.onLog === undefined ? {} : { onLog: hooks.onLog }),
    });
  }
  if (kind.startsWith("url:")) {
    return createUpstreamEngine({
      baseUrl: kind.slice("url:".length),
      ...(spec.model === undefined ? {} : { model: spec.model }),
      ...(spec.upstreamApiKey === undefined ? {} : { apiKey: spec.upstreamApiKey }),
      ...(spec.ctxSize === undefined ? {} : { contextSize: spec.ctxSize }),
      ...(spec.parallel === undefined ? {} : { parallel: spec.parallel }),
    });
  }
  throw new InvalidArgumentError(
    `--engine must be embedded, vllm or url:http://host:port/v1, got "${kind}"`,
    { param: "engine" },
  );
}
