/**
 * The comparison as the published reports show it — metric | config A | config B | change (▲/▼, better or
 * worse) — for the terminal and as Markdown, from the same rows as the HTML report (comparisonRows).
 */
import { formatBytes } from "../core/format.js";
import {
  comparisonRows,
  describeTokenizers,
  findReferenceIndex,
  formatChange,
  formatMetricValue,
  notMeaningfulFootnote,
  notMeaningfulText,
  type ComparisonRow,
} from "../report/html/comparison-rows.js";
import { renderHtmlReport } from "../report/html.js";
import { renderTable, type TableColumn } from "../report/table.js";
import { describeWeights, hasRandomWeights, type ComparisonResult } from "./types.js";

export type ReportFormat = "table" | "markdown" | "html" | "json";
export const reportFormats: readonly ReportFormat[] = ["table", "markdown", "html", "json"];

const syntheticBanner =
  "Synthetic weights: the models have the real architectures and sizes, so speed and memory are real, but their answers are random: accuracy and agreement mean nothing and are not shown.";

const scriptedBanner =
  "Scripted synthetic models (servelab synth --script): each answers with a fixed text, so accuracy and agreement are known in advance: a test of the pipeline, not of a model.";

/** The notes above a comparison: random weights, scripted models. */
function weightBanners(result: ComparisonResult): string[] {
  const banners: string[] = [];
  if (result.configurations.some(hasRandomWeights)) banners.push(syntheticBanner);
  if (result.configurations.some((c) => c.syntheticWeights === "scripted")) banners.push(scriptedBanner);
  return banners;
}

function changeCell(row: ComparisonRow, i: number): string {
  const change = row.change[i];
  if (change === undefined) return "—";
  if (row.notMeaningful[i] === true) return "n/a";
  const text = formatChange(change, row.changeUnit);
  const improved = row.improved[i];
  if (improved === undefined) return text;
  return `${change > 0 ? "▲" : "▼"} ${text} (${improved ? "better" : "worse"})`;
}

function comparisonColumns(result: ComparisonResult): TableColumn<ComparisonRow>[] {
  const reference = findReferenceIndex(result);
  const referenceName = result.configurations[reference]?.name ?? "reference";
  const columns: TableColumn<ComparisonRow>[] = [
    {
      header: "Metric",
      value: (row) => `${row.label}${row.better === "lower" ? " ↓" : row.better === "higher" ? " ↑" : ""}`,
      align: "left",
    },
  ];
  result.configurations.forEach((c, i) =>
    columns.push({
      header: c.name,
      value: (row) =>
        row.notMeaningful[i] === true && row.values[i] !== undefined
          ? notMeaningfulText
          : formatMetricValue(row.values[i], row.unit),
      align: "right",
    }),
  );
  result.configurations.forEach((c, i) => {
    if (i === reference || c.status !== "ok") return;
    columns.push({
      header: `${c.name} vs ${referenceName}`,
      value: (row) => changeCell(row, i),
      align: "right",
    });
  });
  return columns;
}

function failures(result: ComparisonResult): string[] {
  return result.configurations
    .filter((c) => c.status === "failed")
    .map((c) => `${c.name} failed: ${c.error ?? "unknown error"}`);
}

/** The comparison table for a terminal (colors unless `plain`), with notes under it. */
export function renderComparisonText(result: ComparisonResult, options: { color?: boolean } = {}): string {
  const plain = options.color !== true;
  const lines: string[] = [];
  for (const banner of weightBanners(result)) lines.push(`note: ${banner}`, "");
  const rows = comparisonRows(result);
  if (rows.length > 0) {
    // Visible width is what matters for alignment: pad on the text without color codes.
    const table = renderTable(comparisonColumns(result), rows);
    lines.push(plain ? table.trimEnd() : colorize(table.trimEnd()));
  } else lines.push("No metrics were measured.");
  if (rows.some((row) => row.notMeaningful.includes(true))) lines.push("", notMeaningfulFootnote);
  for (const unit of describeTokenizers(result)) lines.push(`First differing position counted in ${unit}.`);
  for (const failure of failures(result)) lines.push(`error: ${failure}`);
  return `${lines.join("\n")}\n`;
}

