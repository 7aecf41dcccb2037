/**
 * A streaming GGUF v3 writer: the header is built in memory, then each tensor's data is generated,
 * encoded and written chunk by chunk (awaiting every write, so memory stays at a few chunks whatever
 * the model size). The file appears atomically: it is written under a temporary name and renamed.
 */
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { AbortedError, ServelabError } from "../../core/errors.js";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  computeTensorBytes,
  countElements,
  getGgmlTypeTraits,
} from "./types.js";
import {
  isGgufArray,
  type GgufArray,
  type GgufEntry,
  type GgufMetadata,
  type GgufScalar,
} from "./metadata.js";
import { encodeTensorData } from "./quantize.js";

/** One tensor to write. `fill` produces its f32 values; the writer encodes them to `type`. */
export interface GgufTensorSpec {
  readonly name: string;
  /** ne0 (contiguous) first. */
  readonly shape: readonly number[];
  /** ggml type id (GgmlType). */
  readonly type: number;
  /** Fills `out` with the values of elements `start` .. `start + out.length - 1` (row-major, ne0 fastest). */
  readonly fill: (start: number, out: Float32Array) => void;
}

/** Progress of a write: bytes written so far and the final file size. */
export interface GgufWriteProgress {
  readonly bytesWritten: number;
  readonly totalBytes: number;
}

/** Options of writeGguf. */
export interface WriteGgufOptions {
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorSpec[];
  /** Data alignment; written as general.alignment when not 32. Default 32. */
  readonly alignment?: number;
  /** Called after each chunk. */
  readonly onProgress?: (progress: GgufWriteProgress) => void;
  readonly signal?: AbortSignal;
  /** Elements generated per chunk (rounded to whole rows). Default 2^20. */
  readonly chunkElements?: number;
}

/** What writeGguf wrote. */
export interface WriteGgufResult {
  readonly path: string;
  readonly bytes: number;
  readonly headerBytes: number;
}

