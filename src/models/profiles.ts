/**
 * Model profiles: what a model family needs to be served well, as data (chat-template facts, stop
 * strings, default sampling, the reasoning format, the repetition guard), chosen from the model's
 * metadata or name and overridable with `--profile`. The server applies a profile through the small
 * functions here, so every engine behaves the same for the same model.
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { ChatMessage, SamplingParams } from "../engines/engine.js";
import type { ReasoningFormat } from "./reasoning-parser.js";
import type { RepetitionGuardOptions } from "./repetition-guard.js";

/** The profiles servelab knows. */
export const profileNames = ["deepseek-r1-distill", "phi-3", "generic"] as const;
export type ProfileName = (typeof profileNames)[number];

/** How a profile is recognised from a model's metadata (any one rule matches). */
export interface ProfileDetection {
  /** The chat template contains ALL strings of any one list. */
  templateIncludes: readonly (readonly string[])[];
  /** The model name (file name, general.name, model id) matches. */
  namePattern?: RegExp;
  /** general.architecture is one of these. */
  architectures: readonly string[];
}

/** Everything servelab does differently per model family. */
export interface ModelProfile {
  name: ProfileName;
  /** One line for `--help` and logs. */
  description: string;
  detection: ProfileDetection;
  /** Stop strings added to every request (the model's turn-end markers, even when the model file does
   * not mark them as end-of-generation). */
  stop: readonly string[];
  /** Sampling used where the request leaves a field unset; the request always wins. */
  samplingDefaults: Readonly<SamplingParams>;
  /** `native`: system messages go to the template as they are. `fold-into-first-user`: their text is
   * put before the first user turn (DeepSeek-R1 advises against system prompts). */
  systemPrompt: "native" | "fold-into-first-user";
  /** Earlier assistant turns are sent back without their reasoning (everything up to the closing tag). */
  stripReasoningFromHistory: boolean;
  /** How the model marks its reasoning; see models/reasoning-parser. */
  reasoning: ReasoningFormat;
  /** Split the output at the reasoning tags into `reasoning_content` and `content`; when false the tags
   * stay in the content as generated. */
  splitReasoning: boolean;
  /** The rendered prompt must end with exactly this (forced reasoning: `<think>\n`). */
  promptSuffix?: string;
  /** Repetition guard options; undefined turns the guard off. */
  repetitionGuard?: RepetitionGuardOptions;
}

const deepseekR1Distill: ModelProfile = {
  name: "deepseek-r1-distill",
  description:
    "DeepSeek-R1-Distill (Qwen/Llama): forced <think>, reasoning split, no system prompt, T=0.6 top_p=0.95",
  detection: {
    templateIncludes: [["<｜Assistant｜>", "<think>"]],
    namePattern: /deepseek[-_ ]?r1|r1[-_ ]distill/i,
    architectures: [],
  },
  stop: ["<｜end▁of▁sentence｜>"],
  samplingDefaults: { temperature: 0.6, topP: 0.95 },
  systemPrompt: "fold-into-first-user",
  stripReasoningFromHistory: true,
  reasoning: { kind: "think-tags", openTag: "<think>", closeTag: "</think>", implicitOpen: true },
  splitReasoning: true,
  promptSuffix: "<think>\n",
  repetitionGuard: { minPeriod: 8, maxPeriod: 200, minRepeats: 10, shortMinLength: 128 },
};

const phi3: ModelProfile = {
  name: "phi-3",
  description: "Phi-3 / Phi-3.5 mini: stops at <|end|>, system messages supported",
  detection: {
    templateIncludes: [["<|assistant|>", "<|end|>"]],
    namePattern: /phi[-_ ]?3/i,
    architectures: ["phi3"],
  },
  stop: ["<|end|>", "<|endoftext|>"],
  samplingDefaults: {},
  systemPrompt: "native",
  stripReasoningFromHistory: false,
  reasoning: { kind: "none" },
  splitReasoning: false,
};

