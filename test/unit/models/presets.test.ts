import { describe, expect, it } from "vitest";
import { GgmlType } from "../../../src/models/gguf/types.js";
import {
  chooseTensorType,
  countPresetParameters,
  getPreset,
  listPresetTensors,
  VOCAB_SIZES,
} from "../../../src/models/presets.js";
import { planModel } from "../../../src/models/synthesize.js";

describe("presets", () => {
  it("DeepSeek-R1-Distill-Qwen-1.5B has 1.78 B parameters in llama.cpp's qwen2 tensor layout", () => {
    const p = getPreset("deepseek-r1-distill-qwen-1.5b");
    expect(countPresetParameters(p, VOCAB_SIZES["qwen2-r1"])).toBe(1_777_088_000);
    const t = new Map(listPresetTensors(p, 151936).map((x) => [x.name, x.shape]));
    expect(t.size).toBe(2 + 28 * 12 + 1);
    expect(t.get("token_embd.weight")).toEqual([1536, 151936]);
    expect(t.get("output.weight")).toEqual([1536, 151936]);
    expect(t.get("blk.0.attn_k.weight")).toEqual([1536, 256]);
    expect(t.get("blk.27.attn_q.bias")).toEqual([1536]);
    expect(t.get("blk.3.ffn_down.weight")).toEqual([8960, 1536]);
  });

  it("Phi-3-mini-4k has 3.82 B parameters with fused qkv and gate/up", () => {
    const p = getPreset("phi-3-mini-4k");
    expect(countPresetParameters(p, VOCAB_SIZES["phi-3"])).toBe(3_821_079_552);
    const t = new Map(listPresetTensors(p, 32064).map((x) => [x.name, x.shape]));
    expect(t.get("blk.0.attn_qkv.weight")).toEqual([3072, 9216]);
    expect(t.get("blk.31.ffn_up.weight")).toEqual([3072, 16384]);
    expect(t.has("blk.0.ffn_gate.weight")).toBe(false);
  });

  it("keeps 1-D tensors F32 and output.weight Q6_K under q4_0", () => {
    expect(chooseTensorType({ name: "blk.0.attn_norm.weight", shape: [1536] }, "q4_0")).toBe(GgmlType.F32);
    expect(chooseTensorType({ name: "blk.0.attn_q.bias", shape: [1536] }, "f16")).toBe(GgmlType.F32);
    expect(chooseTensorType({ name: "output.weight", shape: [1536, 151936] }, "q4_0")).toBe(GgmlType.Q6_K);
    expect(chooseTensorType({ name: "output.weight", shape: [64, 151936] }, "q4_0")).toBe(GgmlType.Q8_0);
    expect(chooseTensorType({ name: "token_embd.weight", shape: [1536, 151936] }, "q4_0")).toBe(
      GgmlType.Q4_0,
    );
    expect(chooseTensorType({ name: "output.weight", shape: [1536, 151936] }, "q8_0")).toBe(GgmlType.Q8_0);
  });

  it("rejects an unknown preset with the list of valid ones", () => {
    expect(() => getPreset("llama-70b")).toThrow(
      /unknown preset 'llama-70b'; presets: deepseek-r1-distill-qwen-1.5b/,
    );
  });

  // Sizes of the real GGUF checkpoints, in bytes (decimal GB, as Hugging Face's file lists round them):
  // - R1 f32 7.11, f16 3.56, q8_0 1.89, q4_0 1.07 GB: the DeepSeek-R1-Distill-Qwen-1.5B GGUF repos (unsloth's
  //   Q8_0: 1.89 GB). BF16 stores 2 bytes per weight like F16, so its file is F16's size: 3.56 GB
  //   (1,777,088,000 parameters x 2 = 3.55e9, plus the F32 norms and biases).
  // - Phi-3 f16 7.64 and q8_0 4.06 GB: lmstudio-community/Phi-3-mini-4k-instruct-GGUF (…-fp16.gguf,
  //   …-Q8_0.gguf); bf16 is f16's size, as above; q4_0 2.17 GB: phi-3-mini-4k-instruct-q4_0.gguf (output.weight
  //   Q6_K, as llama-quantize writes it). f32: no F32 file is published; the reference is the parameter count
  //   Hugging Face shows for microsoft/Phi-3-mini-4k-instruct's safetensors (3,821,079,552) x 4 bytes, which is
  //   what convert_hf_to_gguf.py --outtype f32 writes (plus under 1 MB of metadata).
  it.each([
    ["deepseek-r1-distill-qwen-1.5b", "f32", 7.11e9],
    ["deepseek-r1-distill-qwen-1.5b", "f16", 3.56e9],
    ["deepseek-r1-distill-qwen-1.5b", "bf16", 3.56e9],
    ["deepseek-r1-distill-qwen-1.5b", "q8_0", 1.89e9],
    ["deepseek-r1-distill-qwen-1.5b", "q4_0", 1.07e9],
    ["phi-3-mini-4k", "f32", 3_821_079_552 * 4],
    ["phi-3-mini-4k", "f16", 7.64e9],
    ["phi-3-mini-4k", "bf16", 7.64e9],
    ["phi-3-mini-4k", "q8_0", 4.06e9],
    ["phi-3-mini-4k", "q4_0", 2.17e9],
  ] as const)("%s %s is within 1 percent of the real file (%s bytes)", async (preset, type, published) => {
    const plan = await planModel({ preset, type });
    expect(Math.abs(plan.fileSize / published - 1)).toBeLessThan(0.01);
  });
});
