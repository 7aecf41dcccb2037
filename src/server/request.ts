/**
 * Validation of OpenAI request bodies into typed requests. Every problem is an InvalidRequestError
 * naming the parameter; anything servelab does not support is refused, never silently ignored (only
 * fields that cannot change the output are accepted without effect: see the field policy below).
 */
import { InvalidRequestError } from "../core/errors.js";
import type { ChatMessage, ChatRole, SamplingParams } from "../engines/engine.js";

export interface ServerLimits {
  /** Highest max_tokens a request may ask for. */
  maxTokensCeiling: number;
  /** Most messages in one chat request. */
  maxMessages: number;
  /** Most stop strings, and the longest one. */
  maxStops: number;
  maxStopLength: number;
  /** Most requests one client (IP address) may have generating or queued at once; more get 429. */
  maxConcurrentPerClient: number;
}

export const defaultLimits: ServerLimits = {
  maxTokensCeiling: 32_768,
  maxMessages: 1_000,
  maxStops: 16,
  maxStopLength: 256,
  maxConcurrentPerClient: 128,
};

interface CommonRequest {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  maxTokens: number | undefined;
  sampling: SamplingParams;
  stop: string[];
  ignoreEos: boolean;
}

export interface ChatRequest extends CommonRequest {
  kind: "chat";
  messages: ChatMessage[];
  /** servelab extension: append DeepSeek's math instruction to the last user turn. */
  math: boolean;
  /** `chat_template_kwargs` (as vLLM takes it): extra chat template variables; `enable_thinking: false`
   * turns a reasoning profile's thinking off for this request, `true` forces it on. */
  chatTemplateKwargs?: Record<string, unknown>;
}

export interface CompletionRequest extends CommonRequest {
  kind: "completion";
  prompt: string;
}

const roles: readonly ChatRole[] = ["system", "developer", "user", "assistant", "tool"];

/**
 * The field policy. Every field of a request body is in one of three groups, and docs/reliability.md
 * lists them for users:
 * - implemented: parsed below and honoured (OpenAI's sampling fields, plus `top_k`, `min_p`,
 *   `repetition_penalty`, `ignore_eos` and `stream_options.continuous_usage_stats` as vLLM and
 *   llama-server define them, and servelab's own `math`);
 * - accepted and ignored: fields that cannot change the output, in the forms listed (bookkeeping for
 *   OpenAI's platform, caching hints, and the "off" value of features servelab lacks); any other form
 *   of them is refused;
 * - everything else: refused with a 400 naming the field, so a client never believes a setting it
 *   sent took effect when it did not.
 * `null` counts as "not sent" for every field servelab knows, as OpenAI treats it.
 */
const implementedCommon = new Set([
  "model",
  "stream",
  "stream_options",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "seed",
  "n",
  "stop",
  "presence_penalty",
  "frequency_penalty",
  "repetition_penalty",
  "ignore_eos",
]);
// chat_template_kwargs (as vLLM takes it): variables for the chat template the embedded engine renders
const implementedChat = new Set([...implementedCommon, "messages", "math", "chat_template_kwargs"]);
const implementedCompletion = new Set([...implementedCommon, "prompt"]);
const implementedStreamOptions = new Set(["include_usage", "continuous_usage_stats"]);

/** A field accepted and ignored in the forms `accepts` allows. */
interface IgnoredField {
  accepts: (value: unknown) => boolean;
  /** The accepted forms, for the message that refuses any other. */
  forms: string;
}

const isString = (v: unknown): boolean => typeof v === "string";
const isBoolean = (v: unknown): boolean => typeof v === "boolean";
const isEmptyList = (v: unknown): boolean => Array.isArray(v) && v.length === 0;
const isEmptyObject = (v: unknown): boolean => isObject(v) && Object.keys(v).length === 0;
const anyString: IgnoredField = { accepts: isString, forms: "a string" };
const anyBoolean: IgnoredField = { accepts: isBoolean, forms: "true or false" };