class ByteSink {
  buf = Buffer.alloc(1 << 16);
  len = 0;
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.len);
    this.len += 8;
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.len);
    this.len += bytes.length;
  }
  scalar(type: number, v: GgufScalar): void {
    const n =
      typeof v === "bigint"
        ? Number(v)
        : typeof v === "boolean"
          ? v
            ? 1
            : 0
          : typeof v === "number"
            ? v
            : NaN;
    switch (type) {
      case GgufValueType.STRING:
        if (typeof v !== "string") throw new TypeError(`expected a string, got ${typeof v}`);
        return this.string(v);
      case GgufValueType.UINT8:
      case GgufValueType.BOOL:
        return this.u8(n);
      case GgufValueType.INT8:
        this.reserve(1);
        this.buf.writeInt8(n, this.len);
        this.len += 1;
        return;
      case GgufValueType.UINT16:
        this.reserve(2);
        this.buf.writeUInt16LE(n, this.len);
        this.len += 2;
        return;
      case GgufValueType.INT16:
        this.reserve(2);
        this.buf.writeInt16LE(n, this.len);
        this.len += 2;
        return;
      case GgufValueType.UINT32:
        return this.u32(n);
      case GgufValueType.INT32:
        this.reserve(4);
        this.buf.writeInt32LE(n, this.len);
        this.len += 4;
        return;
      case GgufValueType.FLOAT32:
        this.reserve(4);
        this.buf.writeFloatLE(n, this.len);
        this.len += 4;
        return;
      case GgufValueType.UINT64:
        return this.u64(BigInt(v as number | bigint));
      case GgufValueType.INT64:
        this.reserve(8);
        this.buf.writeBigInt64LE(BigInt(v as number | bigint), this.len);
        this.len += 8;
        return;
      case GgufValueType.FLOAT64:
        this.reserve(8);
        this.buf.writeDoubleLE(n, this.len);
        this.len += 8;
        return;
      default:
        throw new TypeError(`unknown GGUF value type ${type}`);
    }
  }
  entry(type: number, value: GgufEntry["value"]): void {
    if (type !== GgufValueType.ARRAY) {
      if (isGgufArray(value)) throw new TypeError("array value with a scalar type");
      return this.scalar(type, value);
    }
    if (!isGgufArray(value)) throw new TypeError("scalar value with the ARRAY type");
    this.array(value);
  }
  array(a: GgufArray): void {
    this.u32(a.itemType);
    this.u64(a.items.length);
    for (const item of a.items) {
      if (a.itemType === GgufValueType.ARRAY) this.array(item as GgufArray);
      else this.scalar(a.itemType, item as GgufScalar);
    }
  }
  pad(alignment: number): void {
    const n = (alignment - (this.len % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** The header bytes (magic .. padding before the data) and each tensor's relative data offset. */
export function buildGgufHeader(
  metadata: GgufMetadata,
  tensors: readonly Pick<GgufTensorSpec, "name" | "shape" | "type">[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): { header: Buffer; offsets: number[]; dataBytes: number } {
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(metadata.size);
  for (const [key, { type, value }] of metadata) {
    sink.string(key);
    sink.u32(type);
    sink.entry(type, value);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    sink.string(t.name);
    sink.u32(t.shape.length);
    for (const d of t.shape) sink.u64(d);
    sink.u32(t.type);
    sink.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + computeTensorBytes(t.shape, t.type), alignment);
  }
  sink.pad(alignment);
  return { header: sink.buf.subarray(0, sink.len), offsets, dataBytes: offset };
}

/** The exact size of the file writeGguf would write. */
export function computeGgufFileSize(
  metadata: GgufMetadata,
  tensors: readonly Pick<GgufTensorSpec, "name" | "shape" | "type">[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): number {
  const { header, dataBytes } = buildGgufHeader(metadata, tensors, alignment);
  return header.length + dataBytes;
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done);
    done += bytesWritten;
  }
}

/**
 * Writes a GGUF v3 file, streaming tensor data chunk by chunk.
 * @throws ServelabError IO_FAILED when the file cannot be written; AbortedError when the signal fires.
 */
export async function writeGguf(path: string, options: WriteGgufOptions): Promise<WriteGgufResult> {
  const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const { header, offsets, dataBytes } = buildGgufHeader(options.metadata, options.tensors, alignment);
  const totalBytes = header.length + dataBytes;
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
  );
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, "w");
    await writeAll(fh, header);
    let written = header.length;
    const target = options.chunkElements ?? 1 << 20;
    let out = Buffer.alloc(0);
    for (const [i, t] of options.tensors.entries()) {
      const traits = getGgmlTypeTraits(t.type);
      if (traits === undefined) throw new RangeError(`unknown ggml type ${t.type}`);
      const ne0 = t.shape[0] ?? 1;
      const rowsPerChunk = Math.max(1, Math.floor(target / ne0));
      const total = countElements(t.shape);
      const chunk = new Float32Array(Math.min(total, rowsPerChunk * ne0));
      const startAt = header.length + (offsets[i] ?? 0);
      if (written < startAt) {
        await writeAll(fh, Buffer.alloc(startAt - written));
        written = startAt;
      }
      for (let start = 0; start < total; start += chunk.length) {
        if (options.signal?.aborted) throw new AbortedError("writing the model was aborted");
        const view = start + chunk.length <= total ? chunk : chunk.subarray(0, total - start);
        view.fill(0);
        t.fill(start, view);
        const bytes = (view.length / traits.blockSize) * traits.blockBytes;
        if (out.length < bytes) out = Buffer.alloc(bytes);
        encodeTensorData(t.type, view, out, 0);
        await writeAll(fh, out.subarray(0, bytes));
        written += bytes;
        options.onProgress?.({ bytesWritten: written, totalBytes });
      }
    }
    if (written < totalBytes) {
      await writeAll(fh, Buffer.alloc(totalBytes - written));
      written = totalBytes;
    }
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    options.onProgress?.({ bytesWritten: written, totalBytes });
    return { path, bytes: written, headerBytes: header.length };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof ServelabError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined)
      throw new ServelabError("IO_FAILED", `cannot write ${path}: ${code}`, { cause: err });
    throw err;
  }
}
