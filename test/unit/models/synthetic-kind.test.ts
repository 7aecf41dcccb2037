import { describe, expect, it } from "vitest";
import { gguf, type GgufMetadata } from "../../../src/models/gguf/metadata.js";
import { SYNTHETIC_KEY, planModel, readSyntheticKind } from "../../../src/models/synthesize.js";

describe("readSyntheticKind", () => {
  it("tells scripted synthetic models from random-weight ones and from real models", async () => {
    const scripted = await planModel({ preset: "tiny-deepseek-r1-distill-qwen", script: "The answer is 4." });
    expect(scripted.metadata.get(SYNTHETIC_KEY)?.value).toBe("scripted");
    expect(readSyntheticKind(scripted.metadata)).toBe("scripted");
    const random = await planModel({ preset: "tiny-deepseek-r1-distill-qwen" });
    // random-weight files keep their bytes: no key, known by their name
    expect(random.metadata.has(SYNTHETIC_KEY)).toBe(false);
    expect(readSyntheticKind(random.metadata)).toBe("random");
    const real: GgufMetadata = new Map([["general.name", gguf.str("DeepSeek R1 Distill Qwen 1.5B")]]);
    expect(readSyntheticKind(real)).toBeUndefined();
  });
});
