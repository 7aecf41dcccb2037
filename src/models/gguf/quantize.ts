/**
 * Encoders from f32 to the tensor types servelab writes, and decoders back, following llama.cpp's
 * reference implementations (ggml-quants.c: quantize_row_q8_0_ref, quantize_row_q4_0_ref,
 * dequantize_row_q6_K; ggml-impl.h: fp32 <-> fp16/bf16 with round-to-nearest-even).
 */
import { GgmlType, getGgmlTypeTraits } from "./types.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a float, rounded to nearest even (as ggml's GGML_FP32_TO_FP16). */
export function encodeF16(value: number): number {
  f32[0] = value;
  const x = u32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The float a binary16 bit pattern stands for. */
export function decodeF16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits of a float, rounded to nearest even (as ggml's GGML_FP32_TO_BF16). */
export function encodeBf16(value: number): number {
  f32[0] = value;
  const x = u32[0] ?? 0;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff; // quiet nan
  return ((x + (0x7fff + ((x >>> 16) & 1))) >>> 16) & 0xffff;
}

/** The float a bfloat16 bit pattern stands for. */
export function decodeBf16(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0] ?? 0;
}

/** C's roundf: halves away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Writes `src` (length a multiple of the type's block size) into `out` at `offset` in `type`; returns bytes written. */
export function encodeTensorData(type: number, src: Float32Array, out: Buffer, offset = 0): number {
  switch (type) {
    case GgmlType.F32: {
      out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
      return src.byteLength;
    }
    case GgmlType.F16: {
      for (let i = 0; i < src.length; i++) out.writeUInt16LE(encodeF16(src[i] ?? 0), offset + 2 * i);
      return src.length * 2;
    }
    case GgmlType.BF16: {
      for (let i = 0; i < src.length; i++) out.writeUInt16LE(encodeBf16(src[i] ?? 0), offset + 2 * i);
      return src.length * 2;
    }
    case GgmlType.Q8_0:
      return encodeQ8_0(src, out, offset);
    case GgmlType.Q4_0:
      return encodeQ4_0(src, out, offset);
    case GgmlType.Q6_K:
      return encodeQ6_K(src, out, offset);
    default:
      throw new RangeError(`servelab cannot write ggml type ${type}`);
  }
}

/** Decodes `count` elements of `type` from `data` at `offset`. */
export function decodeTensorData(type: number, data: Uint8Array, count: number, offset = 0): Float32Array {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < count; i++) out[i] = b.readFloatLE(offset + 4 * i);
      return out;
    case GgmlType.F16:
      for (let i = 0; i < count; i++) out[i] = decodeF16(b.readUInt16LE(offset + 2 * i));
      return out;
    case GgmlType.BF16:
      for (let i = 0; i < count; i++) out[i] = decodeBf16(b.readUInt16LE(offset + 2 * i));
      return out;
    case GgmlType.Q8_0:
      for (let blk = 0; blk < count / 32; blk++) {
        const base = offset + blk * 34;
        const d = decodeF16(b.readUInt16LE(base));
        for (let j = 0; j < 32; j++) out[blk * 32 + j] = b.readInt8(base + 2 + j) * d;
      }
      return out;
    case GgmlType.Q4_0:
      for (let blk = 0; blk < count / 32; blk++) {
        const base = offset + blk * 18;
        const d = decodeF16(b.readUInt16LE(base));
        for (let j = 0; j < 16; j++) {
          const q = b[base + 2 + j] ?? 0;
          out[blk * 32 + j] = ((q & 0x0f) - 8) * d;
          out[blk * 32 + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return out;
    case GgmlType.Q6_K:
      for (let blk = 0; blk < count / 256; blk++) decodeQ6_KBlock(b, offset + blk * 210, out, blk * 256);
      return out;
    default:
      throw new RangeError(`servelab cannot decode ggml type ${type}`);
  }
}

function encodeQ8_0(src: Float32Array, out: Buffer, offset: number): number {
  const nb = src.length / 32;
  for (let blk = 0; blk < nb; blk++) {
    const base = blk * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const v = Math.abs(src[base + j] ?? 0);
      if (v > amax) amax = v;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = offset + blk * 34;
    out.writeUInt16LE(encodeF16(d), o);
    for (let j = 0; j < 32; j++) out.writeInt8(roundf(Math.fround((src[base + j] ?? 0) * id)), o + 2 + j);
  }
  return nb * 34;
}

function encodeQ4_0(src: Float32Array, out: Buffer, offset: number): number {
  const nb = src.length / 32;
  for (let blk = 0; blk < nb; blk++) {
    const base = blk * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[base + j] ?? 0;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = offset + blk * 18;
    out.writeUInt16LE(encodeF16(d), o);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround((src[base + j] ?? 0) * id);
      const x1 = Math.fround((src[base + 16 + j] ?? 0) * id);
      const xi0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5)));
      const xi1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
      out[o + 2 + j] = xi0 | (xi1 << 4);
    }
  }
  return nb * 18;
}

