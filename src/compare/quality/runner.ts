/**
 * The quality runner: asks a model every problem (through a caller-supplied `generate`, so it works
 * with any engine or server), grades each answer as it arrives and summarizes accuracy.
 */

import { AbortedError, InvalidArgumentError, errorMessage } from "../../core/errors.js";
import { appendMathInstruction } from "../../core/math-answer.js";
import type { ChatMessage } from "../../engines/engine.js";
import type { QualitySummary } from "../types.js";
import { gradeAnswer } from "./grading.js";
import type { MathProblem } from "./problems.js";
import { computeProportion } from "./statistics.js";

/** What `generate` returns for one problem. */
export interface QualityGeneration {
  /** Everything generated (reasoning and answer). */
  text: string;
  /** The reasoning part ("" when none was split off). */
  reasoning: string;
  /** The answer part. */
  content: string;
  completionTokens: number;
  /** "stop", "length", ... as the server reported it. */
  finishReason: string;
}

/** Generates one answer; the caller decides how (servelab client, engine, scripted test model). */
export type QualityGenerate = (
  messages: ChatMessage[],
  problem: MathProblem,
  signal: AbortSignal | undefined,
) => Promise<QualityGeneration>;

/** One graded problem, as written to the results JSONL. */
export interface QualityItemResult {
  id: string;
  kind: string;
  question: string;
  expected: string;
  /** The final boxed answer, when there is one. */
  extracted?: string;
  correct: boolean;
  /** Hit the token limit (finish reason "length") before giving an answer. */
  truncated: boolean;
  finishReason?: string;
  completionTokens: number;
  text: string;
  reasoning: string;
  content: string;
  /** Wall-clock milliseconds of the generate call. */
  latencyMs: number;
  /** Why the request failed, when it did (the problem counts as wrong). */
  error?: string;
}

export interface RunQualityOptions {
  generate: QualityGenerate;
  problems: readonly MathProblem[];
  /** Problems in flight at once. Default 1. */
  concurrency?: number;
  /** Called once per problem as soon as it is graded, one call at a time (safe for appending JSONL). */
  onResult?: (result: QualityItemResult) => void | Promise<void>;
  /** Append the \boxed{} instruction to the question (DeepSeek's recommendation). Default true. */
  instruction?: boolean;
  /** The weights are synthetic. Unless `scripted`, the summary says its numbers mean nothing. Default false. */
  synthetic?: boolean;
  /** Synthetic weights that answer by a script: the numbers are known in advance and meaningful. */
  scripted?: boolean;
  /** Where the problems came from, for the summary. Default "problems". */
  dataset?: string;
  /** Stops taking new problems and rejects with AbortedError; passed on to `generate`. */
  signal?: AbortSignal;
}

export interface QualityRun {
  /** One result per problem, in the order of `problems`. */
  results: QualityItemResult[];
  summary: QualitySummary;
}

/** What quality sections of random-weight models say instead of presenting their numbers. */
export const syntheticQualityNote =
  "n/a: the weights are random (synthetic), so accuracy and agreement mean nothing; results.json keeps the raw values";

/** What quality sections of scripted models say next to their numbers. */
export const scriptedQualityNote =
  "scripted synthetic model: its answers are fixed by its script, so these figures test the pipeline, not a model";

/** The note for a summary: random weights, scripted weights, or none. */
export function qualityNote(synthetic: boolean, scripted: boolean): string | undefined {
  if (!synthetic) return undefined;
  return scripted ? scriptedQualityNote : syntheticQualityNote;
}

