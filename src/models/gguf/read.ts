/**
 * A robust GGUF reader: header, metadata and tensor table, checked against the file size so that a bad
 * magic, a truncated file or absurd counts end in a GgufError, never a crash, a hang or a huge allocation.
 */
import { open, type FileHandle } from "node:fs/promises";
import { GgufError } from "../../core/errors.js";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  countElements,
  formatFileType,
  formatGgmlType,
  getGgmlTypeTraits,
} from "./types.js";
import type { GgufArray, GgufEntry, GgufMetadata, GgufScalar } from "./metadata.js";
import { getMetadataNumber, getMetadataString } from "./metadata.js";

/** One row of the tensor table. */
export interface GgufTensorInfo {
  readonly name: string;
  /** Dimensions, ne0 (the contiguous one) first, as GGUF stores them. */
  readonly shape: readonly number[];
  /** ggml type id (see GgmlType). */
  readonly type: number;
  /** Offset of the data from the start of the data section. */
  readonly offset: number;
  /** Bytes of data (undefined for a type this reader does not know). */
  readonly byteSize: number | undefined;
  readonly elements: number;
}

/** A parsed GGUF file (everything but the tensor data). */
export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

/** Options of readGguf. */
export interface ReadGgufOptions {
  /** Skip the items of arrays longer than this (kept as `{ itemType, items: [] }` plus a count in
   * `skippedArrayLengths`). Default: read everything. */
  maxArrayItems?: number;
}

const MAX_STRING = 64 * 1024 * 1024;
const MAX_DIMS = 8;
const CHUNK = 1 << 20;

const scalarSize: Partial<Record<number, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** Reads forward through a file in chunks; every read is checked against the file size. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly path: string,
  ) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  fail(message: string): never {
    throw new GgufError(message, this.path);
  }

  private async ensure(n: number, what: string): Promise<void> {
    if (this.pos + n > this.size)
      this.fail(`truncated file: ${what} at byte ${this.pos} needs ${n} bytes, file has ${this.size}`);
    const off = this.pos - this.bufStart;
    if (off + n <= this.buf.length) return;
    const want = Math.max(n, CHUNK);
    const len = Math.min(want, this.size - this.pos);
    const next = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(next, got, len - got, this.pos + got);
      if (bytesRead === 0) this.fail(`truncated file: unexpected end at byte ${this.pos + got}`);
      got += bytesRead;
    }
    this.buf = next;
    this.bufStart = this.pos;
  }

  private view(n: number): number {
    const off = this.pos - this.bufStart;
    this.pos += n;
    return off;
  }

  async u32(what: string): Promise<number> {
    await this.ensure(4, what);
    return this.buf.readUInt32LE(this.view(4));
  }

  async u64(what: string): Promise<bigint> {
    await this.ensure(8, what);
    return this.buf.readBigUInt64LE(this.view(8));
  }

  /** A uint64 that must fit a safe integer and be at most `max`. */
  async count(what: string, max: number): Promise<number> {
    const v = await this.u64(what);
    if (v > BigInt(max)) this.fail(`absurd ${what} ${v} (at most ${max} fit in the file)`);
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const len = await this.count(`${what} length`, Math.min(this.remaining, MAX_STRING));
    await this.ensure(len, what);
    const off = this.view(len);
    return this.decoder.decode(this.buf.subarray(off, off + len));
  }

  async scalar(type: number, what: string): Promise<GgufScalar> {
    if (type === GgufValueType.STRING) return this.string(what);
    const size = scalarSize[type];
    if (size === undefined) this.fail(`unknown metadata value type ${type} for ${what}`);
    await this.ensure(size, what);
    const off = this.view(size);
    const b = this.buf;
    switch (type) {
      case GgufValueType.UINT8:
        return b.readUInt8(off);
      case GgufValueType.INT8:
        return b.readInt8(off);
      case GgufValueType.UINT16:
        return b.readUInt16LE(off);
      case GgufValueType.INT16:
        return b.readInt16LE(off);
      case GgufValueType.UINT32:
        return b.readUInt32LE(off);
      case GgufValueType.INT32:
        return b.readInt32LE(off);
      case GgufValueType.FLOAT32:
        return b.readFloatLE(off);
      case GgufValueType.BOOL:
        return b.readUInt8(off) !== 0;
      case GgufValueType.UINT64:
        return b.readBigUInt64LE(off);
      case GgufValueType.INT64:
        return b.readBigInt64LE(off);
      default:
        return b.readDoubleLE(off);
    }
  }

  async skip(n: number, what: string): Promise<void> {
    if (this.pos + n > this.size) this.fail(`truncated file: ${what} at byte ${this.pos} needs ${n} bytes`);
    this.pos += n;
  }
}

