/**
 * GGUF constants: metadata value types, ggml tensor types and their block layouts, file types.
 * Numbers follow ggml/include/gguf.h and ggml.h of llama.cpp (the copy node-llama-cpp 3.22.1 ships).
 */

/** GGUF metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** ggml tensor types servelab writes (and the ones it can name when reading). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** Block layout of a ggml type: `blockSize` elements take `blockBytes` bytes. */
export interface GgmlTypeTraits {
  readonly name: string;
  readonly blockSize: number;
  readonly blockBytes: number;
}

const traits: Readonly<Record<number, GgmlTypeTraits>> = {
  0: { name: "F32", blockSize: 1, blockBytes: 4 },
  1: { name: "F16", blockSize: 1, blockBytes: 2 },
  2: { name: "Q4_0", blockSize: 32, blockBytes: 18 },
  3: { name: "Q4_1", blockSize: 32, blockBytes: 20 },
  6: { name: "Q5_0", blockSize: 32, blockBytes: 22 },
  7: { name: "Q5_1", blockSize: 32, blockBytes: 24 },
  8: { name: "Q8_0", blockSize: 32, blockBytes: 34 },
  9: { name: "Q8_1", blockSize: 32, blockBytes: 36 },
  10: { name: "Q2_K", blockSize: 256, blockBytes: 84 },
  11: { name: "Q3_K", blockSize: 256, blockBytes: 110 },
  12: { name: "Q4_K", blockSize: 256, blockBytes: 144 },
  13: { name: "Q5_K", blockSize: 256, blockBytes: 176 },
  14: { name: "Q6_K", blockSize: 256, blockBytes: 210 },
  15: { name: "Q8_K", blockSize: 256, blockBytes: 292 },
  16: { name: "IQ2_XXS", blockSize: 256, blockBytes: 66 },
  17: { name: "IQ2_XS", blockSize: 256, blockBytes: 74 },
  18: { name: "IQ3_XXS", blockSize: 256, blockBytes: 98 },
  19: { name: "IQ1_S", blockSize: 256, blockBytes: 50 },
  20: { name: "IQ4_NL", blockSize: 32, blockBytes: 18 },
  21: { name: "IQ3_S", blockSize: 256, blockBytes: 110 },
  22: { name: "IQ2_S", blockSize: 256, blockBytes: 82 },
  23: { name: "IQ4_XS", blockSize: 256, blockBytes: 136 },
  24: { name: "I8", blockSize: 1, blockBytes: 1 },
  25: { name: "I16", blockSize: 1, blockBytes: 2 },
  26: { name: "I32", blockSize: 1, blockBytes: 4 },
  27: { name: "I64", blockSize: 1, blockBytes: 8 },
  28: { name: "F64", blockSize: 1, blockBytes: 8 },
  29: { name: "IQ1_M", blockSize: 256, blockBytes: 56 },
  30: { name: "BF16", blockSize: 1, blockBytes: 2 },
  34: { name: "TQ1_0", blockSize: 256, blockBytes: 54 },
  35: { name: "TQ2_0", blockSize: 256, blockBytes: 66 },
  39: { name: "MXFP4", blockSize: 32, blockBytes: 17 },
};

/** The block layout of a ggml type, or undefined for a type this table does not know. */
export function getGgmlTypeTraits(type: number): GgmlTypeTraits | undefined {
  return traits[type];
}

/** The name of a ggml type ("Q8_0"), or "TYPE_<n>" for an unknown one. */
export function formatGgmlType(type: number): string {
  return traits[type]?.name ?? `TYPE_${type}`;
}

/** Bytes a tensor of `shape` (ne0 first) takes in `type`; ne0 must be a multiple of the block size. */
export function computeTensorBytes(shape: readonly number[], type: number): number {
  const t = traits[type];
  if (t === undefined) throw new RangeError(`unknown ggml type ${type}`);
  const ne0 = shape[0] ?? 1;
  if (ne0 % t.blockSize !== 0)
    throw new RangeError(`ne0=${ne0} is not a multiple of ${t.name}'s block size ${t.blockSize}`);
  let rows = 1;
  for (let i = 1; i < shape.length; i++) rows *= shape[i] ?? 1;
  return (ne0 / t.blockSize) * t.blockBytes * rows;
}

/** Number of elements of a shape. */
export function countElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** llama_ftype values written as general.file_type. */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q2_K: 10,
  MOSTLY_Q3_K_S: 11,
  MOSTLY_Q3_K_M: 12,
  MOSTLY_Q3_K_L: 13,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_BF16: 32,
} as const;

const fileTypeNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(LlamaFileType).map(([k, v]) => [v, k.replace(/^(ALL|MOSTLY)_/, "").toLowerCase()]),
);

/** A general.file_type value as a precision name ("q8_0", "f16"), or undefined when unknown. */
export function formatFileType(fileType: number): string | undefined {
  return fileTypeNames[fileType];
}

/** Default GGUF alignment of the tensor data section. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** "GGUF" read as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
