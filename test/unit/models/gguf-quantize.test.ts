import { describe, expect, it } from "vitest";
import {
  decodeBf16,
  decodeF16,
  decodeTensorData,
  encodeBf16,
  encodeF16,
  encodeTensorData,
} from "../../../src/models/gguf/quantize.js";
import { GgmlType } from "../../../src/models/gguf/types.js";

/** llama.cpp's quantize_row_q8_0_ref, written out independently: d = amax/127, q = roundf(x/d). */
function referenceQ8_0(x: number[]): { d: number; q: number[] } {
  const amax = Math.max(...x.map(Math.abs));
  const d = Math.fround(amax / 127);
  const id = d ? Math.fround(1 / d) : 0;
  return { d, q: x.map((v) => Math.sign(v * id) * Math.floor(Math.abs(Math.fround(v * id)) + 0.5)) };
}

describe("f16 and bf16", () => {
  it("encodes known values", () => {
    expect(encodeF16(1)).toBe(0x3c00);
    expect(encodeF16(-2)).toBe(0xc000);
    expect(encodeF16(65504)).toBe(0x7bff);
    expect(encodeF16(1e6)).toBe(0x7c00);
    expect(encodeF16(0.1)).toBe(0x2e66);
    expect(encodeF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(encodeF16(1e-9)).toBe(0);
    expect(encodeF16(NaN) & 0x7c00).toBe(0x7c00);
  });
  it("rounds halfway cases to even", () => {
    expect(encodeF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(encodeF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(encodeBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(encodeBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(encodeBf16(1)).toBe(0x3f80);
  });
  it("round-trips every f16 bit pattern that is a number", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = decodeF16(bits);
      if (Number.isNaN(v)) continue;
      if (bits === 0x8000) continue; // -0 encodes to 0x8000 too, but toBe treats -0 specially
      expect(encodeF16(v)).toBe(bits);
    }
    expect(decodeBf16(0x3f80)).toBe(1);
  });
});

describe("Q8_0", () => {
  it("matches llama.cpp's reference formula and layout", () => {
    const x = Array.from({ length: 32 }, (_, j) => (j - 13.3) * 0.37);
    const out = Buffer.alloc(34);
    expect(encodeTensorData(GgmlType.Q8_0, Float32Array.from(x), out)).toBe(34);
    const ref = referenceQ8_0(x.map(Math.fround));
    expect(out.readUInt16LE(0)).toBe(encodeF16(ref.d));
    for (let j = 0; j < 32; j++) expect(out.readInt8(2 + j)).toBe(ref.q[j]);
    const back = decodeTensorData(GgmlType.Q8_0, out, 32);
    const dq = decodeF16(encodeF16(ref.d));
    for (let j = 0; j < 32; j++) expect(back[j]).toBeCloseTo((ref.q[j] ?? 0) * dq, 6);
  });
  it("stores an all-zero block as zeros", () => {
    const out = Buffer.alloc(34, 0xff);
    encodeTensorData(GgmlType.Q8_0, new Float32Array(32), out);
    expect([...out]).toEqual(new Array(34).fill(0));
  });
});

describe("Q4_0", () => {
  it("matches llama.cpp's layout: d = max/-8, low nibbles hold x[0..15], high nibbles x[16..31]", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => (j % 2 ? 1 : -1) * (j + 1) * 0.125);
    // max by magnitude is x[31] = +4 → d = -0.5
    const out = Buffer.alloc(18);
    expect(encodeTensorData(GgmlType.Q4_0, x, out)).toBe(18);
    expect(decodeF16(out.readUInt16LE(0))).toBe(-0.5);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc((x[j] ?? 0) / -0.5 + 8.5));
      const hi = Math.min(15, Math.trunc((x[16 + j] ?? 0) / -0.5 + 8.5));
      expect(out[2 + j]).toBe(lo | (hi << 4));
    }
    const back = decodeTensorData(GgmlType.Q4_0, out, 32);
    for (let j = 0; j < 32; j++)
      expect(Math.abs((back[j] ?? 0) - (x[j] ?? 0))).toBeLessThanOrEqual(0.5 + 1e-6); // |d|/2, up to |d| where -8..7 clamps
    expect(back[31]).toBe(4); // (0 - 8) * -0.5
  });
});

describe("Q6_K", () => {
  it("round-trips within a small error with llama.cpp's block size", () => {
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37) * 0.05);
    const out = Buffer.alloc(420);
    expect(encodeTensorData(GgmlType.Q6_K, x, out)).toBe(420);
    const back = decodeTensorData(GgmlType.Q6_K, out, 512);
    let maxErr = 0;
    for (let i = 0; i < 512; i++) maxErr = Math.max(maxErr, Math.abs((back[i] ?? 0) - (x[i] ?? 0)));
    expect(maxErr).toBeLessThan(0.05 / 31 + 1e-3);
    expect(maxErr).toBeGreaterThan(0);
  });
});
