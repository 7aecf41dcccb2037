/**
 * `servelab/client`: a small SDK for OpenAI-compatible servers that serve reasoning models, built on the
 * official `openai` package.
 */
export {
  createClient,
  defaultBaseURL,
  type AnswerResult,
  type ChatOptions,
  type ChatResult,
  type ClientOptions,
  type ServelabClient,
  type StreamEvent,
  type ThinkTagMode,
  type Usage,
} from "./client.js";
export {
  ClientAbortedError,
  ClientConnectionError,
  ClientError,
  ClientHttpError,
  ClientStreamError,
  ClientTimeoutError,
} from "./errors.js";
export { answersEqual, extractBoxed, mathInstruction, normalizeAnswer } from "../core/math-answer.js";
export type { ChatMessage, ChatRole } from "../engines/engine.js";