/**
 * Q6_K with llama.cpp's exact block layout (ql[128], qh[64], scales[16], d). The scales are the
 * simple max-abs ones rather than llama-quantize's error-minimising search: the bytes are valid
 * Q6_K, the rounding error a little larger.
 */
function encodeQ6_K(src: Float32Array, out: Buffer, offset: number): number {
  const nb = src.length / 256;
  const L = new Uint8Array(256);
  const scales = new Float32Array(16);
  for (let blk = 0; blk < nb; blk++) {
    const base = blk * 256;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 16; j++) {
        const v = src[base + ib * 16 + j] ?? 0;
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const s = max / -32;
      scales[ib] = s;
      if (Math.abs(s) > maxAbsScale) {
        maxAbsScale = Math.abs(s);
        maxScale = s;
      }
    }
    const o = offset + blk * 210;
    if (maxAbsScale === 0) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = -128 / maxScale;
    const d = decodeF16(encodeF16(1 / iscale));
    for (let ib = 0; ib < 16; ib++) {
      const sc = Math.min(127, roundf(iscale * (scales[ib] ?? 0)));
      out.writeInt8(sc, o + 192 + ib);
      const dd = d * sc;
      for (let j = 0; j < 16; j++) {
        const v = src[base + ib * 16 + j] ?? 0;
        const l = dd === 0 ? 0 : roundf(v / dd);
        L[ib * 16 + j] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    out.writeUInt16LE(encodeF16(d), o + 208);
    for (let half = 0; half < 2; half++) {
      const ql = o + half * 64;
      const qh = o + 128 + half * 32;
      const j = half * 128;
      for (let l = 0; l < 32; l++) {
        const q1 = (L[j + l] ?? 0) & 0xf;
        const q2 = (L[j + l + 32] ?? 0) & 0xf;
        const q3 = (L[j + l + 64] ?? 0) & 0xf;
        const q4 = (L[j + l + 96] ?? 0) & 0xf;
        out[ql + l] = q1 | (q3 << 4);
        out[ql + l + 32] = q2 | (q4 << 4);
        out[qh + l] =
          ((L[j + l] ?? 0) >> 4) |
          (((L[j + l + 32] ?? 0) >> 4) << 2) |
          (((L[j + l + 64] ?? 0) >> 4) << 4) |
          (((L[j + l + 96] ?? 0) >> 4) << 6);
      }
    }
  }
  return nb * 210;
}

function decodeQ6_KBlock(b: Buffer, o: number, out: Float32Array, at: number): void {
  const d = decodeF16(b.readUInt16LE(o + 208));
  for (let half = 0; half < 2; half++) {
    const ql = o + half * 64;
    const qh = o + 128 + half * 32;
    const sc = o + 192 + half * 8;
    const y = at + half * 128;
    for (let l = 0; l < 32; l++) {
      const is = Math.floor(l / 16);
      const h = b[qh + l] ?? 0;
      const q1 = (((b[ql + l] ?? 0) & 0xf) | (((h >> 0) & 3) << 4)) - 32;
      const q2 = (((b[ql + l + 32] ?? 0) & 0xf) | (((h >> 2) & 3) << 4)) - 32;
      const q3 = (((b[ql + l] ?? 0) >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const q4 = (((b[ql + l + 32] ?? 0) >> 4) | (((h >> 6) & 3) << 4)) - 32;
      out[y + l] = d * b.readInt8(sc + is) * q1;
      out[y + l + 32] = d * b.readInt8(sc + is + 2) * q2;
      out[y + l + 64] = d * b.readInt8(sc + is + 4) * q3;
      out[y + l + 96] = d * b.readInt8(sc + is + 6) * q4;
    }
  }
}

/** Whether servelab can write tensors of this type. */
export function canEncodeType(type: number): boolean {
  return (
    (type === GgmlType.F32 ||
      type === GgmlType.F16 ||
      type === GgmlType.BF16 ||
      type === GgmlType.Q8_0 ||
      type === GgmlType.Q4_0 ||
      type === GgmlType.Q6_K) &&
    getGgmlTypeTraits(type) !== undefined
  );
}
