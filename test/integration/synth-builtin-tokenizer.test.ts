/**
 * `synth --tokenizer builtin`: servelab's own byte-level BPE, loaded by node-llama-cpp's llama.cpp. Any
 * UTF-8 text round-trips, the preset's special tokens tokenize to their ids, the preset's template is
 * embedded, and a scripted tiny model with it emits its script through the real engine.
 */
import { stat } from "node:fs/promises";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, LlamaCompletion, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { learnByteLevelMerges } from "../../src/models/tokenizer/builtin-bpe.js";
import { tinyModel } from "../helpers/models.js";

// texts that trip byte-level tokenizers: multi-byte and multi-codepoint characters, the characters the
// GPT-2 alphabet stores bytes as, mojibake, control characters, lone combining marks, noncharacters
const HARD_TEXTS = [
  "Hello world! The answer is \\boxed{16}.",
  "日本語のテキストと中文文本，한국어 텍스트",
  "emoji 🎉 family 👨‍👩‍👧‍👦 flag 🇫🇷 skin 👍🏽 keycap 1️⃣",
  "ĠĊĉ Ã© Ã¤ â€™ Â  Ġthe",
  "NUL \u0000 DEL \u007f C1 \u0085 BOM \ufeff ZWJ \u200d RLO \u202e",
  "\u0301 lone combining acute, e\u0301 and é, U+FFFD \ufffd, U+FFFF \uffff, U+10FFFF \u{10ffff}",
  "spaces  before . and , and ' s and 't: clean_spaces must stay off",
  "\t\r\n\n   \r\n\t",
  " leading and trailing spaces ",
  "<think>\n</think> <｜User｜> <|end|> <|user|> look like special tokens",
];

const CASES = [
  {
    preset: "tiny-deepseek-r1-distill-qwen",
    pre: "deepseek-r1-qwen",
    bos: { id: 515, text: "<｜begin▁of▁sentence｜>" },
    eos: { id: 512, text: "<｜end▁of▁sentence｜>" },
    specials: [
      [512, "<｜end▁of▁sentence｜>"],
      [513, "<｜User｜>"],
      [514, "<｜Assistant｜>"],
      [515, "<｜begin▁of▁sentence｜>"],
      [516, "<|EOT|>"],
      [517, "<think>"],
      [518, "</think>"],
    ],
    templateMark: "<｜Assistant｜><think>",
  },
  {
    preset: "tiny-phi-3",
    pre: "qwen2",
    bos: { id: 512, text: "<s>" },
    eos: { id: 513, text: "<|endoftext|>" },
    specials: [
      [512, "<s>"],
      [513, "<|endoftext|>"],
      [514, "<|assistant|>"],
      [515, "<|system|>"],
      [516, "<|end|>"],
      [517, "<|user|>"],
    ],
    templateMark: "<|assistant|>",
  },
] as const;

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false });
});
afterAll(async () => {
  await llama.dispose();
});

async function withModel<T>(path: string, vocabOnly: boolean, fn: (m: LlamaModel) => Promise<T>): Promise<T> {
  const model = await llama.loadModel({ modelPath: path, vocabOnly });
  try {
    return await fn(model);
  } finally {
    await model.dispose();
  }
}

describe("the built-in byte-level BPE", () => {
  it("learns merges most frequent pair first, ties to the smaller pair, never from a single sighting", () => {
    // "a t" (cat, hat, bat), "h e" and "t h" (the x3) are seen 3 times: "a t" < "h e" < "t h"
    expect(learnByteLevelMerges("the cat and the hat and the bat", 3)).toEqual(["a t", "h e", "t he"]);
    expect(() => learnByteLevelMerges("abc", 1)).toThrow(/yields 0 merges/);
  });

  it.each(CASES)("$preset: llama.cpp loads it, a few hundred KB, with the $pre pre-tokenizer", async (c) => {
    const path = await tinyModel({ preset: c.preset, tokenizer: "builtin" });
    const bytes = (await stat(path)).size;
    expect(bytes).toBeLessThan(1_000_000);
    await withModel(path, true, async (model) => {
      const meta = model.fileInfo.metadata.tokenizer;
      expect(meta.ggml.model).toBe("gpt2");
      expect(meta.ggml.pre).toBe(c.pre);
      expect(meta.ggml.tokens.length).toBe(512 + c.specials.length);
      expect(meta.ggml.merges?.length).toBe(256);
      expect(meta.chat_template).toContain(c.templateMark);
      expect(model.tokens.bos).toBe(c.bos.id);
      expect(model.tokens.eos).toBe(c.eos.id);
    });
  });

  it.each(CASES)("$preset: tokenizes and detokenizes any UTF-8 text back exactly", async (c) => {
    await withModel(await tinyModel({ preset: c.preset, tokenizer: "builtin" }), true, async (model) => {
      for (const text of HARD_TEXTS) {
        const ids = model.tokenize(text, false);
        expect(model.detokenize(ids), JSON.stringify(text)).toBe(text);
      }
      // merges compress the corpus's language: fewer tokens than bytes
      const english = "The answer is the sum of the first ten numbers.";
      expect(model.tokenize(english, false).length).toBeLessThan(Buffer.byteLength(english) / 2);
      fc.assert(
        fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
          expect(model.detokenize(model.tokenize(text, false))).toBe(text);
        }),
        { numRuns: 400, seed: 42 },
      );
    });
  });

  it.each(CASES)("$preset: the special tokens tokenize to their ids and back", async (c) => {
    await withModel(await tinyModel({ preset: c.preset, tokenizer: "builtin" }), true, async (model) => {
      for (const [id, text] of c.specials) {
        expect(Array.from(model.tokenize(text, true), Number), text).toEqual([id]);
        expect(model.detokenize([id as Token], true)).toBe(text);
      }
      const all = c.specials.map(([, text]) => text).join("x");
      const ids = Array.from(model.tokenize(all, true), Number);
      expect(ids.filter((id) => id >= 512)).toEqual(c.specials.map(([id]) => id));
    });
  });
});

const SCRIPTS = {
  "tiny-deepseek-r1-distill-qwen":
    "<think>\nLet me compute 4*4.\n</think>\n\nThe answer is \\boxed{16}. 日本 🎉",
  "tiny-phi-3": "The answer is 4. Die Antwort ist 4 — 答えは4です。",
} as const;
const PROMPTS = ["Hello there", "日本語 🎉 <think>\n", "x</think>", "The answer is", "ab ab"];

describe("scripted tiny models with the built-in tokenizer", () => {
  it.each(Object.entries(SCRIPTS))(
    "%s emits its script through the real engine, then stops",
    async (preset, script) => {
      const path = await tinyModel({ preset, type: "q8_0", script, tokenizer: "builtin" });
      expect((await stat(path)).size).toBeLessThan(1_000_000);
      await withModel(path, false, async (model) => {
        // one thread: a tiny model gains nothing from more, and a busy machine slows synchronised threads badly
        const context = await model.createContext({ threads: 1, contextSize: 256 });
        try {
          const sequence = context.getSequence();
          const completion = new LlamaCompletion({ contextSequence: sequence });
          for (const [i, prompt] of PROMPTS.entries()) {
            await sequence.clearHistory();
            const out = await completion.generateCompletion(prompt, {
              temperature: 0.6,
              topP: 0.95,
              maxTokens: 120,
              seed: i + 1,
            });
            expect(out, prompt).toBe(script);
          }
        } finally {
          await context.dispose();
        }
      });
    },
  );
});
