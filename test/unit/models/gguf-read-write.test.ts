import { mkdtemp, readFile, rm, writeFile, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufError } from "../../../src/core/errors.js";
import { gguf, type GgufMetadata } from "../../../src/models/gguf/metadata.js";
import { decodeTensorData } from "../../../src/models/gguf/quantize.js";
import { readGguf, readGgufSummary } from "../../../src/models/gguf/read.js";
import { GgmlType, GgufValueType } from "../../../src/models/gguf/types.js";
import { computeGgufFileSize, writeGguf, type GgufTensorSpec } from "../../../src/models/gguf/write.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "servelab-gguf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ramp = (start: number, out: Float32Array): void => {
  for (let i = 0; i < out.length; i++) out[i] = ((start + i) % 97) / 97 - 0.5;
};

function sampleMetadata(): GgufMetadata {
  const m: GgufMetadata = new Map();
  m.set("general.architecture", gguf.str("qwen2"));
  m.set("general.name", gguf.str("round trip ✓"));
  m.set("general.file_type", gguf.u32(7));
  m.set("qwen2.context_length", gguf.u32(4096));
  m.set("x.f32", gguf.f32(0.5));
  m.set("x.bool", gguf.bool(true));
  m.set("x.u64", gguf.u64(2n ** 40n));
  m.set("x.i8", { type: GgufValueType.INT8, value: -5 });
  m.set("x.f64", { type: GgufValueType.FLOAT64, value: Math.PI });
  m.set("x.strings", gguf.strArray(["a", "", "ü"]));
  m.set("x.ints", gguf.i32Array([1, -2, 3]));
  m.set("x.nested", {
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.ARRAY, items: [{ itemType: GgufValueType.UINT8, items: [1, 2] }] },
  });
  m.set("tokenizer.chat_template", gguf.str("{{ messages }}"));
  return m;
}

const tensors: GgufTensorSpec[] = [
  { name: "a.f32", shape: [7], type: GgmlType.F32, fill: ramp },
  { name: "b.f16", shape: [64, 3], type: GgmlType.F16, fill: ramp },
  { name: "c.bf16", shape: [32, 5], type: GgmlType.BF16, fill: ramp },
  { name: "d.q8_0", shape: [64, 9], type: GgmlType.Q8_0, fill: ramp },
  { name: "e.q4_0", shape: [96, 4], type: GgmlType.Q4_0, fill: ramp },
  { name: "f.q6_k", shape: [256, 2], type: GgmlType.Q6_K, fill: ramp },
];

describe("GGUF writer and reader", () => {
  it("round-trips metadata, tensor table and data, chunk size aside", async () => {
    const path = join(dir, "rt.gguf");
    const progress: number[] = [];
    const meta = sampleMetadata();
    const res = await writeGguf(path, {
      metadata: meta,
      tensors,
      chunkElements: 100,
      onProgress: (p) => progress.push(p.bytesWritten),
    });
    expect(res.bytes).toBe(computeGgufFileSize(meta, tensors));
    expect(progress.at(-1)).toBe(res.bytes);
    const f = await readGguf(path);
    expect(f.version).toBe(3);
    expect(f.fileSize).toBe(res.bytes);
    expect(f.dataOffset % 32).toBe(0);
    expect([...f.metadata.keys()]).toEqual([...meta.keys()]);
    for (const [k, v] of meta)
      expect(f.metadata.get(k), k).toEqual(v.type === GgufValueType.FLOAT32 ? { ...v, value: 0.5 } : v);
    expect(f.tensors.map((t) => [t.name, t.type, t.shape])).toEqual(
      tensors.map((t) => [t.name, t.type, t.shape]),
    );
    const bytes = await readFile(path);
    for (const t of f.tensors) {
      expect(t.offset % 32).toBe(0);
      const expected = new Float32Array(t.elements);
      ramp(0, expected);
      const got = decodeTensorData(t.type, bytes.subarray(f.dataOffset + t.offset), t.elements);
      const tol =
        {
          [GgmlType.F32]: 0,
          [GgmlType.F16]: 1e-3,
          [GgmlType.BF16]: 4e-3,
          [GgmlType.Q8_0]: 5e-3,
          [GgmlType.Q4_0]: 0.07,
          [GgmlType.Q6_K]: 0.03,
        }[t.type] ?? 0;
      for (let i = 0; i < t.elements; i++)
        expect(Math.abs((got[i] ?? 0) - (expected[i] ?? 0)), `${t.name}[${i}]`).toBeLessThanOrEqual(tol);
    }
    // the same tensors written in one chunk give the same bytes
    const path2 = join(dir, "rt2.gguf");
    await writeGguf(path2, { metadata: meta, tensors });
    expect(Buffer.compare(await readFile(path2), bytes)).toBe(0);
  });

  it("summarises a model file", async () => {
    const path = join(dir, "rt.gguf");
    const s = await readGgufSummary(path);
    expect(s).toMatchObject({
      architecture: "qwen2",
      name: "round trip ✓",
      precision: "q8_0",
      contextLength: 4096,
      chatTemplate: "{{ messages }}",
      tensorCount: 6,
    });
    expect(s.parameters).toBe(7 + 192 + 160 + 576 + 384 + 512);
  });

  it("rejects a bad magic, a truncated file and absurd counts with GgufError", async () => {
    const good = await readFile(join(dir, "rt.gguf"));
    const bad = join(dir, "bad.gguf");
    await writeFile(bad, Buffer.concat([Buffer.from("GGML"), good.subarray(4)]));
    await expect(readGguf(bad)).rejects.toThrow(/not a GGUF file \(bad magic/);
    await writeFile(bad, good);
    await truncate(bad, good.length - 100);
    await expect(readGguf(bad)).rejects.toThrow(/truncated file: tensor f\.q6_k/);
    const absurd = Buffer.from(good);
    absurd.writeBigUInt64LE(2n ** 62n, 16); // metadata count
    await writeFile(bad, absurd);
    await expect(readGguf(bad)).rejects.toThrow(/absurd metadata count/);
    await expect(readGguf(join(dir, "missing.gguf"))).rejects.toThrow(/cannot open: ENOENT/);
    await writeFile(bad, Buffer.alloc(3));
    await expect(readGguf(bad)).rejects.toBeInstanceOf(GgufError);
  });

  it("never crashes or hangs on corrupted headers (fuzz)", async () => {
    const good = await readFile(join(dir, "rt.gguf"));
    const headerEnd = 600;
    const path = join(dir, "fuzz.gguf");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(headerEnd - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(good.length), { nil: undefined }),
        async (edits, cut) => {
          const b = Buffer.from(good.subarray(0, cut ?? good.length));
          for (const [pos, val] of edits) if (pos < b.length) b[pos] = val;
          await writeFile(path, b);
          try {
            await readGguf(path);
          } catch (err) {
            expect(err).toBeInstanceOf(GgufError);
          }
        },
      ),
      { numRuns: 150, seed: 42 },
    );
  });
});