async function readValue(
  c: Cursor,
  type: number,
  key: string,
  options: ReadGgufOptions,
  depth: number,
): Promise<GgufEntry["value"]> {
  if (type !== GgufValueType.ARRAY) return c.scalar(type, key);
  if (depth > 4) c.fail(`arrays nested too deep in ${key}`);
  const itemType = await c.u32(`${key} array type`);
  if (
    itemType !== GgufValueType.ARRAY &&
    itemType !== GgufValueType.STRING &&
    scalarSize[itemType] === undefined
  ) {
    c.fail(`unknown array item type ${itemType} for ${key}`);
  }
  const minItem =
    itemType === GgufValueType.STRING
      ? 8
      : itemType === GgufValueType.ARRAY
        ? 12
        : (scalarSize[itemType] ?? 1);
  const n = await c.count(`${key} array length`, Math.floor(c.remaining / minItem));
  if (options.maxArrayItems !== undefined && n > options.maxArrayItems && itemType !== GgufValueType.ARRAY) {
    if (itemType === GgufValueType.STRING) {
      for (let i = 0; i < n; i++) {
        const len = await c.count(`${key}[${i}] length`, Math.min(c.remaining, MAX_STRING));
        await c.skip(len, `${key}[${i}]`);
      }
    } else await c.skip(n * minItem, key);
    return { itemType: itemType as GgufValueType, items: [], skipped: n };
  }
  if (itemType === GgufValueType.ARRAY) {
    const items: GgufArray[] = [];
    for (let i = 0; i < n; i++)
      items.push((await readValue(c, GgufValueType.ARRAY, `${key}[${i}]`, options, depth + 1)) as GgufArray);
    return { itemType: GgufValueType.ARRAY, items };
  }
  const items: GgufScalar[] = new Array<GgufScalar>(n);
  for (let i = 0; i < n; i++) items[i] = await c.scalar(itemType, key);
  return { itemType: itemType as GgufValueType, items };
}

/** Length of an array value, also when its items were skipped. */
export function getArrayLength(array: GgufArray): number {
  return array.skipped ?? array.items.length;
}

/**
 * Reads a GGUF file's header, metadata and tensor table.
 * @throws GgufError for anything that is not a well-formed GGUF v2/v3 file.
 */
