/**
 * Concurrent requests on the embedded engine share decode steps (the step barrier), on a tiny
 * synthetic model. Counts, not timings: how many sequences each barrier-started step carried.
 */
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

  it("still runs a single request step by step", async () => {
    const before = engine.stepStats();
    expect(await generate(engine, "alone", 10)).toBe(10);
    const after = engine.stepStats();
    expect(after.steps - before.steps).toBe(9);
    expect(after.sequences - before.sequences).toBe(9);
  });
});