const generic: ModelProfile = {
  name: "generic",
  description: "any other model: the template as is, everything is content",
  detection: { templateIncludes: [], architectures: [] },
  stop: [],
  samplingDefaults: {},
  systemPrompt: "native",
  stripReasoningFromHistory: false,
  reasoning: { kind: "none" },
  splitReasoning: false,
};

/** All profiles by name. Detection tries them in this order. */
export const profiles: Readonly<Record<ProfileName, ModelProfile>> = {
  "deepseek-r1-distill": deepseekR1Distill,
  "phi-3": phi3,
  generic,
};

/** What is known about the model when choosing its profile. */
export interface ProfileHints {
  /** Model name: file name, general.name or model id (several may be joined with spaces). */
  name?: string;
  /** general.architecture from GGUF metadata (e.g. "qwen2", "phi3"). */
  architecture?: string;
  /** The Jinja chat template text. */
  chatTemplate?: string;
  /** A profile name from `--profile`; wins over detection. `auto` (or empty) means detect. */
  override?: string;
}

/** The profile called `name` (case-insensitive). @throws InvalidArgumentError listing valid names. */
export function getProfile(name: string): ModelProfile {
  const key = name.trim().toLowerCase();
  if ((profileNames as readonly string[]).includes(key)) return profiles[key as ProfileName];
  throw new InvalidArgumentError(
    `unknown profile '${name}': use one of ${profileNames.join(", ")} (or auto to detect it from the model)`,
    { param: "profile" },
  );
}

/**
 * Chooses the model's profile: the override when given; else the chat template (the most specific
 * fact: a template with `<｜Assistant｜>` and `<think>` is R1-distill), then the name, then the
 * architecture; else `generic`.
 * @throws InvalidArgumentError for an unknown override, listing the valid names.
 */
export function resolveProfile(hints: ProfileHints): ModelProfile {
  if (
    hints.override !== undefined &&
    hints.override.trim() !== "" &&
    hints.override.trim().toLowerCase() !== "auto"
  ) {
    return getProfile(hints.override);
  }
  const candidates = profileNames.map((n) => profiles[n]).filter((p) => p.name !== "generic");
  const template = hints.chatTemplate;
  if (template !== undefined && template.length > 0) {
    const byTemplate = candidates.find((p) =>
      p.detection.templateIncludes.some((all) => all.every((s) => template.includes(s))),
    );
    if (byTemplate) return byTemplate;
  }
  const name = hints.name;
  if (name !== undefined && name.length > 0) {
    const byName = candidates.find((p) => p.detection.namePattern?.test(name) === true);
    if (byName) return byName;
  }
  const architecture = hints.architecture?.toLowerCase();
  if (architecture !== undefined) {
    const byArchitecture = candidates.find((p) => p.detection.architectures.includes(architecture));
    if (byArchitecture) return byArchitecture;
  }
  return generic;
}

