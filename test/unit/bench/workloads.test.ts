import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Tokenizer } from "../../../src/bench/tokenizer.js";
import {
  builtinPrompts,
  createBuiltinWorkload,
  createRandom,
  createSyntheticWorkload,
  drawLength,
  loadWorkloadFile,
  synthesizePrompt,
} from "../../../src/bench/workloads.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";

/** A BPE-like stand-in: each word costs ceil(length / 3) tokens, punctuation one more. Async like node-llama-cpp's may be. */
const tokenizer: Tokenizer = {
  countTokens: async (text) =>
    text
      .split(/\s+/u)
      .filter((w) => w !== "")
      .reduce(
        (n, w) =>
          n + Math.ceil(w.replace(/[^\p{L}\p{N}]/gu, "").length / 3) + (/[^\p{L}\p{N}]/u.test(w) ? 1 : 0),
        0,
      ),
};
const countWords = (s: string) => s.split(/\s+/u).filter((w) => w !== "").length;

const dir = mkdtempSync(join(tmpdir(), "servelab-bench-workloads-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function refusal(path: string): string {
  try {
    loadWorkloadFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).not.toContain("\n");
    return (err as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

describe("built-in prompt classes", () => {
  it("have several distinct prompts each, of about 10, 20 and 100 tokens (~1.3 tokens per word)", () => {
    const ranges = { short: [4, 10], medium: [12, 25], long: [65, 110] } as const;
    for (const [cls, [min, max]] of Object.entries(ranges)) {
      const prompts = builtinPrompts[cls as keyof typeof ranges];
      expect(prompts.length, cls).toBeGreaterThanOrEqual(4);
      expect(new Set(prompts).size, cls).toBe(prompts.length);
      for (const p of prompts) {
        expect(countWords(p), `${cls}: ${p}`).toBeGreaterThanOrEqual(min);
        expect(countWords(p), `${cls}: ${p}`).toBeLessThanOrEqual(max);
      }
      const mean = prompts.reduce((s, p) => s + countWords(p), 0) / prompts.length;
      const target = { short: 10, medium: 20, long: 100 }[cls as keyof typeof ranges];
      expect(mean * 1.3, cls).toBeGreaterThan(target * 0.6);
      expect(mean * 1.3, cls).toBeLessThan(target * 1.4);
    }
  });

  it("interleave the chosen classes and cycle round-robin", () => {
    const w = createBuiltinWorkload(["short", "long"]);
    expect(w.name).toBe("short,long");
    expect(w.exactOutput).toBe(false);
    expect(w.size).toBe(2 * builtinPrompts.short.length);
    expect([0, 1, 2, 3].map((i) => w.item(i).source)).toEqual(["short", "long", "short", "long"]);
    expect(w.item(0).messages).toEqual([{ role: "user", content: builtinPrompts.short[0] }]);
    expect(w.item(w.size)).toBe(w.item(0));
    const all = createBuiltinWorkload(["short", "medium", "long"]);
    const sources = Array.from({ length: all.size }, (_, i) => all.item(i).source);
    expect(sources.filter((s) => s === "long").length).toBe(all.size / 3);
  });
});

describe("synthetic prompts", () => {
  it("have exactly the asked number of tokens by the tokenizer, for many lengths", async () => {
    const random = createRandom(5);
    for (const target of [1, 2, 3, 7, 16, 50, 128, 333]) {
      const { text, tokens } = await synthesizePrompt(target, random, tokenizer);
      expect(tokens, `target ${target}: ${text}`).toBe(target);
      expect(await tokenizer.countTokens(text)).toBe(target);
    }
  });

  it("without a tokenizer are one word per token (approximate, and said so by tokens: undefined)", async () => {
    const { text, tokens } = await synthesizePrompt(40, createRandom(1), undefined);
    expect(countWords(text)).toBe(40);
    expect(tokens).toBeUndefined();
  });

  it("draw fixed, uniform and normal lengths; the workload asks for exact output lengths", async () => {
    const uniform = await createSyntheticWorkload({
      inputTokens: { kind: "uniform", min: 8, max: 12 },
      count: 40,
      seed: 3,
      tokenizer,
    });
    expect(uniform).toMatchObject({ name: "synthetic", size: 40, exactOutput: true });
    const lengths = Array.from({ length: 40 }, (_, i) => uniform.item(i).expectedInputTokens as number);
    expect(Math.min(...lengths)).toBe(8);
    expect(Math.max(...lengths)).toBe(12);
    for (let i = 0; i < 40; i++) {
      const item = uniform.item(i);
      expect(await tokenizer.countTokens(item.prompt as string)).toBe(item.expectedInputTokens);
      expect(item.messages).toEqual([{ role: "user", content: item.prompt }]);
    }
    const fixed = await createSyntheticWorkload({
      inputTokens: { kind: "fixed", value: 32 },
      count: 4,
      tokenizer,
    });
    expect(Array.from({ length: 4 }, (_, i) => fixed.item(i).expectedInputTokens)).toEqual([32, 32, 32, 32]);

    const random = createRandom(9);
    const normal = Array.from({ length: 5000 }, () =>
      drawLength({ kind: "normal", mean: 100, std: 10 }, random),
    );
    const mean = normal.reduce((a, b) => a + b, 0) / normal.length;
    const std = Math.sqrt(normal.reduce((a, b) => a + (b - mean) ** 2, 0) / (normal.length - 1));
    expect(mean).toBeGreaterThan(99);
    expect(mean).toBeLessThan(101);
    expect(std).toBeGreaterThan(9.3);
    expect(std).toBeLessThan(10.7);
    expect(normal.every((n) => Number.isInteger(n) && n >= 1)).toBe(true);
    expect(drawLength({ kind: "normal", mean: 1, std: 50 }, random)).toBeGreaterThanOrEqual(1);
  });

  it("are reproducible for a seed", async () => {
    const make = (seed: number) =>
      createSyntheticWorkload({ inputTokens: { kind: "uniform", min: 5, max: 50 }, count: 5, seed });
    const [a, b, c] = await Promise.all([make(1), make(1), make(2)]);
    expect(a.item(3).prompt).toBe(b.item(3).prompt);
    expect(a.item(3).prompt).not.toBe(c.item(3).prompt);
  });
});

describe("workload files", () => {
  it("reads JSONL prompts and messages with optional max_tokens, skipping blank lines", () => {
    const w = loadWorkloadFile(
      file(
        "ok.jsonl",
        [
          '{"prompt":"What is 2+2?","max_tokens":16}',
          "",
          '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"user"}]}',
          '{"messages":[{"content":"no role"}]}',
          "",
        ].join("\n"),
      ),
    );
    expect(w.size).toBe(3);
    expect(w.exactOutput).toBe(false);
    expect(w.item(0)).toEqual({
      source: "file",
      prompt: "What is 2+2?",
      maxTokens: 16,
      messages: [{ role: "user", content: "What is 2+2?" }],
    });
    expect(w.item(1).messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
    ]);
    expect(w.item(2).messages).toEqual([{ role: "user", content: "no role" }]);
  });

  it("reads ShareGPT JSON (first human turn) and ShareGPT lines in JSONL", () => {
    const w = loadWorkloadFile(
      file(
        "sharegpt.json",
        JSON.stringify([
          {
            id: "a",
            conversations: [
              { from: "system", value: "sys" },
              { from: "human", value: "first question" },
              { from: "gpt", value: "answer" },
              { from: "human", value: "second" },
            ],
          },
          { id: "only-gpt", conversations: [{ from: "gpt", value: "x" }] },
          { conversations: [{ from: "user", value: "user turn" }] },
        ]),
      ),
    );
    expect(w.size).toBe(2);
    expect(w.item(0)).toEqual({
      source: "sharegpt",
      messages: [{ role: "user", content: "first question" }],
    });
    expect(w.item(1).messages?.[0]?.content).toBe("user turn");
    const lines = loadWorkloadFile(
      file("sharegpt.jsonl", '{"conversations":[{"from":"human","value":"q"}]}\n'),
    );
    expect(lines.item(0).source).toBe("sharegpt");
  });

  it("refuses bad files with one line naming the file and line", () => {
    expect(refusal(join(dir, "missing.jsonl"))).toMatch(/^--workload: cannot read ".*missing\.jsonl"/u);
    expect(refusal(file("bad.jsonl", '{"prompt":"a"}\n{"prompt": oops}\n'))).toMatch(
      /^--workload: .*bad\.jsonl:2 is not a JSON object$/u,
    );
    expect(refusal(file("shape.jsonl", '{"prompt":"a"}\n\n{"question":"b"}\n'))).toMatch(
      /^--workload: .*shape\.jsonl:3 needs "prompt", "messages" or ShareGPT "conversations"$/u,
    );
    expect(refusal(file("maxtok.jsonl", '{"prompt":"a","max_tokens":0}\n'))).toMatch(
      /^--workload: .*maxtok\.jsonl:1: "max_tokens" must be a positive integer, got 0$/u,
    );
    expect(refusal(file("maxtok2.json", '[{"prompt":"a","max_tokens":"9"}]'))).toMatch(
      /maxtok2\.json entry 1: "max_tokens" must be a positive integer, got "9"/u,
    );
    expect(refusal(file("broken.json", '[{"conversations": ['))).toMatch(
      /^--workload: ".*broken\.json" is not valid JSON/u,
    );
    expect(refusal(file("empty.jsonl", "\n\n"))).toMatch(/^workload ".*empty\.jsonl" has no prompts$/u);
    expect(refusal(file("nohuman.json", '[{"conversations":[{"from":"gpt","value":"x"}]}]'))).toMatch(
      /has no prompts/u,
    );
  });
});
