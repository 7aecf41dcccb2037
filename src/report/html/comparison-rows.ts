/**
 * The metric rows of a comparison table, defined once so the HTML, terminal and Markdown reports show
 * exactly the same metrics, directions and changes.
 */

import {
  hasRandomWeights,
  type ComparisonResult,
  type ConfigurationResult,
  type MemoryFigures,
  type PromptClass,
} from "../../compare/types.js";

/** What tables show instead of a quality or agreement figure of random weights. */
export const notMeaningfulText = "n/a: random weights";

/** The note under a table that shows {@link notMeaningfulText}. */
export const notMeaningfulFootnote =
  "n/a: random weights — the weights are random (synthetic), so accuracy and agreement mean nothing; results.json keeps the raw values, marked not meaningful.";
import { formatBytes, formatMilliseconds, formatNumber } from "./format.js";

/** Which way is better: lower (latency, memory), higher (throughput, accuracy), or neither. */
export type BetterDirection = "lower" | "higher" | "none";

/** Unit of a row's values; "percent" values are 0-100. */
export type MetricUnit =
  "ms" | "bytes" | "tokens/s" | "requests/min" | "requests" | "percent" | "tokens" | "score";

/** One metric across all configurations. */
export interface ComparisonRow {
  /** Stable key, e.g. "ttft.short.p50". */
  id: string;
  /** Section of the table: "Load", "Memory", "Latency", "Throughput", "Quality", "Agreement". */
  group: string;
  label: string;
  unit: MetricUnit;
  better: BetterDirection;
  /** One value per configuration, in `result.configurations` order; undefined where not measured. */
  values: Array<number | undefined>;
  /**
   * Change of each configuration against the reference: relative percent for most units, percentage
   * points for "percent" rows (see changeUnit). Undefined for the reference itself and missing values.
   */
  change: Array<number | undefined>;
  changeUnit: "%" | "pp";
  /** Per configuration: the change is an improvement (true), a regression (false), or neither (undefined). */
  improved: Array<boolean | undefined>;
  /**
   * Per configuration: the value means nothing (a quality or agreement metric of random synthetic
   * weights, or compared with a reference that has them). Tables show {@link notMeaningfulText} instead
   * of such values and never color them as better or worse. Scripted synthetic models answer by a
   * script, so their figures are known in advance and shown.
   */
  notMeaningful: boolean[];
}

/** Index of the reference configuration: `result.reference` by name, else the first that succeeded. */
export function findReferenceIndex(result: ComparisonResult): number {
  if (result.reference !== undefined) {
    const index = result.configurations.findIndex((c) => c.name === result.reference);
    if (index >= 0) return index;
  }
  const ok = result.configurations.findIndex((c) => c.status === "ok");
  return ok >= 0 ? ok : 0;
}

interface MetricDefinition {
  id: string;
  group: string;
  label: string;
  unit: MetricUnit;
  better: BetterDirection;
  read: (c: ConfigurationResult) => number | undefined;
  /** Agreement rows have no value for the reference itself. */
  agreement?: boolean;
  /** Quality and agreement rows mean nothing for random weights. */
  quality?: boolean;
}

const promptClasses: readonly PromptClass[] = ["short", "medium", "long"];

/** AgreementSummary.tokenizer when no model tokenizer could be reached (agreement's default). */
const wordsTokenizer = "words-and-punctuation";

/** The unit a first-differing-token position is counted in, as the reports say it. */
export function describeTokenizer(tokenizer: string): string {
  return tokenizer === wordsTokenizer
    ? "words and punctuation (no model tokenizer was reachable)"
    : tokenizer;
}

/** The units the first differing positions of a result are counted in, one line each (none without agreement). */
export function describeTokenizers(result: ComparisonResult): string[] {
  const tokenizers = new Set<string>();
  for (const c of result.configurations) {
    const tokenizer = c.quality?.agreement?.tokenizer;
    if (tokenizer !== undefined && c.quality?.agreement?.firstDifferingToken !== undefined)
      tokenizers.add(tokenizer);
  }
  return [...tokenizers].map(describeTokenizer);
}

function firstDifferenceLabel(result: ComparisonResult): string {
  const tokenizers = result.configurations.flatMap((c) => c.quality?.agreement?.tokenizer ?? []);
  if (tokenizers.length > 0 && tokenizers.every((t) => t === wordsTokenizer))
    return "First differing word, median";
  if (tokenizers.some((t) => t === wordsTokenizer)) return "First differing token or word, median";
  return "First differing token, median";
}

