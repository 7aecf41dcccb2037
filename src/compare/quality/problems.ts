/**
 * Seeded math problems with exact known answers (integers or reduced fractions such as "19/12"),
 * for measuring answer quality without downloading a dataset. The same options always give the
 * same problems.
 */

import { InvalidArgumentError } from "../../core/errors.js";
import {
  addFractions,
  divideFractions,
  formatFraction,
  makeFraction,
  multiplyFractions,
  type Fraction,
} from "./fraction.js";

export type MathProblemKind = "arithmetic" | "polynomial" | "linear-equation" | "word-problem";

/** Every kind generateMathProblems can make, in the order it cycles through them. */
export const mathProblemKinds: readonly MathProblemKind[] = [
  "arithmetic",
  "polynomial",
  "linear-equation",
  "word-problem",
];

/** A problem with its expected final answer. */
export interface MathProblem {
  /** Unique within a problem set; results and agreement are matched by it. */
  id: string;
  /** "arithmetic", "polynomial", ... for generated problems; a dataset's subject or name otherwise. */
  kind: string;
  question: string;
  /** The expected final answer as text ("42", "19/12", "\\frac{3}{4}"). */
  answer: string;
}

export interface GenerateMathProblemsOptions {
  /** How many problems (a positive integer). */
  count: number;
  /** Seed of the generator: the same seed gives the same problems. */
  seed: number;
  /** Kinds to generate, cycled in order so each gets an equal share. Default: all of them. */
  kinds?: readonly MathProblemKind[];
}

/** A seeded pseudo-random source (mulberry32): small, fast and identical on every platform. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/** Creates a seeded random source. */
export function createRandom(seed: number): Random {
  let state = Math.trunc(seed) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(0, items.length - 1)];
    if (item === undefined) throw new RangeError("pick from an empty list");
    return item;
  };
  return { next, int, pick };
}

/**
 * Generates `count` math problems with exact answers, deterministically from `seed`. Kinds are
 * cycled in order (problem i has kind kinds[i % kinds.length]) so per-kind accuracy has equal
 * samples; ids are "<kind>-<i>".
 */
export function generateMathProblems(options: GenerateMathProblemsOptions): MathProblem[] {
  const { count, seed } = options;
  const kinds = options.kinds ?? mathProblemKinds;
  if (!Number.isInteger(count) || count < 1) {
    throw new InvalidArgumentError(`count must be a positive integer, got ${count}`, { param: "count" });
  }
  if (!Number.isFinite(seed))
    throw new InvalidArgumentError(`seed must be a number, got ${seed}`, { param: "seed" });
  if (kinds.length === 0)
    throw new InvalidArgumentError("kinds must name at least one kind", { param: "kinds" });
  for (const kind of kinds) {
    if (!mathProblemKinds.includes(kind)) {
      throw new InvalidArgumentError(
        `unknown problem kind '${String(kind)}' (known: ${mathProblemKinds.join(", ")})`,
        {
          param: "kinds",
        },
      );
    }
  }
  const random = createRandom(seed);
  const problems: MathProblem[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length] as MathProblemKind;
    const { question, answer } = makers[kind](random);
    problems.push({ id: `${kind}-${i}`, kind, question, answer: formatFraction(answer) });
  }
  return problems;
}

interface Made {
  question: string;
  answer: Fraction;
}

const makers: Record<MathProblemKind, (random: Random) => Made> = {
  arithmetic: makeArithmetic,
  polynomial: makePolynomial,
  "linear-equation": makeLinearEquation,
  "word-problem": makeWordProblem,
};

function makeArithmetic(random: Random): Made {
  const variant = random.int(0, 4);
  const a = random.int(2, 60);
  const b = random.int(2, 40);
  const c = random.int(2, 30);
  switch (variant) {
    case 0:
      return { question: `What is ${a} + ${b} * ${c}?`, answer: makeFraction(a + b * c) };
    case 1:
      return { question: `What is ${a} * ${b} - ${c}?`, answer: makeFraction(a * b - c) };
    case 2:
      return { question: `What is (${a} - ${b}) * ${c}?`, answer: makeFraction((a - b) * c) };
    case 3: {
      // Exact division: build the dividend from the quotient.
      const quotient = random.int(2, 25);
      return { question: `What is ${quotient * c} / ${c} + ${b}?`, answer: makeFraction(quotient + b) };
    }
    default: {
      const x = makeFraction(random.int(1, 9), random.int(2, 9));
      const y = makeFraction(random.int(1, 9), random.int(2, 9));
      const multiply = random.next() < 0.5;
      return {
        question: `What is ${x.num}/${x.den} ${multiply ? "*" : "+"} ${y.num}/${y.den}? Give the answer as a reduced fraction or an integer.`,
        answer: multiply ? multiplyFractions(x, y) : addFractions(x, y),
      };
    }
  }
}

