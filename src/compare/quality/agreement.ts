/**
 * Agreement of a candidate configuration with a reference on the same prompts under greedy decoding
 * (the spirit of the FP32-against-INT8 BERTScore figure): same final answer, where the texts first
 * diverge, and how similar they are (chrF, and embedding cosine when a provider is given).
 */

import { answersEqual } from "../../core/math-answer.js";
import type { AgreementSummary } from "../types.js";
import type { EmbeddingProvider } from "./embeddings.js";
import type { QualityItemResult } from "./runner.js";
import { qualityNote } from "./runner.js";
import { computeChrf, computeCosineSimilarity } from "./similarity.js";
import { summarizeSample } from "./statistics.js";

/** Splits text into tokens; may be a model tokenizer (token ids) or a text splitter. */
export type Tokenize = (text: string) => readonly (string | number)[] | Promise<readonly (string | number)[]>;

/** Name of the default tokenizer, as reported in AgreementSummary.tokenizer. */
export const defaultTokenizerName = "words-and-punctuation";

/** The default tokenizer: runs of letters/digits are words, every other non-space character is a token. */
export function splitWordsAndPunctuation(text: string): string[] {
  return text.match(/[\p{L}\p{N}\p{M}_]+|[^\s\p{L}\p{N}\p{M}_]/gu) ?? [];
}

/** Index of the first position where the sequences differ; undefined when they are identical. */
export function findFirstDifference(
  a: readonly (string | number)[],
  b: readonly (string | number)[],
): number | undefined {
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? undefined : shorter;
}

export interface CompareAgreementOptions {
  /** Tokenizer for the first-differing-token position. Default: splitWordsAndPunctuation. */
  tokenize?: Tokenize;
  /** Name reported for `tokenize`. Default "words-and-punctuation", or "custom" for a given tokenize. */
  tokenizerName?: string;
  /** When set, also the mean cosine similarity of the texts' embeddings. */
  embeddings?: EmbeddingProvider;
  /** Which text to compare: the whole output ("text", default) or only the answer part ("content"). */
  field?: "text" | "content";
  /** Name of the reference configuration, recorded in the summary. */
  reference?: string;
  /** Either side's weights are synthetic: the summary carries a note (not meaningful, unless `scripted`). */
  synthetic?: boolean;
  /** Both sides' synthetic weights answer by a script: the figures are meaningful. */
  scripted?: boolean;
}

/**
 * Compares candidate results with reference results, pairing them by problem id. Problems whose
 * request failed on either side are left out. A pair has the same final answer only when both gave
 * one and they are equal (two missing answers do not agree).
 */
export async function compareAgreement(
  reference: readonly QualityItemResult[],
  candidate: readonly QualityItemResult[],
  options: CompareAgreementOptions = {},
): Promise<AgreementSummary> {
  const tokenize = options.tokenize ?? splitWordsAndPunctuation;
  const tokenizer =
    options.tokenizerName ?? (options.tokenize === undefined ? defaultTokenizerName : "custom");
  const field = options.field ?? "text";
  const synthetic = options.synthetic ?? false;
  const byId = new Map(reference.filter((r) => r.error === undefined).map((r) => [r.id, r]));
  const pairs: Array<[QualityItemResult, QualityItemResult]> = [];
  for (const result of candidate) {
    const match = byId.get(result.id);
    if (match !== undefined && result.error === undefined) pairs.push([match, result]);
  }
  let sameAnswers = 0;
  let identical = 0;
  const firstDifferences: number[] = [];
  let chrfSum = 0;
  for (const [ref, cand] of pairs) {
    if (
      ref.extracted !== undefined &&
      cand.extracted !== undefined &&
      answersEqual(ref.extracted, cand.extracted)
    ) {
      sameAnswers++;
    }
    const position = findFirstDifference(await tokenize(ref[field]), await tokenize(cand[field]));
    if (position === undefined) identical++;
    else firstDifferences.push(position);
    chrfSum += computeChrf(cand[field], ref[field]);
  }
  const n = pairs.length;
  const summary: AgreementSummary = {
    n,
    sameAnswerRate: n === 0 ? 0 : sameAnswers / n,
    identicalRate: n === 0 ? 0 : identical / n,
    tokenizer,
    chrf: n === 0 ? 0 : chrfSum / n,
    synthetic,
    meaningful: !synthetic || options.scripted === true,
  };
  if (options.reference !== undefined) summary.reference = options.reference;
  if (firstDifferences.length > 0) summary.firstDifferingToken = summarizeSample(firstDifferences);
  if (options.embeddings !== undefined && n > 0) {
    const vectors = await options.embeddings.embed(pairs.flatMap(([ref, cand]) => [ref[field], cand[field]]));
    let cosineSum = 0;
    for (let i = 0; i < n; i++) {
      cosineSum += computeCosineSimilarity(vectors[2 * i] ?? [], vectors[2 * i + 1] ?? []);
    }
    summary.embeddingCosine = cosineSum / n;
    summary.embeddingModel = options.embeddings.model;
  }
  const note = qualityNote(synthetic, options.scripted === true);
  if (note !== undefined) summary.note = note;
  return summary;
}