const ignoredCommon: ReadonlyMap<string, IgnoredField> = new Map([
  // Bookkeeping for OpenAI's platform: the end user, tags, stored completions (servelab stores
  // nothing), the billing tier, abuse tracking.
  ["user", anyString],
  ["metadata", { accepts: isObject, forms: "an object" }],
  ["store", anyBoolean],
  ["service_tier", anyString],
  ["safety_identifier", anyString],
  // Caching hints: a sequence reuses the longest prompt prefix it holds whatever the request says.
  ["prompt_cache_key", anyString],
  ["cache_prompt", anyBoolean], // llama-server
  // The off values of features servelab lacks.
  ["logprobs", { accepts: (v) => v === false, forms: "false (log probabilities are not implemented)" }],
  ["logit_bias", { accepts: isEmptyObject, forms: "{} (token biases are not implemented)" }],
  [
    "include_stop_str_in_output", // vLLM
    { accepts: (v) => v === false, forms: "false (the stop string is never part of the output)" },
  ],
]);

const ignoredChat: ReadonlyMap<string, IgnoredField> = new Map([
  ...ignoredCommon,
  ["top_logprobs", { accepts: (v) => v === 0, forms: "0 (log probabilities are not implemented)" }],
  // No tools: only the empty list, and the choices that pick none.
  ["tools", { accepts: isEmptyList, forms: "[] (tool calling is not implemented)" }],
  ["functions", { accepts: isEmptyList, forms: "[] (function calling is not implemented)" }],
  ["tool_choice", { accepts: (v) => v === "none" || v === "auto", forms: '"none" or "auto" (no tools)' }],
  [
    "function_call",
    { accepts: (v) => v === "none" || v === "auto", forms: '"none" or "auto" (no functions)' },
  ],
  ["parallel_tool_calls", anyBoolean],
  [
    "response_format",
    {
      accepts: (v) => isObject(v) && v.type === "text" && Object.keys(v).length === 1,
      forms: '{"type": "text"} (JSON modes are not implemented)',
    },
  ],
  [
    "modalities",
    { accepts: (v) => Array.isArray(v) && v.length === 1 && v[0] === "text", forms: '["text"]' },
  ],
  // Predicted outputs only make OpenAI answer faster; the output does not depend on them.
  ["prediction", { accepts: (v) => isObject(v) && v.type === "content", forms: '{"type": "content", ...}' }],
]);

const ignoredCompletion: ReadonlyMap<string, IgnoredField> = new Map([
  ...ignoredCommon,
  ["best_of", { accepts: (v) => v === 1, forms: "1" }],
  ["echo", { accepts: (v) => v === false, forms: "false" }],
  ["suffix", { accepts: (v) => v === "", forms: '"" (insertion is not implemented)' }],
]);

const implementedMessage = new Set(["role", "content"]);
/** What a response's message carries when a client sends it back as history. */
const ignoredMessage: ReadonlyMap<string, IgnoredField> = new Map([
  // Earlier turns' reasoning never reaches the prompt: R1 is trained without it (its profile strips
  // it from history too), and the other profiles' templates have no place for it.
  ["reasoning_content", anyString],
  ["reasoning", anyString],
  ["refusal", { accepts: () => false, forms: "null" }],
  ["annotations", { accepts: isEmptyList, forms: "[]" }],
  ["tool_calls", { accepts: isEmptyList, forms: "[] (tool calling is not implemented)" }],
  ["function_call", { accepts: () => false, forms: "null (function calling is not implemented)" }],
  ["audio", { accepts: () => false, forms: "null (audio is not implemented)" }],
  // A tool result is rendered by its content; the templates do not show which call it answers.
  ["tool_call_id", anyString],
]);

const ignoredStreamOptions: ReadonlyMap<string, IgnoredField> = new Map([
  // OpenAI pads chunks against length side channels; unpadded chunks carry the same text.
  ["include_obfuscation", anyBoolean],
]);

/** Why some refused fields are refused, where it helps to say. */
const refusalHints: ReadonlyMap<string, string> = new Map([
  ["reasoning_effort", "these models cannot be told how long to reason; cap the tokens with max_tokens"],
]);
const messageRefusalHints: ReadonlyMap<string, string> = new Map([
  ["name", "the chat templates of the served models have no place for participant names"],
]);

/**
 * Checks every field of `body` against the policy: implemented and accepted fields pass (their
 * values are checked where they are parsed), anything else is an InvalidRequestError naming it.
 */
