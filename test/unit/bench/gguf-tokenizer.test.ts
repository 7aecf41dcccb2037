/**
 * loadGgufTokenizer's choice of llama.cpp binary. A machine without a prebuilt binary (the GPU host of
 * docs/benchmarks/h200.md carries only a local CUDA build) cannot be arranged here, so node-llama-cpp's
 * getLlama is replaced by one that fails the way it fails there; the real load is tested elsewhere
 * (bench-tokenizer and compare tests on the built-in vocabulary).
 */
import { beforeEach, describe, expect, it, vi } from "vitest";

const calls: Record<string, unknown>[] = [];
let failures: Set<unknown>;

vi.mock("node-llama-cpp", () => ({
  LlamaLogLevel: { error: "error" },
  getLlama: vi.fn(async (options: Record<string, unknown>) => {
    calls.push(options);
    if (failures.has(options.gpu)) throw new Error(`no ${String(options.gpu)} binary and build is "never"`);
    return {
      loadModel: async () => ({
        tokenize: (text: string) => [...text].map((c) => c.charCodeAt(0)),
        dispose: async () => undefined,
      }),
      dispose: async () => undefined,
    };
  }),
}));

const { loadGgufTokenizer } = await import("../../../src/bench/tokenizer.js");

beforeEach(() => {
  calls.length = 0;
  failures = new Set();
});

describe("loadGgufTokenizer", () => {
  it("loads the CPU binary and never asks node-llama-cpp to build from source", async () => {
    const tokenizer = await loadGgufTokenizer("model.gguf");
    expect(await tokenizer.countTokens("abc")).toBe(3);
    expect(calls).toEqual([expect.objectContaining({ gpu: false, build: "never" })]);
  });

  it("falls back to the binary the engine uses when there is no CPU one", async () => {
    failures.add(false);
    const tokenizer = await loadGgufTokenizer("model.gguf");
    expect(await tokenizer.countTokens("ab")).toBe(2);
    expect(calls.map((c) => [c.gpu, c.build])).toEqual([
      [false, "never"],
      ["auto", "never"],
    ]);
  });

  it("fails at once with one clear error when no binary loads", async () => {
    failures = new Set([false, "auto"]);
    await expect(loadGgufTokenizer("model.gguf")).rejects.toThrow(
      /could not load "model\.gguf".*no auto binary/,
    );
    expect(calls.every((c) => c.build === "never")).toBe(true);
  });
});
