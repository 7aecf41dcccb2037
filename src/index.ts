/**
 * servelab as a library: the engines (embedded llama.cpp, vLLM, any OpenAI-compatible upstream), the
 * OpenAI-compatible server, the bench load generator and the comparison runner. The client SDK is
 * `servelab/client`.
 *
 *   import { createLlamaCppEngine, startServer, runBench, runCompare } from "servelab";
 */
export type * from "./engines/engine.js";
export {
  createLlamaCppEngine,
  LlamaCppEngine,
  type LlamaCppEngineOptions,
  type GpuChoice,
} from "./engines/llama-cpp.js";
export { createVllmEngine, type VllmEngine, type VllmEngineOptions } from "./engines/vllm.js";
export { createUpstreamEngine, type UpstreamEngineOptions } from "./engines/upstream.js";
export { createEngineFromSpec, type EngineSpecOptions } from "./engines/create-engine.js";
export { startServer, type ServerOptions, type RunningServer } from "./server/index.js";
export type { ListenAddress } from "./server/listen-address.js";
export { runBench, renderBenchTable, renderBenchMarkdown } from "./bench/index.js";
export type { BenchOptions, BenchResult, BenchHooks, BenchProgress, RequestRecord } from "./bench/index.js";
export { runCompare, type CompareHooks, type RunCompareOptions } from "./compare/run-compare.js";
export {
  compareProfiles,
  presetConfigurations,
  parseCompareFile,
  type ComparePlan,
  type CompareConfiguration,
} from "./compare/config.js";
export { renderComparison, type ReportFormat } from "./compare/report.js";
export type * from "./compare/types.js";
export { synthesizeModel } from "./models/synthesize.js";
export { extractBoxed, answersEqual, appendMathInstruction } from "./core/math-answer.js";
export { ServelabError, isServelabError } from "./core/errors.js";
export { version } from "./core/version.js";
