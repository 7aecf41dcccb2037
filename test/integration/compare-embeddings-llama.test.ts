import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareAgreement } from "../../src/compare/quality/agreement.js";
import {
  createLlamaEmbeddingProvider,
  type DisposableEmbeddingProvider,
} from "../../src/compare/quality/embeddings.js";
import type { QualityItemResult } from "../../src/compare/quality/runner.js";
import { computeCosineSimilarity } from "../../src/compare/quality/similarity.js";
import { tinyModel } from "../helpers/models.js";

let provider: DisposableEmbeddingProvider;

beforeAll(async () => {
  const modelPath = await tinyModel();
  provider = await createLlamaEmbeddingProvider({ modelPath, contextSize: 128, threads: 1 });
});

afterAll(async () => {
  await provider?.dispose();
});

function result(id: string, text: string): QualityItemResult {
  return {
    id,
    kind: "arithmetic",
    question: "q",
    expected: "1",
    correct: false,
    truncated: false,
    completionTokens: 1,
    text,
    reasoning: "",
    content: text,
    latencyMs: 1,
  };
}

describe("createLlamaEmbeddingProvider (tiny synthetic GGUF through node-llama-cpp)", () => {
  it("embeds texts into finite vectors of one size, deterministically", async () => {
    const texts = ["The answer is 4.", "Half of three is one and a half.", "", "x".repeat(2000)];
    const vectors = await provider.embed(texts);
    expect(vectors).toHaveLength(4);
    const size = vectors[0]?.length ?? 0;
    expect(size).toBeGreaterThan(0);
    for (const vector of vectors) {
      expect(vector).toHaveLength(size);
      expect(vector.every(Number.isFinite)).toBe(true);
    }
    const again = await provider.embed([texts[0] as string]);
    expect(computeCosineSimilarity(again[0] as number[], vectors[0] as number[])).toBeCloseTo(1, 6);
    expect(provider.model.length).toBeGreaterThan(0);
  });

  it("feeds embedding cosine into agreement: identical texts give cosine 1", async () => {
    const reference = [result("1", "We add two and two."), result("2", "So x equals five.")];
    const summary = await compareAgreement(reference, reference, { embeddings: provider });
    expect(summary.embeddingCosine).toBeCloseTo(1, 6);
    expect(summary.embeddingModel).toBe(provider.model);
  });

  it("refuses to embed after dispose", async () => {
    const other = await createLlamaEmbeddingProvider({
      modelPath: await tinyModel(),
      contextSize: 64,
      threads: 1,
    });
    await other.dispose();
    await other.dispose();
    await expect(other.embed(["x"])).rejects.toThrow(/disposed/);
  });
});
