/**
 * One generation as the API sees it: the engine's token stream, split into reasoning and answer by
 * the model profile, stopped by the repetition guard, with the timings the metrics need.
 */
import { EngineError, ServelabError, errorMessage } from "../core/errors.js";
import type { Engine, FinishReason, GenerateRequest } from "../engines/engine.js";
import type { ReasoningParser } from "../models/reasoning-parser.js";
import type { RepetitionGuard } from "../models/repetition-guard.js";

export type GenerationItem =
  | { type: "start"; promptTokens: number; cachedPromptTokens: number }
  | {
      type: "delta";
      reasoning: string;
      content: string;
      tokens: number;
      /** The prompt's token count, when the engine learned it (or it changed) after `start`. */
      promptTokens?: number;
    }
  | GenerationEnd;

export interface GenerationEnd {
  type: "end";
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  /** The reasoning never reached its closing tag (length or abort before `</think>`). */
  reasoningTruncated: boolean;
  /** Milliseconds from the call to the first generated text, undefined if none came. */
  ttftMs: number | undefined;
  /** Gaps between text events in milliseconds, spread over the tokens each event completed. */
  interTokenMs: number[];
  totalMs: number;
}

export interface GenerationOptions {
  parser?: ReasoningParser;
  guard?: RepetitionGuard;
}

/**
 * Runs one request. The first item is always `start` (the request was admitted and its prompt fits),
 * so a caller can await it before committing to a streaming response; the last is `end`.
 *
 * One generator, not a wrapper around another: every item of a stream passes through it, and each
 * generator layer costs promises per item.
 */
export async function* runGeneration(
  engine: Engine,
  request: GenerateRequest,
  options: GenerationOptions = {},
): AsyncGenerator<GenerationItem, void, undefined> {
  const started = performance.now();
  const { parser, guard } = options;
  let ttftMs: number | undefined;
  let lastTextTime: number | undefined;
  const interTokenMs: number[] = [];
  let start: { promptTokens: number; cachedPromptTokens: number } | undefined;
  // The prompt's counts as last known: from `start`, or from a later text event (an upstream's usage).
  let promptTokens = 0;
  let cachedPromptTokens = 0;
  /** The prompt count changed since the last delta: the next delta carries it. */
  let promptNews = false;
  let stoppedByGuard = false;
  let tokensSoFar = 0;

  try {
    for await (const event of engine.generate(request)) {
      if (event.type === "text") {
        if (event.tokens > 0 || event.text.length > 0) {
          if (ttftMs === undefined) ttftMs = event.time - started;
          else if (lastTextTime !== undefined && event.tokens > 0) {
            const gap = (event.time - lastTextTime) / event.tokens;
            for (let i = 0; i < event.tokens; i++) interTokenMs.push(gap);
          }
          lastTextTime = event.time;
        }
        tokensSoFar += event.tokens;
        let reasoning = "";
        let content = "";
        if (parser)
          ({ reasoning, content } =
            event.channel === "reasoning" ? parser.pushReasoning(event.text) : parser.push(event.text));
        else if (event.channel === "reasoning") reasoning = event.text;
        else content = event.text;
        if (event.promptTokens !== undefined && event.promptTokens !== promptTokens) {
          promptTokens = event.promptTokens;
          promptNews = true;
        }
        if (event.cachedPromptTokens !== undefined) cachedPromptTokens = event.cachedPromptTokens;
        if (reasoning.length > 0 || content.length > 0 || event.tokens > 0) {
          if (promptNews) {
            promptNews = false;
            yield { type: "delta", reasoning, content, tokens: event.tokens, promptTokens };
          } else yield { type: "delta", reasoning, content, tokens: event.tokens };
        }
        if (guard?.push(event.text)) {
          stoppedByGuard = true;
          break; // leaving the loop aborts the engine's generation
        }
        continue;
      }
      if (event.type === "start") {
        start = { promptTokens: event.promptTokens, cachedPromptTokens: event.cachedPromptTokens };
        promptTokens = event.promptTokens;
        cachedPromptTokens = event.cachedPromptTokens;
        yield { type: "start", ...start };
        continue;
      }
      // done
      if (start === undefined) throw new EngineError("the engine finished without starting");
      yield* finish(parser, {
        finishReason: event.finishReason,
        promptTokens: event.promptTokens,
        completionTokens: event.completionTokens,
        cachedPromptTokens: event.cachedPromptTokens ?? cachedPromptTokens,
        ttftMs,
        interTokenMs,
        totalMs: performance.now() - started,
      });
      return;
    }
    if (start === undefined) throw new EngineError("the engine finished without starting");
    // Only the repetition guard (or an engine that ends without `done`) leaves the loop early.
    yield* finish(parser, {
      finishReason: stoppedByGuard ? "repetition" : "stop",
      promptTokens,
      completionTokens: tokensSoFar,
      cachedPromptTokens,
      ttftMs,
      interTokenMs,
      totalMs: performance.now() - started,
    });
  } catch (err) {
    // A native error (a failed assert, an allocation that failed) is the engine's failure, said so
    // clearly (503), not an internal error of the server; ServelabErrors keep their own meaning.
    if (err instanceof ServelabError) throw err;
    throw new EngineError(`the engine failed: ${errorMessage(err)}`, { cause: err });
  }
}

/** The end of a generation: the text the reasoning parser still holds, then the `end` item. */
function* finish(
  parser: ReasoningParser | undefined,
  end: Omit<GenerationEnd, "type" | "reasoningTruncated">,
): Generator<GenerationItem, void, undefined> {
  const rest = parser?.finish();
  if (rest !== undefined && (rest.reasoning.length > 0 || rest.content.length > 0))
    yield { type: "delta", reasoning: rest.reasoning, content: rest.content, tokens: 0 };
  yield { type: "end", ...end, reasoningTruncated: rest !== undefined && !rest.reasoningComplete };
}
