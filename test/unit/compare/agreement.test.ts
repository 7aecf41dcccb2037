import { describe, expect, it } from "vitest";
import {
  compareAgreement,
  defaultTokenizerName,
  findFirstDifference,
  splitWordsAndPunctuation,
} from "../../../src/compare/quality/agreement.js";
import type { EmbeddingProvider } from "../../../src/compare/quality/embeddings.js";
import type { QualityItemResult } from "../../../src/compare/quality/runner.js";
import { computeChrf } from "../../../src/compare/quality/similarity.js";

function result(id: string, text: string, extracted?: string, error?: string): QualityItemResult {
  return {
    id,
    kind: "arithmetic",
    question: `q${id}`,
    expected: "1",
    ...(extracted === undefined ? {} : { extracted }),
    ...(error === undefined ? {} : { error }),
    correct: false,
    truncated: false,
    completionTokens: 1,
    text,
    reasoning: "",
    content: text,
    latencyMs: 1,
  };
}

describe("splitWordsAndPunctuation and findFirstDifference", () => {
  it("splits words, numbers and punctuation", () => {
    expect(splitWordsAndPunctuation("f(3) = 16, so \\boxed{16}.")).toEqual([
      "f",
      "(",
      "3",
      ")",
      "=",
      "16",
      ",",
      "so",
      "\\",
      "boxed",
      "{",
      "16",
      "}",
      ".",
    ]);
    expect(splitWordsAndPunctuation("  ")).toEqual([]);
  });

  it("finds the first differing position, the shorter length for a prefix, undefined when equal", () => {
    expect(findFirstDifference(["a", "b", "c"], ["a", "x", "c"])).toBe(1);
    expect(findFirstDifference(["a", "b"], ["a", "b", "c"])).toBe(2);
    expect(findFirstDifference([1, 2], [1, 2])).toBeUndefined();
    expect(findFirstDifference([], [5])).toBe(0);
  });
});

describe("compareAgreement", () => {
  const reference = [
    result("1", "We add 2 and 2 to get \\boxed{4}", "4"),
    result("2", "Half of 3 is \\boxed{3/2}", "3/2"),
    result("3", "So x is \\boxed{5}", "5"),
    result("4", "thinking forever", undefined),
    result("5", "failed", undefined, "HTTP 500"),
  ];
  const candidate = [
    result("1", "We add 2 and 2 to get \\boxed{4}", "4"), // identical
    result("2", "Half of 3 is \\boxed{\\frac{3}{2}}", "\\frac{3}{2}"), // same answer, differs at token 6
    result("3", "So y is \\boxed{6}", "6"), // different answer, differs at token 1
    result("4", "thinking forever and ever", undefined), // neither answered: not the same answer; prefix → 2
    result("5", "ok", "1"), // reference failed: left out
    result("6", "extra", "1"), // no reference: left out
  ];

  it("computes the same-answer rate, first differing tokens and mean chrF on the paired problems", async () => {
    const summary = await compareAgreement(reference, candidate, { reference: "f32" });
    expect(summary.n).toBe(4);
    expect(summary.reference).toBe("f32");
    expect(summary.sameAnswerRate).toBe(2 / 4);
    expect(summary.identicalRate).toBe(1 / 4);
    expect(summary.tokenizer).toBe(defaultTokenizerName);
    expect(summary.firstDifferingToken?.n).toBe(3);
    // pair 2: Half(0) of(1) 3(2) is(3) \\(4) boxed(5) {(6) then "3" against "\\" at 7; pair 3 at 1; pair 4 at 2
    expect(summary.firstDifferingToken?.min).toBe(1);
    expect(summary.firstDifferingToken?.max).toBe(7);
    expect(summary.firstDifferingToken?.mean).toBeCloseTo((7 + 1 + 2) / 3, 12);
    const expectedChrf =
      [0, 1, 2, 3].reduce((sum, i) => sum + computeChrf(candidate[i]!.text, reference[i]!.text), 0) / 4;
    expect(summary.chrf).toBeCloseTo(expectedChrf, 12);
    expect(summary.chrf).toBeGreaterThan(50);
    expect(summary.chrf).toBeLessThan(100);
    expect(summary.embeddingCosine).toBeUndefined();
    expect(summary.note).toBeUndefined();
  });

  it("uses a given tokenizer and embedding provider, and notes synthetic weights", async () => {
    // A character tokenizer: "So x" vs "So y" differ at character 3.
    const tokenize = async (text: string) => Array.from(text).map((c) => c.codePointAt(0) ?? 0);
    const embedded: string[][] = [];
    const embeddings: EmbeddingProvider = {
      model: "toy-embedder",
      // only "So y is" points elsewhere, so only pair 3 is orthogonal (cosine 0)
      embed: async (texts) => {
        embedded.push(texts);
        return texts.map((t) => (t.startsWith("So y") ? [0, 2] : [3, 0]));
      },
    };
    const summary = await compareAgreement(reference, candidate, {
      tokenize,
      tokenizerName: "chars",
      embeddings,
      synthetic: true,
    });
    expect(summary.tokenizer).toBe("chars");
    expect(summary.firstDifferingToken?.min).toBe(3);
    expect(embedded).toHaveLength(1);
    expect(embedded[0]).toHaveLength(8);
    // cosines: pair1 1, pair2 1, pair3 0 (x vs y), pair4 1 → 3/4
    expect(summary.embeddingCosine).toBeCloseTo(0.75, 12);
    expect(summary.embeddingModel).toBe("toy-embedder");
    expect(summary.synthetic).toBe(true);
    expect(summary.meaningful).toBe(false);
    expect(summary.note).toMatch(/weights are random/);
    const scriptedSummary = await compareAgreement(reference, candidate, { synthetic: true, scripted: true });
    expect(scriptedSummary.meaningful).toBe(true);
    expect(scriptedSummary.note).toMatch(/^scripted synthetic model/);
  });

  it("compares only the answer part when asked", async () => {
    const ref = [{ ...result("1", "long reasoning A then 4", "4"), content: "\\boxed{4}" }];
    const cand = [{ ...result("1", "other reasoning B then 4", "4"), content: "\\boxed{4}" }];
    expect((await compareAgreement(ref, cand, { field: "content" })).identicalRate).toBe(1);
    expect((await compareAgreement(ref, cand)).identicalRate).toBe(0);
  });
});
