import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  answersEqual,
  appendMathInstruction,
  extractBoxed,
  mathInstruction,
  normalizeAnswer,
} from "../../../src/core/math-answer.js";
import { InvalidRequestError } from "../../../src/core/errors.js";

describe("extractBoxed", () => {
  it("returns the last boxed answer", () => {
    expect(extractBoxed("first \\boxed{1} then \\boxed{2}.")).toBe("2");
  });
  it("keeps nested braces", () => {
    expect(extractBoxed("so \\boxed{\\frac{1}{2}} is it")).toBe("\\frac{1}{2}");
    expect(extractBoxed("\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}")).toBe(
      "\\left(3, \\frac{\\pi}{2}\\right)",
    );
  });
  it("accepts a space before the brace, \\fbox and the \\boxed 5 form", () => {
    expect(extractBoxed("answer: \\boxed {42}")).toBe("42");
    expect(extractBoxed("answer: \\fbox{7}")).toBe("7");
    expect(extractBoxed("$\\boxed 5$")).toBe("5");
    expect(extractBoxed("so \\boxed 12.")).toBe("12");
  });
  it("ignores escaped braces when counting depth", () => {
    expect(extractBoxed("\\boxed{\\{1, 2\\}}")).toBe("\\{1, 2\\}");
  });
  it("returns undefined without a box or for an unclosed last box with no earlier one", () => {
    expect(extractBoxed("the answer is 5")).toBeUndefined();
    expect(extractBoxed("\\boxed{12")).toBeUndefined();
    expect(extractBoxed("\\boxedx{3}")).toBeUndefined();
  });
  it("falls back to an earlier complete box when the last one is cut off", () => {
    expect(extractBoxed("\\boxed{3} and later \\boxed{4")).toBe("3");
  });
  it("finds a boxed number wherever it is placed in text (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("a", " ", "x", "1", ".", "\n") }),
        fc.integer(),
        fc.string({ unit: fc.constantFrom("a", " ", ".", "\n") }),
        (before, n, after) => {
          expect(extractBoxed(`${before}\\boxed{${n}}${after}`)).toBe(String(n));
        },
      ),
    );
  });
});

describe("normalizeAnswer / answersEqual", () => {
  const equal: Array<[string, string]> = [
    ["16", "16.0"],
    ["16", "16.00"],
    ["\\frac{1}{2}", "0.5"],
    ["\\dfrac{1}{2}", "0.5"],
    ["\\tfrac12", "1/2"],
    ["1/2", "0.5"],
    ["\\$18", "18"],
    ["$18$", "18"],
    ["18 \\text{ dollars}", "18"],
    ["\\text{5}", "5"],
    ["1,000", "1000"],
    ["1{,}000", "1000"],
    ["1,000,000.50", "1000000.5"],
    ["42.", "42"],
    ["x = 3", "3"],
    ["x=3", "3"],
    ["50\\%", "50"],
    ["50%", "50"],
    ["-0", "0"],
    ["-0.0", "0"],
    [".5", "0.5"],
    ["90^\\circ", "90"],
    ["\\left( 1, 2 \\right)", "(1,2)"],
    ["(0.5, 3)", "(\\frac{1}{2}, 3.0)"],
    ["-\\frac{3}{4}", "-0.75"],
    ["\\boxed{7}", "7"],
    ["0.1 + 0.2", "0.1+0.2"],
    ["3.0000000001", "3"],
  ];
  it.each(equal)("%s equals %s", (a, b) => {
    expect(answersEqual(a, b)).toBe(true);
    expect(answersEqual(b, a)).toBe(true);
  });
  const different: Array<[string, string]> = [
    ["16", "17"],
    ["1,2", "12"],
    ["\\frac{1}{3}", "0.33"],
    ["(1, 2)", "(2, 1)"],
    ["(1, 2)", "[1, 2]"],
    ["x^2", "x^3"],
    ["1+0.5", "10.5"],
    ["-5", "5"],
    ["0.001", "0.002"],
  ];
  it.each(different)("%s differs from %s", (a, b) => {
    expect(answersEqual(a, b)).toBe(false);
  });
  it("canonical numbers", () => {
    expect(normalizeAnswer("007")).toBe("7");
    expect(normalizeAnswer("16.500")).toBe("16.5");
    expect(normalizeAnswer("-0")).toBe("0");
    expect(normalizeAnswer("+3")).toBe("3");
    expect(normalizeAnswer("\\frac{1}{2}")).toBe("1/2");
    expect(normalizeAnswer("\\sqrt2")).toBe("\\sqrt{2}");
    expect(normalizeAnswer(" \\text{Yes}. ")).toBe("Yes");
  });
  it("tolerance is configurable", () => {
    expect(answersEqual("0.333", "\\frac{1}{3}", { relativeTolerance: 1e-2 })).toBe(true);
    expect(answersEqual("0.333", "\\frac{1}{3}")).toBe(false);
  });
  it("is reflexive and idempotent on integers, decimals and fractions (property)", () => {
    const answer = fc.oneof(
      fc.integer().map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((x) => x.toFixed(3)),
      fc
        .tuple(fc.integer({ min: -99, max: 99 }), fc.integer({ min: 1, max: 99 }))
        .map(([p, q]) => `\\frac{${p}}{${q}}`),
    );
    fc.assert(
      fc.property(answer, (a) => {
        expect(answersEqual(a, a)).toBe(true);
        expect(normalizeAnswer(normalizeAnswer(a))).toBe(normalizeAnswer(a));
      }),
    );
  });
  it("integers written with separators, trailing zeros or a dollar sign equal the plain integer (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (n) => {
        const grouped = n.toLocaleString("en-US");
        expect(answersEqual(grouped, String(n))).toBe(true);
        expect(answersEqual(`\\$${n}.00`, String(n))).toBe(true);
        expect(answersEqual(String(n + 1), String(n))).toBe(false);
      }),
    );
  });
});

describe("appendMathInstruction", () => {
  it("appends the instruction to the last user turn only", () => {
    const messages = [
      { role: "user" as const, content: "What is 1+1?" },
      { role: "assistant" as const, content: "2" },
      { role: "user" as const, content: "And 2+2?" },
    ];
    const out = appendMathInstruction(messages);
    expect(out[0]?.content).toBe("What is 1+1?");
    expect(out[2]?.content).toBe(`And 2+2?\n\n${mathInstruction}`);
    expect(messages[2]?.content).toBe("And 2+2?");
    expect(mathInstruction).toBe("Please reason step by step, and put your final answer within \\boxed{}.");
  });
  it("does not add it twice", () => {
    const once = appendMathInstruction([{ role: "user", content: "Q" }]);
    expect(appendMathInstruction(once)).toEqual(once);
  });
  it("throws InvalidRequestError without a user message", () => {
    expect(() => appendMathInstruction([{ role: "system", content: "s" }])).toThrow(InvalidRequestError);
  });
});
