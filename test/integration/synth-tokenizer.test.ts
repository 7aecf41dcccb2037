import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, type Llama, type Token } from "node-llama-cpp";
import { tinyModel } from "../helpers/models.js";

const fixtures = new URL("../fixtures/tokenizers/", import.meta.url);

async function readVectors(name: string): Promise<{ text: string; ids: number[] }[]> {
  const inp = await readFile(new URL(`${name}.inp`, fixtures), "utf8");
  const out = await readFile(new URL(`${name}.out`, fixtures), "utf8");
  const texts = inp.split("\n__ggml_vocab_test__\n");
  if (texts.at(-1) === "") texts.pop();
  const ids = out
    .split("\n")
    .slice(0, texts.length)
    .map((l) => l.trim().split(/\s+/).filter(Boolean).map(Number));
  return texts.map((text, i) => ({ text, ids: ids[i] ?? [] }));
}

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false });
});
afterAll(async () => {
  await llama.dispose();
});

describe("synthetic models carry the real vocabularies", () => {
  it.each([
    ["tiny-deepseek-r1-distill-qwen", "ggml-vocab-qwen2.gguf"],
    ["tiny-phi-3", "ggml-vocab-phi-3.gguf"],
  ])("%s tokenizes llama.cpp's %s vectors exactly", async (preset, vectors) => {
    const cases = await readVectors(vectors);
    expect(cases.length).toBe(46);
    const model = await llama.loadModel({
      modelPath: await tinyModel({ preset, type: "q8_0" }),
      vocabOnly: true,
    });
    try {
      for (const c of cases)
        expect(Array.from(model.tokenize(c.text, false)), JSON.stringify(c.text)).toEqual(c.ids);
    } finally {
      await model.dispose();
    }
  });

  it("has DeepSeek-R1's special tokens at their real ids", async () => {
    const model = await llama.loadModel({ modelPath: await tinyModel({ type: "q8_0" }), vocabOnly: true });
    try {
      expect(model.tokens.bos).toBe(151646);
      expect(model.tokens.eos).toBe(151643);
      expect(
        Array.from(model.tokenize("<｜User｜>hi<｜Assistant｜><think>\n</think>", true), Number),
      ).toEqual([151644, 6023, 151645, 151648, 198, 151649]);
      expect(model.detokenize([151648, 151649] as Token[], true)).toBe("<think></think>");
      expect(model.fileInfo.metadata.tokenizer.ggml.pre).toBe("deepseek-r1-qwen");
    } finally {
      await model.dispose();
    }
  });
});