/** One kind of memory of a configuration (results written before both were kept have only `kind`'s). */
function memoryOf(c: ConfigurationResult, kind: "rss" | "vram"): MemoryFigures | undefined {
  const memory = c.memory;
  if (memory === undefined) return undefined;
  if (memory.rss !== undefined || memory.vram !== undefined) return memory[kind];
  return memory.kind === kind ? memory : undefined;
}

function buildDefinitions(result: ComparisonResult): MetricDefinition[] {
  const slo = result.configurations.find((c) => c.maxConcurrencyUnderSlo !== undefined)
    ?.maxConcurrencyUnderSlo?.slo;
  const percent = (value: number | undefined) => (value === undefined ? undefined : value * 100);
  return [
    {
      id: "load.time",
      group: "Load",
      label: "Load time",
      unit: "ms",
      better: "lower",
      read: (c) => c.load?.loadTimeMs,
    },
    {
      id: "load.firstToken",
      group: "Load",
      label: "First token after load",
      unit: "ms",
      better: "lower",
      read: (c) => c.load?.firstTokenMs,
    },
    // GPU memory and resident memory in rows of their own: one row never compares one with the other.
    {
      id: "memory.vram.idle",
      group: "Memory",
      label: "GPU memory (VRAM), idle",
      unit: "bytes",
      better: "lower",
      read: (c) => memoryOf(c, "vram")?.idleBytes,
    },
    {
      id: "memory.vram.peak",
      group: "Memory",
      label: "GPU memory (VRAM), peak",
      unit: "bytes",
      better: "lower",
      read: (c) => memoryOf(c, "vram")?.peakBytes,
    },
    {
      id: "memory.rss.idle",
      group: "Memory",
      label: "Resident memory (RSS), idle",
      unit: "bytes",
      better: "lower",
      read: (c) => memoryOf(c, "rss")?.idleBytes,
    },
    {
      id: "memory.rss.peak",
      group: "Memory",
      label: "Resident memory (RSS), peak",
      unit: "bytes",
      better: "lower",
      read: (c) => memoryOf(c, "rss")?.peakBytes,
    },
    ...promptClasses.flatMap((prompt): MetricDefinition[] => [
      {
        id: `ttft.${prompt}.p50`,
        group: "Latency",
        label: `TTFT ${prompt} prompt, p50`,
        unit: "ms",
        better: "lower",
        read: (c) => c.latency?.ttftMs?.[prompt]?.summary.p50,
      },
      {
        id: `ttft.${prompt}.p95`,
        group: "Latency",
        label: `TTFT ${prompt} prompt, p95`,
        unit: "ms",
        better: "lower",
        read: (c) => c.latency?.ttftMs?.[prompt]?.summary.p95,
      },
    ]),
    {
      id: "itl.p50",
      group: "Latency",
      label: "Inter-token latency, p50",
      unit: "ms",
      better: "lower",
      read: (c) => c.latency?.itlMs?.summary.p50,
    },
    {
      id: "itl.p95",
      group: "Latency",
      label: "Inter-token latency, p95",
      unit: "ms",
      better: "lower",
      read: (c) => c.latency?.itlMs?.summary.p95,
    },
    {
      id: "throughput.single",
      group: "Throughput",
      label: "Output tokens/s, one stream",
      unit: "tokens/s",
      better: "higher",
      read: (c) => c.throughput?.outputTokensPerSecond,
    },
    {
      id: "throughput.rpmAt4",
      group: "Throughput",
      label: "Requests/min at concurrency 4",
      unit: "requests/min",
      better: "higher",
      read: (c) => c.throughput?.requestsPerMinuteAt4,
    },
    {
      id: "throughput.maxConcurrency",
      group: "Throughput",
      label: slo === undefined ? "Max concurrency under SLO" : `Max concurrency (${slo})`,
      unit: "requests",
      better: "higher",
      read: (c) => c.maxConcurrencyUnderSlo?.value,
    },
    {
      id: "quality.accuracy",
      group: "Quality",
      quality: true,
      label: "Accuracy",
      unit: "percent",
      better: "higher",
      read: (c) => percent(c.quality?.accuracy.value),
    },
    {
      id: "quality.truncation",
      group: "Quality",
      quality: true,
      label: "Truncated before answering",
      unit: "percent",
      better: "lower",
      read: (c) => percent(c.quality?.truncationRate),
    },
    {
      id: "quality.tokens",
      group: "Quality",
      quality: true,
      label: "Mean completion tokens",
      unit: "tokens",
      better: "none",
      read: (c) => c.quality?.meanCompletionTokens,
    },
    {
      id: "agreement.sameAnswer",
      group: "Agreement",
      label: "Same final answer as reference",
      unit: "percent",
      better: "higher",
      agreement: true,
      quality: true,
      read: (c) => percent(c.quality?.agreement?.sameAnswerRate),
    },
    {
      id: "agreement.chrf",
      group: "Agreement",
      label: "chrF against reference",
      unit: "score",
      better: "higher",
      agreement: true,
      quality: true,
      read: (c) => c.quality?.agreement?.chrf,
    },
    {
      id: "agreement.embedding",
      group: "Agreement",
      label: "Embedding cosine to reference",
      unit: "score",
      better: "higher",
      agreement: true,
      quality: true,
      read: (c) => c.quality?.agreement?.embeddingCosine,
    },
    {
      id: "agreement.firstDifference",
      group: "Agreement",
      label: firstDifferenceLabel(result),
      unit: "tokens",
      better: "higher",
      agreement: true,
      quality: true,
      read: (c) => c.quality?.agreement?.firstDifferingToken?.p50,
    },
  ];
}