/** Runs every problem through `generate`, grading as results arrive. */
export async function runQuality(options: RunQualityOptions): Promise<QualityRun> {
  const { generate, problems, signal } = options;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError(`concurrency must be a positive integer, got ${concurrency}`, {
      param: "concurrency",
    });
  }
  const ids = new Set<string>();
  for (const problem of problems) {
    if (ids.has(problem.id))
      throw new InvalidArgumentError(`duplicate problem id '${problem.id}'`, { param: "problems" });
    ids.add(problem.id);
  }
  const instruction = options.instruction ?? true;
  const results: QualityItemResult[] = new Array<QualityItemResult>(problems.length);
  let reporting: Promise<void> = Promise.resolve();
  let next = 0;

  const solve = async (problem: MathProblem): Promise<QualityItemResult> => {
    const base: ChatMessage[] = [{ role: "user", content: problem.question }];
    const messages = instruction ? appendMathInstruction(base) : base;
    const started = performance.now();
    const common = {
      id: problem.id,
      kind: problem.kind,
      question: problem.question,
      expected: problem.answer,
    };
    try {
      const output = await generate(messages, problem, signal);
      const latencyMs = performance.now() - started;
      const grade = gradeAnswer(output, problem.answer);
      return {
        ...common,
        ...(grade.extracted === undefined ? {} : { extracted: grade.extracted }),
        correct: grade.correct,
        truncated: output.finishReason === "length" && grade.extracted === undefined,
        finishReason: output.finishReason,
        completionTokens: output.completionTokens,
        text: output.text,
        reasoning: output.reasoning,
        content: output.content,
        latencyMs,
      };
    } catch (err) {
      if (signal?.aborted) throw new AbortedError("quality run aborted", { cause: err });
      return {
        ...common,
        correct: false,
        truncated: false,
        completionTokens: 0,
        text: "",
        reasoning: "",
        content: "",
        latencyMs: performance.now() - started,
        error: errorMessage(err),
      };
    }
  };

  const work = async (): Promise<void> => {
    while (next < problems.length) {
      if (signal?.aborted) throw new AbortedError("quality run aborted");
      const index = next++;
      const result = await solve(problems[index] as MathProblem);
      results[index] = result;
      const { onResult } = options;
      if (onResult !== undefined) {
        reporting = reporting.then(() => onResult(result));
        await reporting;
      }
    }
  };

  const workers = Array.from({ length: Math.min(concurrency, problems.length) }, () => work());
  const settled = await Promise.allSettled(workers);
  const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
  if (failure !== undefined) throw failure.reason;
  if (signal?.aborted) throw new AbortedError("quality run aborted");
  const summaryOptions: SummarizeQualityOptions = {
    synthetic: options.synthetic ?? false,
    scripted: options.scripted ?? false,
  };
  if (options.dataset !== undefined) summaryOptions.dataset = options.dataset;
  return { results, summary: summarizeQuality(results, summaryOptions) };
}

export interface SummarizeQualityOptions {
  synthetic?: boolean;
  /** Synthetic weights that answer by a script (meaningful figures). */
  scripted?: boolean;
  dataset?: string;
}

/** Accuracy (95% Wilson interval), per-kind accuracy, truncation rate and mean completion tokens. */
export function summarizeQuality(
  results: readonly QualityItemResult[],
  options: SummarizeQualityOptions = {},
): QualitySummary {
  const synthetic = options.synthetic ?? false;
  const n = results.length;
  const correct = results.filter((result) => result.correct).length;
  const kinds = new Map<string, { n: number; correct: number }>();
  for (const result of results) {
    const tally = kinds.get(result.kind) ?? { n: 0, correct: 0 };
    tally.n++;
    if (result.correct) tally.correct++;
    kinds.set(result.kind, tally);
  }
  const answered = results.filter((result) => result.error === undefined);
  const summary: QualitySummary = {
    dataset: options.dataset ?? "problems",
    n,
    accuracy: computeProportion(correct, n),
    byKind: Object.fromEntries(
      [...kinds].map(([kind, tally]) => [kind, computeProportion(tally.correct, tally.n)]),
    ),
    truncationRate: n === 0 ? 0 : results.filter((result) => result.truncated).length / n,
    meanCompletionTokens:
      answered.length === 0
        ? 0
        : answered.reduce((sum, result) => sum + result.completionTokens, 0) / answered.length,
    errors: n - answered.length,
    synthetic,
    meaningful: !synthetic || options.scripted === true,
  };
  const note = qualityNote(synthetic, options.scripted === true);
  if (note !== undefined) summary.note = note;
  return summary;
}
