import { describe, expect, it } from "vitest";
import * as servelab from "../../src/index.js";
import * as client from "../../src/client/index.js";
import * as bench from "../../src/bench/index.js";

describe("library entries", () => {
  it("servelab exports the engines, server, bench and compare", () => {
    for (const name of [
      "createLlamaCppEngine",
      "createVllmEngine",
      "createUpstreamEngine",
      "startServer",
      "runBench",
      "runCompare",
      "renderComparison",
      "synthesizeModel",
      "extractBoxed",
    ] as const)
      expect(typeof servelab[name], name).toBe("function");
    expect(servelab.compareProfiles.quick.concurrency).toContain(4);
  });

  it("servelab/client and servelab/bench export their entry points", () => {
    expect(typeof client.createClient).toBe("function");
    expect(typeof bench.runBench).toBe("function");
  });
});