/** `sampling` with the profile's defaults filled in where a field is unset; explicit values win. */
export function applySamplingDefaults(profile: ModelProfile, sampling: SamplingParams): SamplingParams {
  const out: SamplingParams = { ...profile.samplingDefaults };
  for (const [key, value] of Object.entries(sampling) as [keyof SamplingParams, number | undefined][]) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The answer part of an assistant turn: everything after the last closing reasoning tag. */
function stripReasoning(profile: ModelProfile, content: string): string {
  if (profile.reasoning.kind !== "think-tags") return content;
  const close = content.lastIndexOf(profile.reasoning.closeTag);
  if (close < 0) return content;
  return content.slice(close + profile.reasoning.closeTag.length).replace(/^\s+/, "");
}

/**
 * The messages to render for this profile (a new array; the input is not changed):
 * - `developer` messages are treated as `system` (the templates know only `system`);
 * - with `fold-into-first-user`, system text is put before the first user turn (joined with a blank
 *   line) and no system message remains; with no user turn it becomes one;
 * - with `stripReasoningFromHistory`, assistant turns lose everything up to their closing `</think>`.
 */
export function prepareMessages(profile: ModelProfile, messages: readonly ChatMessage[]): ChatMessage[] {
  let out: ChatMessage[] = messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content:
      m.role === "assistant" && profile.stripReasoningFromHistory
        ? stripReasoning(profile, m.content)
        : m.content,
  }));
  if (profile.systemPrompt === "fold-into-first-user") {
    const system = out
      .filter((m) => m.role === "system")
      .map((m) => m.content.trim())
      .filter((s) => s.length > 0);
    out = out.filter((m) => m.role !== "system");
    if (system.length > 0) {
      const text = system.join("\n\n");
      const first = out.findIndex((m) => m.role === "user");
      if (first < 0) out.unshift({ role: "user", content: text });
      else {
        const user = out[first] as ChatMessage;
        out[first] = { role: "user", content: user.content.length > 0 ? `${text}\n\n${user.content}` : text };
      }
    }
  }
  return out;
}

/** Options of {@link ensurePromptSuffix}. */
export interface PromptSuffixOptions {
  /** The request's `chat_template_kwargs.enable_thinking`. true: the prompt ends with the opened
   * reasoning (`<think>\n`) even when the profile does not force it; false: with a closed, empty one
   * (`<think>\n</think>`, as the R1 template renders it), so the model answers at once. Default: the
   * profile's `promptSuffix`, or the prompt as rendered. */
  thinking?: boolean;
}

/**
 * Makes a rendered prompt end with exactly the profile's `promptSuffix` (`<think>\n` for R1-distill):
 * a trailing closing tag is removed (the R1 template appends `</think>` when `enable_thinking` is unset,
 * which would skip the reasoning), a bare `<think>` gets its newline, and a missing one is added.
 * Prompts of profiles without a suffix are returned as they are. `options.thinking` overrides the
 * profile for one request (see {@link PromptSuffixOptions}).
 */
export function ensurePromptSuffix(
  profile: ModelProfile,
  renderedPrompt: string,
  options: PromptSuffixOptions = {},
): string {
  const format = profile.reasoning;
  if (options.thinking === false && format.kind === "think-tags") {
    if (renderedPrompt.trimEnd().endsWith(format.closeTag)) return renderedPrompt;
    return `${withoutTrailingTags(profile, renderedPrompt)}${format.openTag}\n${format.closeTag}`;
  }
  const suffix =
    options.thinking === true && format.kind === "think-tags"
      ? (profile.promptSuffix ?? `${format.openTag}\n`)
      : profile.promptSuffix;
  if (suffix === undefined) return renderedPrompt;
  const prompt = withoutTrailingTags(profile, renderedPrompt);
  if (prompt.endsWith(suffix)) return prompt;
  return prompt + suffix;
}

/** The prompt without a trailing closing tag and then a trailing opening tag (with their whitespace). */
function withoutTrailingTags(profile: ModelProfile, renderedPrompt: string): string {
  let prompt = renderedPrompt;
  if (profile.reasoning.kind === "think-tags") {
    const { openTag, closeTag } = profile.reasoning;
    const trimmed = prompt.trimEnd();
    if (trimmed.endsWith(closeTag)) prompt = trimmed.slice(0, -closeTag.length);
    const beforeTag = prompt.trimEnd();
    if (beforeTag.endsWith(openTag)) prompt = beforeTag.slice(0, -openTag.length);
  }
  return prompt;
}

/** Whether a rendered prompt already closed the reasoning (thinking disabled): the output is then all
 * answer, with no `</think>` to wait for. */
export function promptClosesReasoning(profile: ModelProfile, renderedPrompt: string): boolean {
  return (
    profile.reasoning.kind === "think-tags" && renderedPrompt.trimEnd().endsWith(profile.reasoning.closeTag)
  );
}
