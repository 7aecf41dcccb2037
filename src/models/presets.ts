/**
 * Model presets with the real hyper-parameters of the models servelab serves, and their GGUF tensor
 * tables (names and shapes exactly as llama.cpp's qwen2 and phi3 loaders expect them).
 */
import { InvalidArgumentError } from "../core/errors.js";
import { GgmlType, countElements } from "./gguf/types.js";
import { gguf, type GgufMetadata } from "./gguf/metadata.js";
import type { VocabularyName } from "./tokenizer/vocab.js";

/** Tensor precisions servelab synthesizes. */
export type SynthType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0";
export const SYNTH_TYPES: readonly SynthType[] = ["f32", "f16", "bf16", "q8_0", "q4_0"];

/** A model shape. */
export interface ModelPreset {
  readonly id: string;
  readonly description: string;
  /** general.architecture. */
  readonly architecture: "qwen2" | "phi3";
  /** general.name written into the file. */
  readonly name: string;
  readonly hidden: number;
  readonly layers: number;
  readonly ffn: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly contextLength: number;
  readonly ropeTheta: number;
  readonly rmsEps: number;
  /** phi3 writes rope.dimension_count (head size). */
  readonly ropeDim?: number;
  readonly slidingWindow?: number;
  readonly originalContextLength?: number;
  /** The vocabulary the real model uses. */
  readonly vocabulary: VocabularyName;
  /** Chat template file under assets/templates/. */
  readonly template: string;
}

const r1Common = {
  architecture: "qwen2",
  contextLength: 131072,
  ropeTheta: 10000,
  rmsEps: 1e-6,
  vocabulary: "qwen2-r1",
  template: "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
} as const;

const phi3Common = {
  architecture: "phi3",
  contextLength: 4096,
  originalContextLength: 4096,
  ropeTheta: 10000,
  rmsEps: 1e-5,
  slidingWindow: 2047,
  vocabulary: "phi-3",
  template: "microsoft-Phi-3.5-mini-instruct.jinja",
} as const;

/** Every preset, in --list order. */
export const PRESETS: readonly ModelPreset[] = [
  {
    id: "deepseek-r1-distill-qwen-1.5b",
    description: "DeepSeek-R1-Distill-Qwen-1.5B (qwen2, 1.78 B parameters, untied output)",
    name: "DeepSeek R1 Distill Qwen 1.5B (synthetic)",
    hidden: 1536,
    layers: 28,
    ffn: 8960,
    heads: 12,
    kvHeads: 2,
    ...r1Common,
  },
  {
    id: "phi-3-mini-4k",
    description: "Phi-3-mini-4k-instruct (phi3, 3.82 B parameters, fused qkv and gate/up)",
    name: "Phi 3 Mini 4k Instruct (synthetic)",
    hidden: 3072,
    layers: 32,
    ffn: 8192,
    heads: 32,
    kvHeads: 32,
    ropeDim: 96,
    ...phi3Common,
  },
  {
    id: "tiny-deepseek-r1-distill-qwen",
    description: "tiny qwen2 with the R1 tokenizer and template (hidden 64, 2 layers) for tests",
    name: "Tiny DeepSeek R1 Distill Qwen (synthetic)",
    hidden: 64,
    layers: 2,
    ffn: 128,
    heads: 4,
    kvHeads: 2,
    ...r1Common,
  },
  {
    id: "tiny-phi-3",
    description: "tiny phi3 with the Phi-3 tokenizer and template (hidden 64, 2 layers) for tests",
    name: "Tiny Phi 3 (synthetic)",
    hidden: 64,
    layers: 2,
    ffn: 128,
    heads: 4,
    kvHeads: 4,
    ropeDim: 16,
    ...phi3Common,
  },
];

/** The preset with this id. @throws InvalidArgumentError listing the valid ids. */
export function getPreset(id: string): ModelPreset {
  const p = PRESETS.find((x) => x.id === id);
  if (p === undefined)
    throw new InvalidArgumentError(
      `unknown preset '${id}'; presets: ${PRESETS.map((x) => x.id).join(", ")}`,
      { param: "preset" },
    );
  return p;
}

/** What a tensor is, which decides its synthetic values and its type. */
export type TensorRole = "embedding" | "output" | "norm" | "bias" | "attn_output" | "ffn_down" | "weight";

export interface PresetTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: TensorRole;
}

