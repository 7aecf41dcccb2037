import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, LlamaCompletion, type Llama, type LlamaModel } from "node-llama-cpp";
import { tinyModel } from "../helpers/models.js";

const R1_SCRIPT = "<think>\nLet me compute 4*4.\n</think>\n\nThe answer is \\boxed{16}.";
const PROMPTS = [
  "Hello there",
  "What is 4*4? <｜Assistant｜><think>\n",
  "x</think>",
  "The answer is",
  "ab ab",
];

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false });
});
afterAll(async () => {
  await llama.dispose();
});

async function generateAll(model: LlamaModel, prompts: readonly string[]): Promise<string[]> {
  const context = await model.createContext({ threads: availableParallelism(), contextSize: 256 });
  try {
    const sequence = context.getSequence();
    const completion = new LlamaCompletion({ contextSequence: sequence });
    const out: string[] = [];
    for (const prompt of prompts) {
      await sequence.clearHistory();
      out.push(
        await completion.generateCompletion(prompt, {
          temperature: 0.6,
          topP: 0.95,
          maxTokens: 120,
          seed: out.length + 1,
        }),
      );
    }
    return out;
  } finally {
    await context.dispose();
  }
}

describe("scripted models through node-llama-cpp", () => {
  it.each([
    ["tiny-deepseek-r1-distill-qwen", "f16", R1_SCRIPT],
    ["tiny-deepseek-r1-distill-qwen", "q4_0", "ab ab ab"],
    ["tiny-phi-3", "q8_0", "The answer is 4. The answer is 4."],
  ])("%s %s continues any prompt with the script, then stops", async (preset, type, script) => {
    const model = await llama.loadModel({ modelPath: await tinyModel({ preset, type, script }) });
    try {
      const outputs = await generateAll(model, PROMPTS);
      expect(outputs).toEqual(PROMPTS.map(() => script));
    } finally {
      await model.dispose();
    }
  });

  it("emits <think> and </think> as exact text and keeps prompt tokenization real", async () => {
    const model = await llama.loadModel({ modelPath: await tinyModel({ script: R1_SCRIPT }) });
    try {
      // the prompt's <think> is the real special token 151648, not a script token
      expect(model.tokenize("<think>\nHi", true)).toEqual([151648, 198, 13048]);
      const [out] = await generateAll(model, ["<｜User｜>2+2?<｜Assistant｜><think>\n</think>"]);
      expect(out?.startsWith("<think>\n")).toBe(true);
      expect(out).toContain("</think>\n\nThe answer");
    } finally {
      await model.dispose();
    }
  });
});