function checkFields(
  body: Record<string, unknown>,
  implemented: ReadonlySet<string>,
  ignored: ReadonlyMap<string, IgnoredField>,
  prefix = "",
  hints: ReadonlyMap<string, string> = refusalHints,
): void {
  for (const key of Object.keys(body)) {
    if (implemented.has(key)) continue;
    const param = `${prefix}${key}`;
    const rule = ignored.get(key);
    const value = body[key];
    if (rule === undefined) {
      const hint = hints.get(key);
      fail(param, `'${param}' is not supported by servelab${hint === undefined ? "" : `: ${hint}`}`);
    }
    if (value !== null && !rule.accepts(value))
      fail(
        param,
        `'${param}' is not supported by servelab: only ${rule.forms} is accepted, got ${describe(value)}`,
      );
  }
}

function fail(param: string, message: string): never {
  throw new InvalidRequestError(message, { param });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalNumber(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value))
    fail(key, `'${key}' must be a number, got ${describe(value)}`);
  if (value < min || value > max) fail(key, `'${key}' must be between ${min} and ${max}, got ${value}`);
  return value;
}

function optionalInteger(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = optionalNumber(body, key, min, max);
  if (value !== undefined && !Number.isInteger(value)) fail(key, `'${key}' must be an integer, got ${value}`);
  return value;
}

function optionalBoolean(body: Record<string, unknown>, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") fail(key, `'${key}' must be a boolean, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length > 40 ? "a string" : JSON.stringify(value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function parseCommon(body: Record<string, unknown>, limits: ServerLimits): CommonRequest {
  const n = optionalInteger(body, "n", 1, 1_000_000);
  if (n !== undefined && n !== 1) fail("n", `only n = 1 is supported, got ${n}`);

  const model = body.model;
  if (model !== undefined && typeof model !== "string")
    fail("model", `'model' must be a string, got ${describe(model)}`);

  const stream = optionalBoolean(body, "stream") ?? false;
  const streamOptions = body.stream_options;
  let includeUsage = false;
  let continuousUsage = false;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!isObject(streamOptions)) fail("stream_options", "'stream_options' must be an object");
    if (!stream) fail("stream_options", "'stream_options' is only allowed when 'stream' is true");
    checkFields(streamOptions, implementedStreamOptions, ignoredStreamOptions, "stream_options.");
    includeUsage = optionalBoolean(streamOptions, "include_usage") ?? false;
    continuousUsage = optionalBoolean(streamOptions, "continuous_usage_stats") ?? false;
  }

  const maxCompletion = optionalInteger(body, "max_completion_tokens", 1, limits.maxTokensCeiling);
  const maxTokens = optionalInteger(body, "max_tokens", 1, limits.maxTokensCeiling) ?? maxCompletion;

  const sampling: SamplingParams = {};
  const temperature = optionalNumber(body, "temperature", 0, 2);
  if (temperature !== undefined) sampling.temperature = temperature;
  const topP = optionalNumber(body, "top_p", 0, 1);
  if (topP !== undefined) sampling.topP = topP;
  const topK = optionalInteger(body, "top_k", -1, 1_000_000);
  if (topK !== undefined) sampling.topK = topK <= 0 ? 0 : topK;
  const minP = optionalNumber(body, "min_p", 0, 1);
  if (minP !== undefined) sampling.minP = minP;
  const seed = optionalInteger(body, "seed", -(2 ** 53), 2 ** 53);
  if (seed !== undefined) sampling.seed = Math.abs(seed);
  const presence = optionalNumber(body, "presence_penalty", -2, 2);
  if (presence !== undefined) sampling.presencePenalty = presence;
  const frequency = optionalNumber(body, "frequency_penalty", -2, 2);
  if (frequency !== undefined) sampling.frequencyPenalty = frequency;
  const repetition = optionalNumber(body, "repetition_penalty", 0, 10);
  if (repetition !== undefined) sampling.repeatPenalty = repetition;

  let stop: string[] = [];
  const rawStop = body.stop;
  if (typeof rawStop === "string") stop = [rawStop];
  else if (Array.isArray(rawStop)) {
    if (!rawStop.every((s) => typeof s === "string"))
      fail("stop", "'stop' must be a string or a list of strings");
    stop = rawStop as string[];
  } else if (rawStop !== undefined && rawStop !== null)
    fail("stop", "'stop' must be a string or a list of strings");
  if (stop.length > limits.maxStops)
    fail("stop", `at most ${limits.maxStops} stop strings are allowed, got ${stop.length}`);
  for (const s of stop)
    if (s.length > limits.maxStopLength)
      fail("stop", `stop strings may be at most ${limits.maxStopLength} characters, got one of ${s.length}`);
  stop = stop.filter((s) => s.length > 0);

  const ignoreEos = optionalBoolean(body, "ignore_eos") ?? false;
  return { model, stream, includeUsage, continuousUsage, maxTokens, sampling, stop, ignoreEos };
}

