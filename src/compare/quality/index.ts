/** Answer quality for `servelab compare`: problems, datasets, grading, agreement and similarity. */

export * from "./problems.js";
export * from "./datasets.js";
export * from "./grading.js";
export * from "./statistics.js";
export * from "./similarity.js";
export * from "./embeddings.js";
export * from "./agreement.js";
export * from "./runner.js";
