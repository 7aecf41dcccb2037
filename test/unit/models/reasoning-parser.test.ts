import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  createReasoningParser,
  splitReasoning,
  type ReasoningFormat,
  type ReasoningParserProfile,
} from "../../../src/models/reasoning-parser.js";

const r1: ReasoningParserProfile = {
  reasoning: { kind: "think-tags", openTag: "<think>", closeTag: "</think>", implicitOpen: true },
};
const explicit: ReasoningParserProfile = {
  reasoning: { kind: "think-tags", openTag: "<think>", closeTag: "</think>", implicitOpen: false },
};
const none: ReasoningParserProfile = { reasoning: { kind: "none" } satisfies ReasoningFormat };

/** Feeds the chunks and returns the concatenated result. */
function feed(profile: ReasoningParserProfile, chunks: readonly string[]) {
  const parser = createReasoningParser(profile);
  let reasoning = "";
  let content = "";
  for (const chunk of chunks) {
    const delta = parser.push(chunk);
    reasoning += delta.reasoning;
    content += delta.content;
  }
  const last = parser.finish();
  return {
    reasoning: reasoning + last.reasoning,
    content: content + last.content,
    complete: last.reasoningComplete,
  };
}

describe("createReasoningParser (deepseek-r1-distill: implicit <think>)", () => {
  it("treats text before </think> as reasoning when the opening tag is missing", () => {
    expect(feed(r1, ["Let me think.\n</think>\n\nThe answer is 4."])).toEqual({
      reasoning: "Let me think.\n",
      content: "The answer is 4.",
      complete: true,
    });
  });
  it("drops an opening <think> at the start of the output", () => {
    expect(feed(r1, ["<think>\nhmm</think>42"])).toEqual({ reasoning: "hmm", content: "42", complete: true });
    expect(feed(r1, ["\n<think>hmm</think>42"])).toEqual({ reasoning: "hmm", content: "42", complete: true });
  });
  it("never leaks a closing tag split across chunks", () => {
    const parser = createReasoningParser(r1);
    expect(parser.push("abc</thi")).toEqual({ reasoning: "abc", content: "" });
    expect(parser.push("nk>\n\nanswer")).toEqual({ reasoning: "", content: "answer" });
    expect(parser.finish()).toEqual({ reasoning: "", content: "", reasoningComplete: true });
  });
  it("holds back a split opening tag and drops it", () => {
    const parser = createReasoningParser(r1);
    expect(parser.push("<th")).toEqual({ reasoning: "", content: "" });
    expect(parser.push("ink>x")).toEqual({ reasoning: "x", content: "" });
  });
  it("releases a held partial tag that turns out to be text", () => {
    const parser = createReasoningParser(r1);
    expect(parser.push("a </t")).toEqual({ reasoning: "a ", content: "" });
    expect(parser.push("able>")).toEqual({ reasoning: "</table>", content: "" });
  });
  it("reports truncated reasoning when generation ends before </think>", () => {
    expect(feed(r1, ["step 1, step 2, </thi"])).toEqual({
      reasoning: "step 1, step 2, </thi",
      content: "",
      complete: false,
    });
  });
  it("trims the newlines between </think> and the answer across chunks", () => {
    expect(feed(r1, ["r</think>", "\n", "\n", "  A\n"])).toEqual({
      reasoning: "r",
      content: "A\n",
      complete: true,
    });
  });
  it("keeps later tags in the content verbatim", () => {
    expect(feed(r1, ["r</think>x</think>y<think>"]).content).toBe("x</think>y<think>");
  });
  it("throws when pushed after finish", () => {
    const parser = createReasoningParser(r1);
    parser.finish();
    expect(() => parser.push("x")).toThrow(/after finish/);
  });
});

describe("createReasoningParser (explicit tags and no reasoning)", () => {
  it("all content unless the output starts with <think>", () => {
    expect(feed(explicit, ["Hello</think> there"])).toEqual({
      reasoning: "",
      content: "Hello</think> there",
      complete: true,
    });
    expect(feed(explicit, ["<think>a</think>b"])).toEqual({ reasoning: "a", content: "b", complete: true });
    expect(feed(explicit, ["<think>a"])).toEqual({ reasoning: "a", content: "", complete: false });
  });
  it("profiles without reasoning pass everything through as content", () => {
    expect(feed(none, ["<think>a</think>", "b"])).toEqual({
      reasoning: "",
      content: "<think>a</think>b",
      complete: true,
    });
  });
});

