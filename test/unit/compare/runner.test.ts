import { describe, expect, it } from "vitest";
import { mathInstruction } from "../../../src/core/math-answer.js";
import { AbortedError } from "../../../src/core/errors.js";
import type { ChatMessage } from "../../../src/engines/engine.js";
import { generateMathProblems, type MathProblem } from "../../../src/compare/quality/problems.js";
import {
  runQuality,
  summarizeQuality,
  scriptedQualityNote,
  syntheticQualityNote,
  type QualityGeneration,
  type QualityItemResult,
} from "../../../src/compare/quality/runner.js";
import { gradeAnswer } from "../../../src/compare/quality/grading.js";

/** A scripted "model": answers problem i right when right(i), otherwise wrong, or runs out of tokens. */
function scripted(
  behaviour: (index: number, problem: MathProblem) => "right" | "wrong" | "truncated" | "error",
) {
  const seen: ChatMessage[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const generate = async (messages: ChatMessage[], problem: MathProblem): Promise<QualityGeneration> => {
    seen.push(messages);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 1 + (Number(problem.id.split("-").pop()) % 3)));
    inFlight--;
    const index = Number(problem.id.split("-").pop());
    const mode = behaviour(index, problem);
    if (mode === "error") throw new Error("HTTP 500 from the server");
    if (mode === "truncated") {
      return {
        text: "<think>Let me think about",
        reasoning: "Let me think about",
        content: "",
        completionTokens: 64,
        finishReason: "length",
      };
    }
    const answer = mode === "right" ? problem.answer : `${problem.answer}1`;
    const content = `The answer is \\boxed{${answer}}.`;
    return {
      text: `<think>work</think>${content}`,
      reasoning: "work",
      content,
      completionTokens: 10 + index,
      finishReason: "stop",
    };
  };
  return { generate, seen, maxInFlight: () => maxInFlight };
}

