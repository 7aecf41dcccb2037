import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../src/core/errors.js";
import {
  createRandom,
  formatPolynomial,
  generateMathProblems,
  mathProblemKinds,
  type MathProblem,
} from "../../../src/compare/quality/problems.js";

/** Parses "a/b" or "a" into [num, den]. */
function parseAnswer(answer: string): [number, number] {
  const [num, den = "1"] = answer.split("/");
  return [Number(num), Number(den)];
}

function gcd(a: number, b: number): number {
  return b === 0 ? Math.abs(a) : gcd(b, a % b);
}

/** Evaluates "2x^2 - 3x + 1" at x, independently of the generator. */
function evaluatePolynomialText(text: string, x: number): number {
  const terms = text.replace(/\s+/g, "").replace(/-/g, "+-").split("+").filter(Boolean);
  return terms.reduce((sum, term) => {
    const match = /^(-?)(\d*)(x?)(?:\^(\d+))?$/.exec(term);
    if (!match) throw new Error(`bad term ${term}`);
    const sign = match[1] === "-" ? -1 : 1;
    const coefficient = match[2] === "" ? 1 : Number(match[2]);
    const power = match[3] === "" ? 0 : Number(match[4] ?? 1);
    return sum + sign * coefficient * x ** power;
  }, 0);
}

describe("generateMathProblems", () => {
  it("is deterministic per seed and differs between seeds", () => {
    const a = generateMathProblems({ count: 40, seed: 7 });
    const b = generateMathProblems({ count: 40, seed: 7 });
    const c = generateMathProblems({ count: 40, seed: 8 });
    expect(a).toEqual(b);
    expect(a.map((p) => p.question)).not.toEqual(c.map((p) => p.question));
  });

  it("cycles through the kinds in order with unique ids", () => {
    const problems = generateMathProblems({ count: 10, seed: 1, kinds: ["polynomial", "word-problem"] });
    expect(problems.map((p) => p.kind)).toEqual([
      "polynomial",
      "word-problem",
      "polynomial",
      "word-problem",
      "polynomial",
      "word-problem",
      "polynomial",
      "word-problem",
      "polynomial",
      "word-problem",
    ]);
    expect(new Set(problems.map((p) => p.id)).size).toBe(10);
    expect(problems[3]?.id).toBe("word-problem-3");
  });

  it("writes answers as integers or reduced fractions", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        for (const problem of generateMathProblems({ count: 24, seed })) {
          expect(problem.answer).toMatch(/^-?\d+(\/\d+)?$/);
          const [num, den] = parseAnswer(problem.answer);
          if (problem.answer.includes("/")) {
            expect(den).toBeGreaterThan(1);
            expect(gcd(num, den)).toBe(1);
          }
        }
      }),
      { numRuns: 50 },
    );
  });

  it("gives polynomial answers that match an independent evaluation", () => {
    const problems = generateMathProblems({ count: 60, seed: 3, kinds: ["polynomial"] });
    for (const problem of problems) {
      const match = /^Let (\w)\(x\) = (.+)\. What is \1\((-?\d+)\)\?$/.exec(problem.question);
      expect(match, problem.question).not.toBeNull();
      const value = evaluatePolynomialText(match?.[2] ?? "", Number(match?.[3]));
      expect(problem.answer).toBe(String(value));
    }
  });

  it("gives linear-equation answers that satisfy the equation exactly", () => {
    const problems = generateMathProblems({ count: 80, seed: 11, kinds: ["linear-equation"] });
    let fractions = 0;
    for (const problem of problems) {
      const match = /^Solve for x: (.+) = (.+)\.$/.exec(problem.question);
      expect(match, problem.question).not.toBeNull();
      const [num, den] = parseAnswer(problem.answer);
      if (den !== 1) fractions++;
      // Multiply both sides by den to stay in integers: evaluate at x = num/den, scaled.
      const side = (text: string): number => {
        const a = evaluatePolynomialText(text, 1) - evaluatePolynomialText(text, 0);
        const b = evaluatePolynomialText(text, 0);
        return a * num + b * den;
      };
      expect(side(match?.[1] ?? ""), problem.question).toBe(side(match?.[2] ?? ""));
    }
    expect(fractions).toBeGreaterThan(0);
  });

  it("gives integer arithmetic answers that match JavaScript's own evaluation", () => {
    const problems = generateMathProblems({ count: 60, seed: 5, kinds: ["arithmetic"] });
    let checked = 0;
    for (const problem of problems) {
      const match = /^What is ([\d+\-*/() ]+)\?$/.exec(problem.question);
      if (!match) continue;
      const expression = match[1] ?? "";
      expect(expression).toMatch(/^[\d+\-*/() ]+$/);
      const value = Function(`"use strict"; return (${expression});`)() as number;
      expect(problem.answer, problem.question).toBe(String(value));
      checked++;
    }
    expect(checked).toBeGreaterThan(30);
  });

  it("makes word problems from several templates", () => {
    const problems: MathProblem[] = generateMathProblems({ count: 60, seed: 2, kinds: ["word-problem"] });
    const templates = new Set(
      problems.map((p) => /apples|trains|notebook|cookies|grandmother|tap/.exec(p.question)?.[0]),
    );
    expect(templates.size).toBe(6);
    const train = problems.find((p) => p.question.includes("trains"));
    const numbers = train?.question.match(/\d+/g)?.map(Number) ?? [];
    const [distance = 0, v1 = 0, v2 = 0] = numbers;
    const [num, den] = parseAnswer(train?.answer ?? "");
    expect(num * (v1 + v2)).toBe(distance * den);
  });

  it("rejects bad options with fix-it messages", () => {
    expect(() => generateMathProblems({ count: 0, seed: 1 })).toThrow(
      /count must be a positive integer, got 0/,
    );
    expect(() => generateMathProblems({ count: 1, seed: 1, kinds: [] })).toThrow(InvalidArgumentError);
    // @ts-expect-error an unknown kind
    expect(() => generateMathProblems({ count: 1, seed: 1, kinds: ["calculus"] })).toThrow(
      /unknown problem kind 'calculus'/,
    );
    expect(mathProblemKinds).toHaveLength(4);
  });
});

describe("formatPolynomial and createRandom", () => {
  it("formats signs and unit coefficients", () => {
    expect(formatPolynomial([1, 2, 1])).toBe("x^2 + 2x + 1");
    expect(formatPolynomial([-1, 0, -3, 4])).toBe("-x^3 - 3x + 4");
    expect(formatPolynomial([2, -1])).toBe("2x - 1");
    expect(formatPolynomial([0, 0])).toBe("0");
  });

  it("draws integers within bounds, identically per seed", () => {
    const a = createRandom(42);
    const b = createRandom(42);
    for (let i = 0; i < 1000; i++) {
      const value = a.int(-3, 3);
      expect(value).toBe(b.int(-3, 3));
      expect(value).toBeGreaterThanOrEqual(-3);
      expect(value).toBeLessThanOrEqual(3);
    }
  });
});