describe("pushReasoning (upstream already split the reasoning)", () => {
  it("passes reasoning through and treats later text as content", () => {
    const parser = createReasoningParser(r1);
    expect(parser.pushReasoning("\nthinking")).toEqual({ reasoning: "thinking", content: "" });
    expect(parser.pushReasoning(" more")).toEqual({ reasoning: " more", content: "" });
    expect(parser.push("\n\nAnswer")).toEqual({ reasoning: "", content: "Answer" });
    expect(parser.finish().reasoningComplete).toBe(true);
  });
  it("reports truncation when only reasoning arrived", () => {
    const parser = createReasoningParser(r1);
    parser.pushReasoning("thinking");
    expect(parser.finish().reasoningComplete).toBe(false);
  });
  it("upstreamSplitsReasoning makes push text content from the start", () => {
    const parser = createReasoningParser(r1, { upstreamSplitsReasoning: true });
    expect(parser.push("Hi")).toEqual({ reasoning: "", content: "Hi" });
    expect(parser.finish().reasoningComplete).toBe(true);
  });
});

describe("splitReasoning", () => {
  it("splits a whole message and trims the reasoning", () => {
    expect(splitReasoning(r1, "Okay.\n\n</think>\n\n**4**")).toEqual({
      reasoning: "Okay.",
      content: "**4**",
      reasoningComplete: true,
    });
  });
});

describe("properties", () => {
  const pieces = fc.constantFrom(
    "<think>",
    "</think>",
    "<",
    "</",
    "think",
    ">",
    "\n",
    " ",
    "a",
    "b",
    "</th",
    "ink>",
    "t",
  );
  const text = fc.array(pieces, { maxLength: 30 }).map((p) => p.join(""));
  /** Splits `s` at the given cut points. */
  const splitAt = (s: string, cuts: number[]): string[] => {
    const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
    const out: string[] = [];
    let last = 0;
    for (const p of points) {
      out.push(s.slice(last, p));
      last = p;
    }
    out.push(s.slice(last));
    return out;
  };

  for (const [name, profile] of [
    ["implicit", r1],
    ["explicit", explicit],
    ["none", none],
  ] as const) {
    it(`${name}: any split of the stream into chunks gives the same result as the whole text`, () => {
      fc.assert(
        fc.property(text, fc.array(fc.nat(), { maxLength: 12 }), (s, cuts) => {
          expect(feed(profile, splitAt(s, cuts))).toEqual(feed(profile, [s]));
        }),
        { numRuns: 400 },
      );
    });
  }

  it("the opening and closing tags never reach reasoning, and content never contains the first </think>", () => {
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 12 }), (s, cuts) => {
        const { reasoning, content, complete } = feed(r1, splitAt(s, cuts));
        expect(reasoning).not.toContain("</think>");
        const closeAt = s.indexOf("</think>");
        expect(complete).toBe(closeAt >= 0);
        if (closeAt >= 0) {
          expect(content).toBe(s.slice(closeAt + "</think>".length).replace(/^\s+/, ""));
        } else {
          expect(content).toBe("");
        }
      }),
      { numRuns: 400 },
    );
  });

  it("is linear: a 2 MB stream in 1-character chunks parses quickly", () => {
    const body = "x".repeat(1_000_000) + "</think>" + "y".repeat(1_000_000);
    const parser = createReasoningParser(r1);
    let reasoning = 0;
    let content = 0;
    const started = performance.now();
    for (let i = 0; i < body.length; i += 1) {
      const d = parser.push(body[i] ?? "");
      reasoning += d.reasoning.length;
      content += d.content.length;
    }
    parser.finish();
    expect(reasoning).toBe(1_000_000);
    expect(content).toBe(1_000_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("createReasoningParser with reasoningClosed (thinking disabled in the prompt)", () => {
  it("classifies everything as the answer, trims its leading whitespace and reports it complete", () => {
    const parser = createReasoningParser(r1, { reasoningClosed: true });
    expect(parser.push("\n\nThe answer")).toEqual({ reasoning: "", content: "The answer" });
    expect(parser.push(" is 4.</think>")).toEqual({ reasoning: "", content: " is 4.</think>" });
    expect(parser.finish()).toEqual({ reasoning: "", content: "", reasoningComplete: true });
    // without it the same text is reasoning that never ended
    const open = createReasoningParser(r1);
    expect(open.push("The answer is 4.").reasoning).toBe("The answer is 4.");
    expect(open.finish().reasoningComplete).toBe(false);
  });
});
