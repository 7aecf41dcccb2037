/**
 * Builds an Engine from the CLI's engine spec: `embedded` (llama.cpp in this process), `vllm`
 * (launch vLLM), or `url:http://host:port/v1` (attach to a running OpenAI-compatible server).
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Engine } from "./engine.js";
import { createLlamaCppEngine, type GpuChoice } from "./llama-cpp.js";
import { resolveDefaultModel } from "../models/default-model.js";

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
}

export interface EngineHooks {
  onLog?: ((line: string) => void) | undefined;
  /** Progress while a default model is synthesized. */
  onProgress?: ((message: string) => void) | undefined;
}

export async function createEngineFromSpec(spec: EngineSpecOptions, hooks: EngineHooks = {}): Promise<Engine> {
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
      ...(hooks.onLog === undefined ? {} : { onLog: (_level: string, message: string) => hooks.onLog?.(message) }),
    });
  }
  throw new InvalidArgumentError(
    `--engine must be embedded, vllm or url:http://host:port/v1, got "${kind}"`,
    { param: "engine" },
  );
}
