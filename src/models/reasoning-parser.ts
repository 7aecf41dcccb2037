/**
 * The reasoning split: separates a reasoning model's thinking (`<think>…</think>`) from its answer, for
 * whole messages and for stream deltas, the same way on every engine.
 *
 * DeepSeek-R1-Distill's chat template ends the prompt with `<think>\n`, so the model's output usually
 * starts inside the reasoning and the opening tag is missing: with `implicitOpen` everything before
 * `</think>` is reasoning. A `<think>` at the very start of the output is dropped. Tags split across
 * chunks (`</thi` + `nk>`) are held back until they can be decided, never leaked. Leading whitespace of
 * the reasoning and of the content is trimmed.
 */
import { ServelabError } from "../core/errors.js";

/** How a model marks its reasoning in the generated text. */
export type ReasoningFormat =
  /** No reasoning: all output is content. */
  | { kind: "none" }
  | {
      kind: "think-tags";
      /** The opening tag, e.g. `<think>`. */
      openTag: string;
      /** The closing tag, e.g. `</think>`. */
      closeTag: string;
      /** The prompt already opened the reasoning (the output starts inside it), so text before the
       * closing tag is reasoning even without an opening tag. When false, output that does not start
       * with the opening tag is all content. */
      implicitOpen: boolean;
    };

/** What the parser needs of a model profile. */
export interface ReasoningParserProfile {
  reasoning: ReasoningFormat;
}

/** Options for {@link createReasoningParser}. */
export interface ReasoningParserOptions {
  /** The upstream already separates reasoning (its reasoning arrives through `pushReasoning`), so
   * `push` text is content from the start. Default false; the first `pushReasoning` call switches to
   * this mode anyway. */
  upstreamSplitsReasoning?: boolean;
  /** The prompt ended with a closed reasoning block (thinking disabled, `<think>\n</think>`): the
   * output is all answer, its leading whitespace trimmed. Default false. */
  reasoningClosed?: boolean;
}

/** Text classified by one `push`: either part may be empty. */
export interface ReasoningDelta {
  reasoning: string;
  content: string;
}

/** The rest of the text at the end of generation. */
export interface ReasoningFinish extends ReasoningDelta {
  /** False when generation ended inside the reasoning (no closing tag came). With finish reason
   * "length" that means the reasoning was truncated: the server sets `reasoning_truncated: true`
   * rather than guessing an answer. Always true for profiles without reasoning. */
  reasoningComplete: boolean;
}

/** A streaming state machine; O(length of the text), holding back at most a possible partial tag
 * (and leading whitespace at the very start). Read once: `push` after `finish` throws. */
export interface ReasoningParser {
  /** Classifies newly generated text. */
  push(text: string): ReasoningDelta;
  /** Text the upstream already marked as reasoning (e.g. vLLM's `reasoning_content`); from then on
   * `push` text is content. */
  pushReasoning(text: string): ReasoningDelta;
  /** Flushes what was held back and says whether the reasoning was complete. */
  finish(): ReasoningFinish;
}

type State = "start" | "reasoning" | "after-close" | "content" | "finished";

/** The length of the longest proper prefix of `tag` that `text` ends with. */
function partialTagLength(text: string, tag: string): number {
  for (let k = Math.min(tag.length - 1, text.length); k > 0; k--) {
    if (text.endsWith(tag.slice(0, k))) return k;
  }
  return 0;
}

const leadingWhitespace = /^\s+/;

/**
 * Creates a reasoning parser for one generation with the profile's reasoning format.
 * @example
 * const parser = createReasoningParser(resolveProfile({ override: "deepseek-r1-distill" }));
 * parser.push("Let me think</thi"); // { reasoning: "Let me think", content: "" }
 * parser.push("nk>\n\n42");         // { reasoning: "", content: "42" }
 * parser.finish();                  // { reasoning: "", content: "", reasoningComplete: true }
 */
