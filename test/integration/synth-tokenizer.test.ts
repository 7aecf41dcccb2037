import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, type Llama, type Token } from "node-llama-cpp";
import { readGguf } from "../../src/models/gguf/read.js";
import { getMetadataArray, getMetadataNumber, getMetadataString } from "../../src/models/gguf/metadata.js";
import { synthesizeModel } from "../../src/models/synthesize.js";
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

const assets = fileURLToPath(new URL("../../assets/", import.meta.url));
const qwen2Vocab = join(assets, "tokenizers/ggml-vocab-qwen2.gguf");
const phi3Vocab = join(assets, "tokenizers/ggml-vocab-phi-3.gguf");

let llama: Llama;
let dir: string;
beforeAll(async () => {
  llama = await getLlama({ gpu: false });
  dir = await mkdtemp(join(tmpdir(), "servelab-vocab-from-"));
});
afterAll(async () => {
  await llama.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function readTokenizer(path: string) {
  const meta = (await readGguf(path)).metadata;
  return {
    tokens: (getMetadataArray(meta, "tokenizer.ggml.tokens")?.items ?? []) as string[],
    types: (getMetadataArray(meta, "tokenizer.ggml.token_type")?.items ?? []) as number[],
    bos: getMetadataNumber(meta, "tokenizer.ggml.bos_token_id"),
    eos: getMetadataNumber(meta, "tokenizer.ggml.eos_token_id"),
    template: getMetadataString(meta, "tokenizer.chat_template"),
  };
}

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

describe("--vocab-from gives the model its preset's special tokens and chat template", () => {
  it("adds R1's specials and template to the plain Qwen2 vocabulary, which has neither", async () => {
    const source = await readTokenizer(qwen2Vocab);
    for (const t of ["<think>", "</think>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>"])
      expect(source.tokens).not.toContain(t);
    expect(source.template).toContain("<|im_start|>"); // ChatML: the server would render that

    const out = join(dir, "r1-from-qwen2.gguf");
    await synthesizeModel({
      preset: "tiny-deepseek-r1-distill-qwen",
      type: "q8_0",
      vocabFrom: qwen2Vocab,
      outputPath: out,
    });
    const made = await readTokenizer(out);
    expect(made.tokens.length).toBe(151936); // placed in padding slots, none appended
    // at their real ids where those were padding, else in the next padding slots; Qwen2's own
    // <|endoftext|>, <|im_start|>, <|im_end|> (151643-151645, R1's ids) are kept
    expect(made.tokens.slice(151643, 151653)).toEqual([
      "<|endoftext|>",
      "<|im_start|>",
      "<|im_end|>",
      "<｜begin▁of▁sentence｜>",
      "<|EOT|>",
      "<think>",
      "</think>",
      "<｜end▁of▁sentence｜>",
      "<｜User｜>",
      "<｜Assistant｜>",
    ]);
    expect(made.types.slice(151646, 151653)).toEqual([3, 4, 4, 4, 3, 4, 4]); // CONTROL / USER_DEFINED as in R1
    expect(made.bos).toBe(151646);
    expect(made.eos).toBe(151650);
    const r1Template = await readFile(
      join(assets, "templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"),
      "utf8",
    );
    expect(made.template).toBe(r1Template);

    const model = await llama.loadModel({ modelPath: out, vocabOnly: true });
    try {
      expect(model.tokens.bos).toBe(151646);
      expect(model.tokens.eos).toBe(151650);
      expect(
        Array.from(model.tokenize("<｜User｜>hi<｜Assistant｜><think>\n</think>", true), Number),
      ).toEqual([151651, 6023, 151652, 151648, 198, 151649]);
      expect(model.detokenize([151648, 151649] as Token[], true)).toBe("<think></think>");
    } finally {
      await model.dispose();
    }
  });

  it("adds Phi-3's specials and template to a vocabulary without them", async () => {
    const out = join(dir, "phi-from-qwen2.gguf");
    await synthesizeModel({ preset: "tiny-phi-3", type: "q8_0", vocabFrom: qwen2Vocab, outputPath: out });
    const made = await readTokenizer(out);
    expect(made.tokens.indexOf("<|user|>")).toBeGreaterThan(151645);
    expect(made.tokens.indexOf("<|end|>")).toBeGreaterThan(151645);
    expect(made.tokens[made.eos ?? -1]).toBe("<|endoftext|>"); // Qwen2 has one already: its id is kept
    expect(made.eos).toBe(151643);
    expect(made.template).toContain("<|assistant|>");
    expect(made.template).not.toContain("<|im_start|>");
  });

  it("keeps a vocabulary that has the preset's specials as it is, template included", async () => {
    const source = await readTokenizer(phi3Vocab);
    const out = join(dir, "phi-from-phi.gguf");
    await synthesizeModel({ preset: "tiny-phi-3", type: "q8_0", vocabFrom: phi3Vocab, outputPath: out });
    const made = await readTokenizer(out);
    expect(made.tokens).toEqual(source.tokens);
    expect(made.types).toEqual(source.types);
    expect([made.bos, made.eos]).toEqual([1, 32000]);
    expect(made.template).toBe(source.template); // the file's Phi-3 template, not the preset's Phi-3.5 one
  });

  it("refuses --vocab-from together with --tokenizer builtin", async () => {
    await expect(
      synthesizeModel({
        preset: "tiny-phi-3",
        vocabFrom: phi3Vocab,
        tokenizer: "builtin",
        outputPath: join(dir, "x.gguf"),
      }),
    ).rejects.toThrow(/--tokenizer builtin and --vocab-from exclude each other/);
  });
});
