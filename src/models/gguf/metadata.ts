/** GGUF metadata values: a typed representation that round-trips through the reader and writer. */
import { GgufValueType } from "./types.js";

export type GgufScalar = number | bigint | boolean | string;

/** An array value; `itemType` is the GGUF type of every item (nested arrays use ARRAY). */
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: readonly GgufScalar[] | readonly GgufArray[];
  /** Set when the reader skipped the items (ReadGgufOptions.maxArrayItems): how many there were. */
  readonly skipped?: number;
}

/** One metadata value with its GGUF type. */
export interface GgufEntry {
  readonly type: GgufValueType;
  readonly value: GgufScalar | GgufArray;
}

/** Metadata in file order. */
export type GgufMetadata = Map<string, GgufEntry>;

export function isGgufArray(value: GgufEntry["value"]): value is GgufArray {
  return typeof value === "object" && value !== null && "itemType" in value;
}

/** Entry builders: `u32(7)`, `str("qwen2")`, `strArray([...])`. */
export const gguf = {
  u8: (v: number): GgufEntry => ({ type: GgufValueType.UINT8, value: v }),
  u32: (v: number): GgufEntry => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufEntry => ({ type: GgufValueType.INT32, value: v }),
  u64: (v: number | bigint): GgufEntry => ({ type: GgufValueType.UINT64, value: BigInt(v) }),
  f32: (v: number): GgufEntry => ({ type: GgufValueType.FLOAT32, value: v }),
  bool: (v: boolean): GgufEntry => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufEntry => ({ type: GgufValueType.STRING, value: v }),
  strArray: (v: readonly string[]): GgufEntry => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.STRING, items: v },
  }),
  i32Array: (v: readonly number[]): GgufEntry => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.INT32, items: v },
  }),
  f32Array: (v: readonly number[]): GgufEntry => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.FLOAT32, items: v },
  }),
};

/** A numeric metadata value as a number (bigints converted), or undefined when absent or not numeric. */
export function getMetadataNumber(metadata: GgufMetadata, key: string): number | undefined {
  const v = metadata.get(key)?.value;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

/** A string metadata value, or undefined. */
export function getMetadataString(metadata: GgufMetadata, key: string): string | undefined {
  const v = metadata.get(key)?.value;
  return typeof v === "string" ? v : undefined;
}

/** A boolean metadata value, or undefined. */
export function getMetadataBoolean(metadata: GgufMetadata, key: string): boolean | undefined {
  const v = metadata.get(key)?.value;
  return typeof v === "boolean" ? v : undefined;
}

/** The items of an array value, or undefined. */
export function getMetadataArray(metadata: GgufMetadata, key: string): GgufArray | undefined {
  const v = metadata.get(key)?.value;
  return v !== undefined && isGgufArray(v) ? v : undefined;
}