export function createReasoningParser(
  profile: ReasoningParserProfile,
  options: ReasoningParserOptions = {},
): ReasoningParser {
  const format = profile.reasoning;
  let state: State = format.kind === "none" ? "content" : "start";
  let held = "";
  let trimReasoningLead = true;
  let upstream = false;
  let upstreamReasoningSeen = false;
  let upstreamContentSeen = false;
  let endedInReasoning = false;

  const enterUpstreamMode = (): void => {
    upstream = true;
    if (state === "start" || state === "reasoning") state = "after-close";
  };
  if (options.upstreamSplitsReasoning === true && format.kind !== "none") enterUpstreamMode();
  else if (options.reasoningClosed === true && format.kind !== "none") state = "after-close";

  const assertOpen = (): void => {
    if (state === "finished") throw new ServelabError("INTERNAL", "reasoning parser: push after finish");
  };

  const run = (text: string, final: boolean): ReasoningDelta => {
    let s = held + text;
    held = "";
    let reasoning = "";
    let content = "";
    while (s.length > 0 || (final && state === "start")) {
      if (format.kind === "none" || state === "content") {
        content += s;
        s = "";
        break;
      }
      if (state === "start") {
        const rest = s.replace(leadingWhitespace, "");
        if (rest.startsWith(format.openTag)) {
          state = "reasoning";
          s = rest.slice(format.openTag.length);
          continue;
        }
        if (!final && format.openTag.startsWith(rest)) {
          held = s; // still could become the opening tag
          s = "";
          break;
        }
        state = format.implicitOpen ? "reasoning" : "after-close";
        if (s.length === 0) break;
        continue;
      }
      if (state === "reasoning") {
        if (trimReasoningLead) {
          s = s.replace(leadingWhitespace, "");
          if (s.length === 0) break;
          trimReasoningLead = false;
        }
        const close = s.indexOf(format.closeTag);
        if (close >= 0) {
          reasoning += s.slice(0, close);
          s = s.slice(close + format.closeTag.length);
          state = "after-close";
          continue;
        }
        const keep = final ? 0 : partialTagLength(s, format.closeTag);
        reasoning += s.slice(0, s.length - keep);
        held = s.slice(s.length - keep);
        s = "";
        break;
      }
      // after-close: drop the whitespace between the closing tag and the answer
      s = s.replace(leadingWhitespace, "");
      if (s.length > 0) state = "content";
    }
    return { reasoning, content };
  };

  return {
    push(text) {
      assertOpen();
      const delta = run(text, false);
      if (upstream && delta.content.length > 0) upstreamContentSeen = true;
      return delta;
    },
    pushReasoning(text) {
      assertOpen();
      // what the text channel held back (a partial tag) was reasoning too
      const flushed =
        state === "start" || state === "reasoning" ? run("", true) : { reasoning: "", content: "" };
      enterUpstreamMode();
      let reasoning = flushed.reasoning + text;
      if (trimReasoningLead) {
        reasoning = reasoning.replace(leadingWhitespace, "");
        if (reasoning.length > 0) trimReasoningLead = false;
      }
      if (reasoning.length > 0) upstreamReasoningSeen = true;
      return { reasoning, content: flushed.content };
    },
    finish() {
      assertOpen();
      const delta = run("", true);
      endedInReasoning = upstream ? upstreamReasoningSeen && !upstreamContentSeen : state === "reasoning";
      if (upstream && delta.content.length > 0) endedInReasoning = false;
      state = "finished";
      return { ...delta, reasoningComplete: !endedInReasoning };
    },
  };
}

/** A whole message split at once. */
export interface ReasoningSplit {
  /** The reasoning, trimmed at both ends. */
  reasoning: string;
  content: string;
  reasoningComplete: boolean;
}

/** Splits a whole generated message (non-streaming responses) into reasoning and content. */
export function splitReasoning(profile: ReasoningParserProfile, text: string): ReasoningSplit {
  const parser = createReasoningParser(profile);
  const first = parser.push(text);
  const last = parser.finish();
  return {
    reasoning: (first.reasoning + last.reasoning).trimEnd(),
    content: first.content + last.content,
    reasoningComplete: last.reasoningComplete,
  };
}
