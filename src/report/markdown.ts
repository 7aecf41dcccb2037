/** Markdown building blocks for reports (bench, compare): headings, tables, key-value lists. */
import { renderTable } from "./table.js";
import type { TableColumn } from "./table.js";

/** A Markdown table of rows (see {@link renderTable}). */
export function renderMarkdownTable<Row>(columns: readonly TableColumn<Row>[], rows: readonly Row[]): string {
  return renderTable(columns, rows, { format: "markdown" });
}

/** A Markdown heading of the given level. */
export function renderHeading(text: string, level = 2): string {
  return `${"#".repeat(Math.min(6, Math.max(1, level)))} ${text}\n`;
}

/** A bullet list of `key: value` lines (values are shown as code when `code` is set). */
export function renderKeyValues(
  entries: readonly (readonly [string, string | number | null | undefined])[],
  code = false,
): string {
  return `${entries
    .map(([k, v]) => `- ${k}: ${v === null || v === undefined ? "-" : code ? `\`${String(v)}\`` : String(v)}`)
    .join("\n")}\n`;
}

/** Join sections with blank lines. */
export function joinSections(sections: readonly string[]): string {
  return `${sections
    .map((s) => s.trimEnd())
    .filter((s) => s !== "")
    .join("\n\n")}\n`;
}
