import { defineConfig } from "vitest/config";

export default defineConfig({
  // TypeScript's CommonJS files (.cts: the launcher and the thread pool's size) are TypeScript too
  oxc: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests load real llama.cpp models on a 2-core machine: run files one at a time there.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // A 64 MB young generation keeps scavenges rare and short, so a collection seldom lands inside the 1 ms
    // timing bound of the bench accuracy tests (docs/benchmarks.md gives the same advice for `servelab bench`).
    execArgv: ["--max-semi-space-size=64"],
  },
});