/**
 * The rows of the comparison table: every metric that at least one configuration has, with each
 * configuration's value and its change against the reference (see {@link findReferenceIndex}).
 * Failed configurations contribute no values.
 */
export function comparisonRows(result: ComparisonResult): ComparisonRow[] {
  const referenceIndex = findReferenceIndex(result);
  const rows: ComparisonRow[] = [];
  for (const definition of buildDefinitions(result)) {
    const values = result.configurations.map((c) => {
      if (c.status !== "ok") return undefined;
      const value = definition.read(c);
      return value === undefined || !Number.isFinite(value) ? undefined : value;
    });
    if (values.every((value) => value === undefined)) continue;
    const changeUnit = definition.unit === "percent" ? "pp" : "%";
    const reference = values[referenceIndex];
    const change = values.map((value, i) => {
      if (
        i === referenceIndex ||
        value === undefined ||
        reference === undefined ||
        definition.agreement === true
      ) {
        return undefined;
      }
      if (changeUnit === "pp") return value - reference;
      return reference === 0 ? undefined : ((value - reference) / Math.abs(reference)) * 100;
    });
    const referenceConfiguration = result.configurations[referenceIndex];
    const referenceRandom = referenceConfiguration !== undefined && hasRandomWeights(referenceConfiguration);
    const notMeaningful = result.configurations.map(
      (c, i) =>
        definition.quality === true &&
        (hasRandomWeights(c) ||
          (i !== referenceIndex &&
            referenceRandom &&
            (change[i] !== undefined || (definition.agreement === true && values[i] !== undefined)))),
    );
    const improved = change.map((delta, i) => {
      if (delta === undefined || delta === 0 || definition.better === "none" || notMeaningful[i] === true)
        return undefined;
      return definition.better === "lower" ? delta < 0 : delta > 0;
    });
    rows.push({
      id: definition.id,
      group: definition.group,
      label: definition.label,
      unit: definition.unit,
      better: definition.better,
      values,
      change,
      changeUnit,
      improved,
      notMeaningful,
    });
  }
  return rows;
}

/** A row value with its unit, as the tables print it ("—" when missing). */
export function formatMetricValue(value: number | undefined, unit: MetricUnit): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  switch (unit) {
    case "ms":
      return formatMilliseconds(value);
    case "bytes":
      return formatBytes(value);
    case "percent":
      return `${formatNumber(value, 1)}%`;
    case "tokens/s":
      return `${formatNumber(value, 1)} tok/s`;
    case "requests/min":
      return `${formatNumber(value, 1)} req/min`;
    case "requests":
      return formatNumber(value, 0);
    case "tokens":
      return `${formatNumber(value, 1)} tok`;
    case "score":
      return formatNumber(value, value <= 1 ? 3 : 1);
  }
}

/** A change as the tables print it: "+12.3%", "−4.0 pp", "—". */
export function formatChange(change: number | undefined, changeUnit: "%" | "pp"): string {
  if (change === undefined || !Number.isFinite(change)) return "—";
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  return `${sign}${formatNumber(Math.abs(change), 1)}${changeUnit === "pp" ? " pp" : "%"}`;
}