/** Colors the "(better)" changes green and the "(worse)" ones red, after alignment (the words stay). */
function colorize(table: string): string {
  return table
    .replace(/[▲▼] \S+ \(better\)/gu, (cell) => `\u001b[32m${cell}\u001b[0m`)
    .replace(/[▲▼] \S+ \(worse\)/gu, (cell) => `\u001b[31m${cell}\u001b[0m`);
}

/** The whole comparison as a Markdown document. */
export function renderComparisonMarkdown(result: ComparisonResult): string {
  const env = result.environment;
  const sections: string[] = ["# servelab compare"];
  for (const banner of weightBanners(result)) sections.push(`> **${banner}**`);
  sections.push(
    [
      `- Date: ${result.createdAt}`,
      `- Command: \`${result.command}\``,
      `- Machine: ${env.cpu}, ${env.cores} cores, ${formatBytes(env.memoryBytes)} RAM, ${env.gpus.length === 0 ? "no GPU" : env.gpus.map((g) => g.name).join(", ")}; ${env.os}; Node ${env.node}; servelab ${env.servelab}`,
      `- Reference: ${result.configurations[findReferenceIndex(result)]?.name ?? "-"}`,
    ].join("\n"),
  );
  sections.push(
    "## Configurations\n\n" +
      renderTable(
        [
          { header: "Name", value: (c) => c.name },
          { header: "Engine", value: (c) => c.engine },
          { header: "Model", value: (c) => c.model },
          { header: "Precision", value: (c) => c.precision },
          { header: "Weights", value: (c) => describeWeights(c) },
          { header: "Status", value: (c) => (c.status === "ok" ? "ok" : `failed: ${c.error ?? ""}`) },
        ],
        result.configurations,
        { format: "markdown" },
      ),
  );
  const rows = comparisonRows(result);
  sections.push(
    "## Comparison\n\n" +
      (rows.length === 0
        ? "No metrics were measured.\n"
        : renderTable(comparisonColumns(result), rows, { format: "markdown" })) +
      (rows.some((row) => row.notMeaningful.includes(true)) ? `\n${notMeaningfulFootnote}\n` : "") +
      describeTokenizers(result)
        .map((unit) => `\nFirst differing position counted in ${unit}.\n`)
        .join(""),
  );
  sections.push(
    [
      "## How it was measured",
      "",
      "- Load time: from starting the server process until /health answered 200; first token: until the first token of a warm-up request.",
      "- Memory: resident set size of the server process and its children (mapped model weights included); for an engine that reports a GPU device, also GPU memory used above the level before the server started (nvidia-smi); peak over the whole run.",
      "- TTFT: one request at a time per prompt class (built-in short, medium and long prompts), streamed.",
      "- Tokens/s and requests/min: synthetic prompts with exact output lengths (ignore_eos); per-token inter-token latency.",
      "- Max concurrency: the largest number of concurrent streams whose p95 inter-token latency met the objective (bisection between measured levels).",
      "- Quality: math problems graded by the last \\boxed{} answer, greedy decoding (temperature 0); agreement compares each configuration's outputs with the reference's on the same problems.",
    ].join("\n"),
  );
  return `${sections.map((s) => s.trimEnd()).join("\n\n")}\n`;
}

/** Renders a result in any format. */
export function renderComparison(
  result: ComparisonResult,
  format: ReportFormat,
  options: { color?: boolean } = {},
): string {
  switch (format) {
    case "table":
      return renderComparisonText(result, options);
    case "markdown":
      return renderComparisonMarkdown(result);
    case "html":
      return renderHtmlReport(result);
    case "json":
      return `${JSON.stringify(result, null, 2)}\n`;
  }
}
