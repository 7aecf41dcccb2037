/**
 * Concurrent requests on the embedded engine share decode steps (the step barrier), on a tiny
 * synthetic model. Counts, not timings: how many sequences each barrier-started step carried.
 */
import { LlamaContext } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import type { LlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { tinyModel } from "../helpers/models.js";

async function generate(engine: LlamaCppEngine, prompt: string, maxTokens: number): Promise<number> {
  let tokens = 0;
  for await (const e of engine.generate({
    input: { type: "text", text: prompt },
    maxTokens,
    ignoreEos: true,
    sampling: { temperature: 0.8, seed: 1 },
  }))
    if (e.type === "done") tokens = e.completionTokens;
  return tokens;
}

describe("llama-cpp engine step barrier", () => {
  let engine: LlamaCppEngine;

  beforeAll(async () => {
    engine = createLlamaCppEngine({ model: await tinyModel(), parallel: 4, contextSize: 256, threads: 1 });
    await engine.load();
  });
  afterAll(async () => {
    await engine.dispose();
  });

  it("decodes four concurrent requests together, one step for all four", async () => {
    const before = engine.stepStats();
    const counts = await Promise.all(
      [0, 1, 2, 3].map((i) => generate(engine, `request ${i} asks something`, 24)),
    );
    expect(counts).toEqual([24, 24, 24, 24]);
    const after = engine.stepStats();
    const steps = after.steps - before.steps;
    const sequences = after.sequences - before.sequences;
    // 23 tokens after the first per request: 92 sequence-steps; shared, about 23 steps.
    expect(sequences).toBe(92);
    expect(steps).toBeLessThanOrEqual(30);
  });

  it("queues a shared step's sequences in sequence-id order (llama.cpp runs each run of consecutive ids as one pass)", async () => {
    // Record the sequence ids of every batch node-llama-cpp hands to llama.cpp (its native
    // initBatch/addToBatch calls; internal names of node-llama-cpp 3.22).
    const batches: number[][] = [];
    const proto = LlamaContext.prototype as unknown as {
      dispatchPendingBatch: (...a: unknown[]) => unknown;
    };
    const dispatch = proto.dispatchPendingBatch;
    proto.dispatchPendingBatch = function (this: { _ctx: Record<string, unknown> }, ...args: unknown[]) {
      const ctx = this._ctx;
      if (ctx["__recording"] !== true) {
        ctx["__recording"] = true;
        const init = (ctx["initBatch"] as (n: number) => void).bind(ctx);
        const add = (ctx["addToBatch"] as (id: number, ...rest: unknown[]) => unknown).bind(ctx);
        // The native methods are read-only inherited properties: define own ones over them.
        Object.defineProperty(ctx, "initBatch", {
          configurable: true,
          value: (n: number) => {
            batches.push([]);
            init(n);
          },
        });
        Object.defineProperty(ctx, "addToBatch", {
          configurable: true,
          value: (id: number, first: number, tokens: Uint32Array, ...rest: unknown[]) => {
            // Decode steps only (one token each): prompts are queued as they arrive, not at the barrier.
            if (tokens.length === 1) batches.at(-1)?.push(id);
            return add(id, first, tokens, ...rest);
          },
        });
      }
      return dispatch.apply(this, args);
    };
    try {
      // Prompts of different lengths finish their prefill at different times, and sampling ends in
      // no fixed order, so sequences reach the barrier out of id order.
      const counts = await Promise.all(
        [3, 0, 2, 1].map((i) => generate(engine, `request ${i} ${"word ".repeat(i * 7)}`, 32)),
      );
      expect(counts).toEqual([32, 32, 32, 32]);
    } finally {
      proto.dispatchPendingBatch = dispatch;
    }
    const shared = batches.filter((ids) => ids.length > 1);
    expect(shared.length).toBeGreaterThan(20);
    for (const ids of shared) expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("still runs a single request step by step", async () => {
    const before = engine.stepStats();
    expect(await generate(engine, "alone", 10)).toBe(10);
    const after = engine.stepStats();
    expect(after.steps - before.steps).toBe(9);
    expect(after.sequences - before.sequences).toBe(9);
  });
});
