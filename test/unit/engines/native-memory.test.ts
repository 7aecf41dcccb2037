import { describe, expect, it } from "vitest";
import { createNativeMemoryCollector } from "../../../src/engines/llama-cpp.js";

/** A weak reference to an object nothing else holds, after the current job (WeakRefs hold until then). */
async function garbage(): Promise<WeakRef<object>> {
  const ref = new WeakRef({ payload: new Array(10_000).fill(1) });
  await new Promise((resolve) => setTimeout(resolve, 0));
  return ref;
}

describe("createNativeMemoryCollector", () => {
  it("runs a full collection once resident memory has grown past the threshold", async () => {
    const ref = await garbage();
    createNativeMemoryCollector(Number.NEGATIVE_INFINITY, 0)(); // any growth passes
    expect(ref.deref()).toBeUndefined();
  });

  it("does nothing below the threshold", async () => {
    const ref = await garbage();
    createNativeMemoryCollector(1024 ** 4, 0)();
    expect(ref.deref()).toBeDefined();
  });
});