function requireBody(body: unknown): Record<string, unknown> {
  if (!isObject(body)) fail("body", "the request body must be a JSON object");
  return body;
}

export function parseChatRequest(raw: unknown, limits: ServerLimits = defaultLimits): ChatRequest {
  const body = requireBody(raw);
  checkFields(body, implementedChat, ignoredChat);
  const common = parseCommon(body, limits);
  const rawMessages = body.messages;
  if (!Array.isArray(rawMessages)) fail("messages", "'messages' must be a list of messages");
  if (rawMessages.length === 0) fail("messages", "'messages' must contain at least one message");
  if (rawMessages.length > limits.maxMessages)
    fail("messages", `at most ${limits.maxMessages} messages are allowed, got ${rawMessages.length}`);
  const messages = rawMessages.map((m, i): ChatMessage => {
    const param = `messages[${i}]`;
    if (!isObject(m)) fail(param, `${param} must be an object`);
    checkFields(m, implementedMessage, ignoredMessage, `${param}.`, messageRefusalHints);
    const role = m.role;
    if (typeof role !== "string" || !roles.includes(role as ChatRole))
      fail(`${param}.role`, `${param}.role must be one of ${roles.join(", ")}, got ${describe(role)}`);
    return {
      role: role as ChatRole,
      content: parseContent(m.content, `${param}.content`, role === "assistant"),
    };
  });
  const math = optionalBoolean(body, "math") ?? false;
  const kwargs = parseTemplateKwargs(body.chat_template_kwargs);
  return {
    kind: "chat",
    ...common,
    messages,
    math,
    ...(kwargs === undefined ? {} : { chatTemplateKwargs: kwargs }),
  };
}

/** Variables the server sets itself; a request may not replace them. */
const reservedTemplateVariables = ["messages", "add_generation_prompt", "bos_token", "eos_token"];

function parseTemplateKwargs(value: unknown): Record<string, unknown> | undefined {
  const param = "chat_template_kwargs";
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) fail(param, `'${param}' must be an object of template variables`);
  for (const key of Object.keys(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key))
      fail(param, `'${param}' keys must be template variable names, got ${describe(key)}`);
    if (reservedTemplateVariables.includes(key))
      fail(`${param}.${key}`, `'${param}.${key}' is set by the server`);
  }
  if (value.enable_thinking !== undefined && typeof value.enable_thinking !== "boolean")
    fail(
      `${param}.enable_thinking`,
      `'${param}.enable_thinking' must be a boolean, got ${describe(value.enable_thinking)}`,
    );
  return value;
}

/** Text content, as a string or a list of `{type: "text", text}` parts. */
function parseContent(content: unknown, param: string, allowNull: boolean): string {
  if (typeof content === "string") return content;
  if ((content === null || content === undefined) && allowNull) return "";
  if (Array.isArray(content)) {
    let text = "";
    for (const part of content) {
      if (!isObject(part) || part.type !== "text" || typeof part.text !== "string")
        fail(
          param,
          `${param} parts must be {"type": "text", "text": "..."}; images and audio are not supported`,
        );
      text += part.text;
    }
    return text;
  }
  return fail(param, `${param} must be a string or a list of text parts, got ${describe(content)}`);
}

export function parseCompletionRequest(
  raw: unknown,
  limits: ServerLimits = defaultLimits,
): CompletionRequest {
  const body = requireBody(raw);
  checkFields(body, implementedCompletion, ignoredCompletion);
  const common = parseCommon(body, limits);
  let prompt = body.prompt;
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1 || typeof prompt[0] !== "string")
      fail(
        "prompt",
        "'prompt' must be a string (a list of one string is accepted; batches are not supported)",
      );
    prompt = prompt[0];
  }
  if (typeof prompt !== "string") fail("prompt", `'prompt' must be a string, got ${describe(prompt)}`);
  if (prompt.length === 0) fail("prompt", "'prompt' must not be empty");
  return { kind: "completion", ...common, prompt };
}
