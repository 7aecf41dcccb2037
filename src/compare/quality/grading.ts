/** Grading a model's output against a problem's expected answer, by its final \boxed{} answer. */

import { answersEqual, extractBoxed } from "../../core/math-answer.js";

/** The parts of a generation that grading reads. */
export interface GradableOutput {
  /** Everything generated (reasoning and answer together). */
  text: string;
  /** The reasoning part ("" when the engine did not split one off). */
  reasoning: string;
  /** The answer part after the reasoning. */
  content: string;
}

export interface GradeResult {
  /** The final boxed answer, when the output has one. */
  extracted?: string;
  correct: boolean;
}

/**
 * Grades an output by the last \boxed{} of its answer part. A reasoning model whose reasoning never
 * finished (reasoning present, content empty) has no answer, even if its reasoning boxed something
 * along the way; an output without a reasoning split is read as a whole.
 */
export function gradeAnswer(output: GradableOutput, expected: string): GradeResult {
  const answerText = output.content !== "" ? output.content : output.reasoning === "" ? output.text : "";
  const extracted = extractBoxed(answerText);
  if (extracted === undefined) return { correct: false };
  return { extracted, correct: answersEqual(extracted, expected) };
}
