/** Text similarity measures for agreement between two configurations' answers. */

export interface ComputeChrfOptions {
  /** Largest character n-gram order. Default 6. */
  order?: number;
  /** Weight of recall over precision. Default 2. */
  beta?: number;
  /** Keep whitespace in the n-grams. Default false (sacrebleu's default: whitespace removed). */
  whitespace?: boolean;
}

function countNgrams(chars: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const gram = chars.slice(i, i + n).join("");
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

/**
 * Sentence-level chrF of `hypothesis` against `reference`, on a 0-100 scale, as sacrebleu computes it
 * (chrF2, char_order 6, word_order 0, no eps smoothing): for each order n = 1..6 count character
 * n-grams (code points, whitespace removed), take precision and recall of the clipped matches, average
 * them over the orders where both strings have n-grams, then F-beta of the two averages.
 */
export function computeChrf(hypothesis: string, reference: string, options: ComputeChrfOptions = {}): number {
  const order = options.order ?? 6;
  const beta = options.beta ?? 2;
  const prepare = (text: string): string[] =>
    Array.from(options.whitespace === true ? text : text.replace(/\s+/gu, ""));
  const hyp = prepare(hypothesis);
  const ref = prepare(reference);
  let precisionSum = 0;
  let recallSum = 0;
  let effectiveOrder = 0;
  for (let n = 1; n <= order; n++) {
    const hypGrams = countNgrams(hyp, n);
    const refGrams = countNgrams(ref, n);
    const hypTotal = Math.max(0, hyp.length - n + 1);
    const refTotal = Math.max(0, ref.length - n + 1);
    if (hypTotal === 0 || refTotal === 0) continue;
    let matches = 0;
    for (const [gram, count] of hypGrams) matches += Math.min(count, refGrams.get(gram) ?? 0);
    precisionSum += matches / hypTotal;
    recallSum += matches / refTotal;
    effectiveOrder++;
  }
  if (effectiveOrder === 0) return 0;
  const precision = precisionSum / effectiveOrder;
  const recall = recallSum / effectiveOrder;
  if (precision + recall === 0) return 0;
  const factor = beta * beta;
  return (100 * (1 + factor) * precision * recall) / (factor * precision + recall);
}

/** Cosine similarity of two vectors of the same length (0 when either is all zeros). */
export function computeCosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`vectors differ in length: ${a.length} and ${b.length}`);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  if (normA === 0 || normB === 0) return 0;
  return dot / Math.sqrt(normA * normB);
}
