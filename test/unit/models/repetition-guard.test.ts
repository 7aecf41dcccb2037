import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createRepetitionGuard } from "../../../src/models/repetition-guard.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";

const prose =
  "To solve this, first note that the sum of the digits is 12. Then we divide by three, which gives four. " +
  "Checking: four times three is twelve, which matches. Now consider the second part of the question, where " +
  "the remainder is asked for; since 17 = 5 * 3 + 2 the remainder is 2. Finally, we combine both results.";

describe("createRepetitionGuard", () => {
  it("triggers when a sentence repeats minRepeats times, not before", () => {
    const guard = createRepetitionGuard({ minRepeats: 5 });
    const span = "Wait, let me check again. ";
    expect(guard.push(prose)).toBe(false);
    for (let i = 0; i < 4; i++) expect(guard.push(span)).toBe(false);
    expect(guard.push(span.slice(0, -1))).toBe(false);
    expect(guard.push(span.slice(-1))).toBe(true);
    expect(guard.triggered).toBe(true);
    expect(guard.match?.period).toBe(span.length);
    expect(guard.match?.repeats).toBeGreaterThanOrEqual(5);
    // sticky
    expect(guard.push("anything")).toBe(true);
  });
  it("finds the repetition however the text is chunked", () => {
    const span = "and so the value is 3, ";
    const text = prose + span.repeat(10);
    for (const size of [1, 3, 7, 64, text.length]) {
      const guard = createRepetitionGuard();
      let fired = false;
      for (let i = 0; i < text.length && !fired; i += size) fired = guard.push(text.slice(i, i + size));
      expect(fired).toBe(true);
      expect(guard.match?.period).toBe(span.length);
    }
  });
  it("does not trigger on varied prose, numbered steps or short-period runs", () => {
    const guard = createRepetitionGuard();
    expect(guard.push(prose.repeat(1))).toBe(false);
    let steps = "";
    for (let i = 1; i <= 60; i++) steps += `Step ${i}: add ${i} to the total.\n`;
    expect(guard.push(steps)).toBe(false);
    expect(guard.push("-".repeat(500))).toBe(false);
    expect(guard.push("0 ".repeat(300))).toBe(false);
    expect(guard.push("\n".repeat(300))).toBe(false);
    expect(guard.triggered).toBe(false);
  });
  it("ignores spans longer than maxPeriod and shorter than minPeriod", () => {
    const long = createRepetitionGuard({ maxPeriod: 20, minRepeats: 3 });
    expect(long.push("abcdefghijklmnopqrstuvwxyz0123456789".repeat(5))).toBe(false);
    const short = createRepetitionGuard({ minPeriod: 8, minRepeats: 3 });
    expect(short.push("abcdefg".repeat(10))).toBe(false);
  });
  it("stops short word loops ('Wait, ' and 'Hmm. ' 500 times) once they fill shortMinLength characters", () => {
    for (const span of ["Wait, ", "Hmm. ", "Wait ", "no, ", "等等，"]) {
      const text = "Let me think about it. " + span.repeat(500);
      for (const size of [1, 5, 64]) {
        const guard = createRepetitionGuard();
        let pushed = 0;
        while (pushed < text.length && !guard.push(text.slice(pushed, pushed + size))) pushed += size;
        expect(guard.triggered, `${JSON.stringify(span)} in chunks of ${size}`).toBe(true);
        expect(guard.match?.period).toBe(span.length);
        expect(guard.match?.span.length).toBe(span.length);
        expect((span + span).includes(guard.match?.span ?? "-")).toBe(true);
        // soon after the default 128 characters of the loop, long before the 500 repeats end
        expect(pushed).toBeLessThan(23 + 128 + 2 * size);
      }
    }
  });
  it("short rule: not before shortMinLength characters; 0 turns it off", () => {
    const guard = createRepetitionGuard({ shortMinLength: 60 });
    expect(guard.push("Wait, ".repeat(9) + "Wait,")).toBe(false); // 59 characters
    expect(guard.push(" ")).toBe(true);
    expect(guard.match).toMatchObject({ period: 6, repeats: 10 });
    expect(createRepetitionGuard({ shortMinLength: 0 }).push("Wait, ".repeat(500))).toBe(false);
  });
  it("short rule: no false positives on digits, separators, indentation and letter-only runs", () => {
    const legit = [
      "1" + "0".repeat(400), // a large power of ten
      "0." + "3".repeat(400), // a repeating decimal
      "0, ".repeat(300), // a zero vector
      "1, 1, ".repeat(150),
      "=".repeat(500), // separators
      "- ".repeat(300),
      "| --- ".repeat(100) + "|",
      "0 & ".repeat(200), // a LaTeX matrix row
      "\\\\ ".repeat(300), // LaTeX line breaks
      " ".repeat(500), // indentation
      "\t".repeat(500),
      "\n".repeat(500),
      "0x" + "f".repeat(400), // a hex mask
      "A".repeat(500) + "==", // base64 of zeros
      "AT".repeat(250), // DNA
      "hahaha".repeat(80),
      "#".repeat(300),
      ".".repeat(300),
      "_".repeat(300),
    ];
    for (const text of legit) {
      const guard = createRepetitionGuard();
      expect(guard.push(text), JSON.stringify(text.slice(0, 20))).toBe(false);
    }
    // and a code block with indentation and a repeated short statement count
    const code = "def f(x):\n" + "    x += 1\n".repeat(5) + "    return x\n";
    expect(createRepetitionGuard().push(code)).toBe(false);
  });
  it("rejects bad options", () => {
    expect(() => createRepetitionGuard({ minPeriod: 0 })).toThrow(InvalidArgumentError);
    expect(() => createRepetitionGuard({ minPeriod: 10, maxPeriod: 5 })).toThrow(InvalidArgumentError);
    expect(() => createRepetitionGuard({ minRepeats: 1 })).toThrow(/minRepeats/);
    expect(() => createRepetitionGuard({ shortMinLength: 10 })).toThrow(/shortMinLength/);
  });
  it("any span of 8..200 distinct-ish characters repeated K times triggers, at the K-th repeat (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."abcdefghij ,."), minLength: 8, maxLength: 200 }),
        fc.integer({ min: 2, max: 6 }),
        (span, k) => {
          // skip spans that are themselves repetitions of a shorter span
          for (let q = 1; q < span.length; q++) {
            if (span.length % q === 0 && span.slice(0, q).repeat(span.length / q) === span) return;
          }
          const guard = createRepetitionGuard({ minRepeats: k, minPeriod: 8, maxPeriod: 200 });
          expect(guard.push("#" + span.repeat(k - 1) + span.slice(0, -1))).toBe(false);
          expect(guard.push(span.slice(-1))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
  it("is cheap per character: 1 MB of prose in under 5 s with bounded state", () => {
    const guard = createRepetitionGuard();
    let text = "";
    let seed = 1;
    const words = [
      "the",
      "sum",
      "of",
      "seven",
      "and",
      "five",
      "is",
      "twelve",
      "so",
      "we",
      "check",
      "again",
      "x",
    ];
    while (text.length < 1_000_000) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      text += words[seed % words.length] + " ";
    }
    const started = performance.now();
    for (let i = 0; i < text.length; i += 4) guard.push(text.slice(i, i + 4));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(guard.triggered).toBe(false);
  });
});