describe("runQuality", () => {
  it("measures accuracy, per-kind accuracy, truncation and tokens of a scripted model", async () => {
    const problems = generateMathProblems({ count: 20, seed: 3 });
    // right on multiples of 2 (10), truncated on 5 and 15, error on 7, wrong otherwise
    const model = scripted((i) =>
      i === 7 ? "error" : i % 5 === 0 && i % 2 === 1 ? "truncated" : i % 2 === 0 ? "right" : "wrong",
    );
    const streamed: string[] = [];
    const run = await runQuality({
      generate: model.generate,
      problems,
      concurrency: 3,
      dataset: "generated (seed 3)",
      onResult: async (result) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        streamed.push(result.id);
      },
    });
    expect(model.maxInFlight()).toBe(3);
    expect(run.results.map((r) => r.id)).toEqual(problems.map((p) => p.id));
    expect(new Set(streamed)).toEqual(new Set(problems.map((p) => p.id)));
    expect(streamed).toHaveLength(20);
    const { summary } = run;
    expect(summary.n).toBe(20);
    expect(summary.accuracy.successes).toBe(10);
    expect(summary.accuracy.value).toBe(0.5);
    expect(summary.accuracy.low).toBeCloseTo(0.2993, 3);
    expect(summary.accuracy.high).toBeCloseTo(0.7007, 3);
    // kinds cycle with period 4: arithmetic = 0,4,8,12,16 (all even: right)
    expect(summary.byKind.arithmetic?.value).toBe(1);
    expect(summary.byKind.polynomial?.value).toBe(0);
    expect(summary.truncationRate).toBe(2 / 20);
    expect(summary.errors).toBe(1);
    // mean of completion tokens over the 19 answered problems
    const expectedTokens =
      problems
        .map((_, i) => i)
        .filter((i) => i !== 7)
        .reduce((sum, i) => sum + (i === 5 || i === 15 ? 64 : 10 + i), 0) / 19;
    expect(summary.meanCompletionTokens).toBeCloseTo(expectedTokens, 10);
    expect(summary.synthetic).toBe(false);
    expect(summary.note).toBeUndefined();
    expect(summary.dataset).toBe("generated (seed 3)");
    const failed = run.results[7] as QualityItemResult;
    expect(failed.error).toBe("HTTP 500 from the server");
    expect(failed.correct).toBe(false);
    expect(run.results[1]?.extracted).toBe(`${problems[1]?.answer}1`);
    expect(run.results[5]?.truncated).toBe(true);
  });

  it("asks with the \\boxed instruction appended to the question unless told not to", async () => {
    const problems = generateMathProblems({ count: 2, seed: 1 });
    const model = scripted(() => "right");
    await runQuality({ generate: model.generate, problems });
    expect(model.seen[0]).toEqual([
      { role: "user", content: `${problems[0]?.question}\n\n${mathInstruction}` },
    ]);
    const plain = scripted(() => "right");
    await runQuality({ generate: plain.generate, problems, instruction: false });
    expect(plain.seen[0]).toEqual([{ role: "user", content: problems[0]?.question }]);
    expect(model.maxInFlight()).toBe(1);
  });

  it("says plainly that random weights make the numbers meaningless, yet still computes them", async () => {
    const problems = generateMathProblems({ count: 4, seed: 9 });
    const run = await runQuality({ generate: scripted(() => "right").generate, problems, synthetic: true });
    expect(run.summary.note).toBe(syntheticQualityNote);
    expect(run.summary.note).toMatch(/^n\/a: the weights are random \(synthetic\)/);
    expect(run.summary.synthetic).toBe(true);
    expect(run.summary.meaningful).toBe(false);
    expect(run.summary.accuracy.value).toBe(1);
  });

  it("counts a scripted synthetic model's numbers as meaningful, with a note saying what they test", async () => {
    const problems = generateMathProblems({ count: 4, seed: 9 });
    const run = await runQuality({
      generate: scripted(() => "right").generate,
      problems,
      synthetic: true,
      scripted: true,
    });
    expect(run.summary).toMatchObject({ synthetic: true, meaningful: true, note: scriptedQualityNote });
    const real = await runQuality({ generate: scripted(() => "right").generate, problems });
    expect(real.summary.meaningful).toBe(true);
    expect(real.summary.note).toBeUndefined();
  });

  it("stops on abort with AbortedError", async () => {
    const problems = generateMathProblems({ count: 50, seed: 2 });
    const controller = new AbortController();
    let calls = 0;
    const generate = async (): Promise<QualityGeneration> => {
      calls++;
      if (calls === 3) controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { text: "x", reasoning: "", content: "x", completionTokens: 1, finishReason: "stop" };
    };
    await expect(
      runQuality({ generate, problems, concurrency: 2, signal: controller.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(calls).toBeLessThan(10);
  });

  it("rejects bad concurrency and duplicate ids", async () => {
    const problems = generateMathProblems({ count: 2, seed: 1 });
    const generate = scripted(() => "right").generate;
    await expect(runQuality({ generate, problems, concurrency: 0 })).rejects.toThrow(
      /concurrency must be a positive integer, got 0/,
    );
    await expect(runQuality({ generate, problems: [problems[0]!, problems[0]!] })).rejects.toThrow(
      /duplicate problem id/,
    );
  });

  it("summarizes an empty run without dividing by zero", () => {
    const summary = summarizeQuality([]);
    expect(summary.accuracy).toEqual({ value: 0, low: 0, high: 1, successes: 0, n: 0 });
    expect(summary.truncationRate).toBe(0);
    expect(summary.meanCompletionTokens).toBe(0);
  });
});

describe("gradeAnswer", () => {
  it("reads the last boxed answer of the answer part, with fractions in LaTeX", () => {
    expect(
      gradeAnswer(
        { text: "", reasoning: "", content: "so \\boxed{1} no wait \\boxed{\\frac{19}{12}}" },
        "19/12",
      ),
    ).toEqual({
      extracted: "\\frac{19}{12}",
      correct: true,
    });
    expect(gradeAnswer({ text: "", reasoning: "", content: "\\boxed{7}" }, "8").correct).toBe(false);
  });

  it("ignores boxes inside unfinished reasoning but reads outputs without a reasoning split whole", () => {
    expect(gradeAnswer({ text: "<think>\\boxed{3}", reasoning: "\\boxed{3}", content: "" }, "3")).toEqual({
      correct: false,
    });
    expect(gradeAnswer({ text: "it is \\boxed{3}", reasoning: "", content: "" }, "3").correct).toBe(true);
  });
});