/** "2x^2 - 3x + 1" from coefficients, highest degree first. */
export function formatPolynomial(coefficients: readonly number[], variable = "x"): string {
  const degree = coefficients.length - 1;
  let text = "";
  coefficients.forEach((coefficient, i) => {
    const power = degree - i;
    if (coefficient === 0) return;
    const magnitude = Math.abs(coefficient);
    const body =
      power === 0
        ? String(magnitude)
        : `${magnitude === 1 ? "" : magnitude}${variable}${power === 1 ? "" : `^${power}`}`;
    if (text === "") text = coefficient < 0 ? `-${body}` : body;
    else text += coefficient < 0 ? ` - ${body}` : ` + ${body}`;
  });
  return text === "" ? "0" : text;
}

function makePolynomial(random: Random): Made {
  const degree = random.next() < 0.7 ? 2 : 3;
  const coefficients: number[] = [random.pick([1, 2, 3, -1, -2])];
  for (let i = 0; i < degree; i++) coefficients.push(random.int(-9, 9));
  const x = random.int(-4, 5);
  const value = coefficients.reduce((acc, coefficient) => acc * x + coefficient, 0);
  const name = random.pick(["f", "g", "p"]);
  return {
    question: `Let ${name}(x) = ${formatPolynomial(coefficients)}. What is ${name}(${x})?`,
    answer: makeFraction(value),
  };
}

function makeLinearEquation(random: Random): Made {
  const a = random.pick([2, 3, 4, 5, 6, 7, 8, 9, -2, -3]);
  const b = random.int(-20, 20);
  if (random.next() < 0.3) {
    // Both sides carry x: ax + b = cx + d.
    let c = random.int(1, 9);
    if (c === a) c = a + 1;
    const d = random.int(-20, 30);
    return {
      question: `Solve for x: ${formatPolynomial([a, b])} = ${formatPolynomial([c, d])}.`,
      answer: makeFraction(d - b, a - c),
    };
  }
  // Mostly integer solutions, sometimes a fraction.
  const right = random.next() < 0.75 ? a * random.int(-10, 12) + b : random.int(-30, 40);
  return {
    question: `Solve for x: ${formatPolynomial([a, b])} = ${right}.`,
    answer: makeFraction(right - b, a),
  };
}

const names = [
  "Ana",
  "Ben",
  "Chen",
  "Dara",
  "Elif",
  "Farid",
  "Grace",
  "Hugo",
  "Ines",
  "Jamal",
  "Kofi",
  "Lena",
];

function makeWordProblem(random: Random): Made {
  const name = random.pick(names);
  switch (random.int(0, 5)) {
    case 0: {
      const have = random.int(3, 30);
      const bags = random.int(2, 9);
      const perBag = random.int(3, 12);
      const give = random.int(1, have);
      return {
        question: `${name} has ${have} apples, buys ${bags} bags with ${perBag} apples in each bag, then gives ${give} apples to a neighbour. How many apples does ${name} have now?`,
        answer: makeFraction(have + bags * perBag - give),
      };
    }
    case 1: {
      const v1 = random.pick([40, 50, 60, 70, 80, 90]);
      const v2 = random.pick([30, 45, 55, 65, 75, 100]);
      const distance = random.int(6, 40) * 10;
      return {
        question: `Two trains start ${distance} km apart and travel toward each other on parallel tracks, one at ${v1} km/h and the other at ${v2} km/h. After how many hours do they meet? Give an exact fraction if needed.`,
        answer: makeFraction(distance, v1 + v2),
      };
    }
    case 2: {
      const notebook = random.int(2, 9);
      const pen = random.int(1, 4);
      const notebooks = random.int(1, 6);
      const pens = random.int(1, 8);
      const total = notebook * notebooks + pen * pens;
      const bill = total < 20 ? 20 : total < 50 ? 50 : 100;
      return {
        question: `A notebook costs $${notebook} and a pen costs $${pen}. ${name} buys ${notebooks} notebooks and ${pens} pens and pays with a $${bill} bill. How many dollars of change does ${name} get?`,
        answer: makeFraction(bill - total),
      };
    }
    case 3: {
      const friends = random.int(3, 9);
      const cookies = random.int(friends + 1, 80);
      return {
        question: `${name} bakes ${cookies} cookies and shares them among ${friends} friends so that each friend gets the same whole number of cookies, as many as possible. ${name} keeps the cookies left over. How many cookies does ${name} keep?`,
        answer: makeFraction(cookies % friends),
      };
    }
    case 4: {
      const age = random.int(4, 15);
      const times = random.int(2, 5);
      const years = random.int(2, 20);
      return {
        question: `${name} is ${age} years old. ${name}'s grandmother is ${times} times as old. How old will the grandmother be in ${years} years?`,
        answer: makeFraction(age * times + years),
      };
    }
    default: {
      const rate = random.int(3, 16);
      const volume = random.int(4, 60) * 10;
      return {
        question: `A tap fills a tank at ${rate} litres per minute. How many minutes does it take to fill an empty ${volume}-litre tank? Give an exact fraction if needed.`,
        answer: divideFractions(makeFraction(volume), makeFraction(rate)),
      };
    }
  }
}