export async function readGguf(path: string, options: ReadGgufOptions = {}): Promise<GgufFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new GgufError(`cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, path, {
      cause: err,
    });
  }
  try {
    const { size } = await fh.stat();
    const c = new Cursor(fh, size, path);
    if (size < 24) c.fail(`not a GGUF file (${size} bytes, too short for a header)`);
    const magic = await c.u32("magic");
    if (magic !== GGUF_MAGIC) c.fail(`not a GGUF file (bad magic 0x${magic.toString(16).padStart(8, "0")})`);
    const version = await c.u32("version");
    if (version !== 2 && version !== 3)
      c.fail(`unsupported GGUF version ${version} (servelab reads 2 and 3)`);
    // each tensor info takes at least 8+4+8+4+8 bytes, each key/value at least 8+4+1
    const tensorCount = await c.count("tensor count", Math.floor(size / 32));
    const kvCount = await c.count("metadata count", Math.floor(size / 13));
    const metadata: GgufMetadata = new Map();
    for (let i = 0; i < kvCount; i++) {
      const key = await c.string(`metadata key #${i}`);
      const type = await c.u32(`type of ${key}`);
      const value = await readValue(c, type, key, options, 0);
      metadata.set(key, { type: type as GgufValueType, value });
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await c.string(`tensor name #${i}`);
      const nDims = await c.u32(`dimensions of ${name}`);
      if (nDims < 1 || nDims > MAX_DIMS)
        c.fail(`tensor ${name} has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
      const shape: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const dim = await c.u64(`dimension ${d} of ${name}`);
        if (dim === 0n || dim > BigInt(Number.MAX_SAFE_INTEGER))
          c.fail(`tensor ${name} has an absurd dimension ${dim}`);
        shape.push(Number(dim));
      }
      const type = await c.u32(`type of ${name}`);
      const offset = await c.u64(`offset of ${name}`);
      if (offset > BigInt(size)) c.fail(`tensor ${name} has offset ${offset} beyond the end of the file`);
      const elements = countElements(shape);
      if (!Number.isSafeInteger(elements)) c.fail(`tensor ${name} has an absurd element count`);
      const t = getGgmlTypeTraits(type);
      const byteSize = t === undefined ? undefined : (elements / t.blockSize) * t.blockBytes;
      tensors.push({ name, shape, type, offset: Number(offset), byteSize, elements });
    }
    const alignment = getMetadataNumber(metadata, "general.alignment") ?? GGUF_DEFAULT_ALIGNMENT;
    if (
      !Number.isInteger(alignment) ||
      alignment <= 0 ||
      alignment > 1 << 20 ||
      (alignment & (alignment - 1)) !== 0
    ) {
      c.fail(`general.alignment ${alignment} is not a power of two`);
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    for (const t of tensors) {
      if (t.byteSize !== undefined && dataOffset + t.offset + t.byteSize > size) {
        c.fail(
          `truncated file: tensor ${t.name} (${formatGgmlType(t.type)}, ${t.byteSize} bytes at ${dataOffset + t.offset}) ends beyond the file's ${size} bytes`,
        );
      }
    }
    return { path, version, metadata, tensors, alignment, dataOffset, fileSize: size };
  } finally {
    await fh.close();
  }
}

/** What the engine needs to know about a model file, cheaply. */
export interface GgufSummary {
  readonly path: string;
  readonly architecture: string | undefined;
  readonly name: string | undefined;
  /** general.file_type as a precision name ("q8_0"), else derived from the tensor types. */
  readonly precision: string;
  readonly fileType: number | undefined;
  readonly contextLength: number | undefined;
  readonly chatTemplate: string | undefined;
  readonly tensorCount: number;
  readonly parameters: number;
  readonly fileSize: number;
}

/** Reads the summary of a GGUF model (token arrays are skipped, so this is fast). */
export async function readGgufSummary(path: string): Promise<GgufSummary> {
  const file = await readGguf(path, { maxArrayItems: 64 });
  return summarizeGguf(file);
}

/** The summary of an already read file. */
export function summarizeGguf(file: GgufFile): GgufSummary {
  const { metadata } = file;
  const architecture = getMetadataString(metadata, "general.architecture");
  const fileType = getMetadataNumber(metadata, "general.file_type");
  return {
    path: file.path,
    architecture,
    name: getMetadataString(metadata, "general.name"),
    precision:
      (fileType === undefined ? undefined : formatFileType(fileType)) ?? derivePrecision(file.tensors),
    fileType,
    contextLength:
      architecture === undefined ? undefined : getMetadataNumber(metadata, `${architecture}.context_length`),
    chatTemplate: getMetadataString(metadata, "tokenizer.chat_template"),
    tensorCount: file.tensors.length,
    parameters: file.tensors.reduce((n, t) => n + t.elements, 0),
    fileSize: file.fileSize,
  };
}

function derivePrecision(tensors: readonly GgufTensorInfo[]): string {
  const counts = new Map<number, number>();
  for (const t of tensors) if (t.shape.length > 1) counts.set(t.type, (counts.get(t.type) ?? 0) + t.elements);
  if (counts.size === 0) return "unknown";
  if (counts.size > 1) return "mixed";
  const [type] = counts.keys();
  return formatGgmlType(type ?? 0).toLowerCase();
}