/** The tensor table of a preset for a vocabulary of `vocabSize` tokens, in llama.cpp's order. */
export function listPresetTensors(p: ModelPreset, vocabSize: number): PresetTensor[] {
  const d = p.hidden;
  const headDim = d / p.heads;
  const kv = headDim * p.kvHeads;
  const t: PresetTensor[] = [{ name: "token_embd.weight", shape: [d, vocabSize], role: "embedding" }];
  for (let i = 0; i < p.layers; i++) {
    const b = `blk.${i}`;
    t.push({ name: `${b}.attn_norm.weight`, shape: [d], role: "norm" });
    if (p.architecture === "qwen2") {
      t.push(
        { name: `${b}.attn_q.weight`, shape: [d, d], role: "weight" },
        { name: `${b}.attn_q.bias`, shape: [d], role: "bias" },
        { name: `${b}.attn_k.weight`, shape: [d, kv], role: "weight" },
        { name: `${b}.attn_k.bias`, shape: [kv], role: "bias" },
        { name: `${b}.attn_v.weight`, shape: [d, kv], role: "weight" },
        { name: `${b}.attn_v.bias`, shape: [kv], role: "bias" },
        { name: `${b}.attn_output.weight`, shape: [d, d], role: "attn_output" },
        { name: `${b}.ffn_norm.weight`, shape: [d], role: "norm" },
        { name: `${b}.ffn_gate.weight`, shape: [d, p.ffn], role: "weight" },
        { name: `${b}.ffn_up.weight`, shape: [d, p.ffn], role: "weight" },
        { name: `${b}.ffn_down.weight`, shape: [p.ffn, d], role: "ffn_down" },
      );
    } else {
      t.push(
        { name: `${b}.attn_qkv.weight`, shape: [d, d + 2 * kv], role: "weight" },
        { name: `${b}.attn_output.weight`, shape: [d, d], role: "attn_output" },
        { name: `${b}.ffn_norm.weight`, shape: [d], role: "norm" },
        { name: `${b}.ffn_up.weight`, shape: [d, 2 * p.ffn], role: "weight" },
        { name: `${b}.ffn_down.weight`, shape: [p.ffn, d], role: "ffn_down" },
      );
    }
  }
  t.push(
    { name: "output_norm.weight", shape: [d], role: "norm" },
    { name: "output.weight", shape: [d, vocabSize], role: "output" },
  );
  return t;
}

/** Parameter count of a preset (with its real vocabulary size). */
export function countPresetParameters(p: ModelPreset, vocabSize: number): number {
  return listPresetTensors(p, vocabSize).reduce((n, t) => n + countElements(t.shape), 0);
}

/** The real vocabulary sizes. */
export const VOCAB_SIZES: Readonly<Record<VocabularyName, number>> = { "qwen2-r1": 151936, "phi-3": 32064 };

/**
 * The ggml type of a tensor for a precision, following llama.cpp's conventions: 1-D tensors (norms,
 * biases) stay F32 (convert_hf_to_gguf.py, llama-quantize); q4_0 stores output.weight as Q6_K, as
 * llama-quantize does (Q8_0 when its rows are not a multiple of 256, llama-quantize's fallback).
 */
export function chooseTensorType(tensor: Pick<PresetTensor, "shape" | "name">, type: SynthType): number {
  if (tensor.shape.length < 2) return GgmlType.F32;
  switch (type) {
    case "f32":
      return GgmlType.F32;
    case "f16":
      return GgmlType.F16;
    case "bf16":
      return GgmlType.BF16;
    case "q8_0":
      return GgmlType.Q8_0;
    case "q4_0":
      if (tensor.name === "output.weight")
        return (tensor.shape[0] ?? 0) % 256 === 0 ? GgmlType.Q6_K : GgmlType.Q8_0;
      return GgmlType.Q4_0;
  }
}

/** general.file_type for a precision. */
export const FILE_TYPES: Readonly<Record<SynthType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };

/** The general.* and architecture metadata of a preset (tokenizer keys come separately). */
export function buildArchitectureMetadata(
  p: ModelPreset,
  type: SynthType,
  extra: { name?: string } = {},
): GgufMetadata {
  const a = p.architecture;
  const m: GgufMetadata = new Map();
  m.set("general.architecture", gguf.str(a));
  m.set("general.type", gguf.str("model"));
  m.set("general.name", gguf.str(extra.name ?? p.name));
  m.set("general.file_type", gguf.u32(FILE_TYPES[type]));
  if (type === "q8_0" || type === "q4_0") m.set("general.quantization_version", gguf.u32(2));
  m.set(`${a}.block_count`, gguf.u32(p.layers));
  m.set(`${a}.context_length`, gguf.u32(p.contextLength));
  m.set(`${a}.embedding_length`, gguf.u32(p.hidden));
  m.set(`${a}.feed_forward_length`, gguf.u32(p.ffn));
  m.set(`${a}.attention.head_count`, gguf.u32(p.heads));
  m.set(`${a}.attention.head_count_kv`, gguf.u32(p.kvHeads));
  m.set(`${a}.rope.freq_base`, gguf.f32(p.ropeTheta));
  m.set(`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(p.rmsEps));
  if (p.ropeDim !== undefined) m.set(`${a}.rope.dimension_count`, gguf.u32(p.ropeDim));
  if (p.originalContextLength !== undefined)
    m.set(`${a}.rope.scaling.original_context_length`, gguf.u32(p.originalContextLength));
  if (p.slidingWindow !== undefined) m.set(`${a}.attention.sliding_window`, gguf.u32(p.slidingWindow));
  return m;
}
