/**
 * Generic tables for the terminal and Markdown: `renderTable(columns, rows)`. Used by bench and compare.
 */

/** One column: a header, how to read a cell from a row, and its alignment. */
export interface TableColumn<Row> {
  header: string;
  /** The cell text; numbers are formatted with `decimals`; null/undefined show as "-". */
  value: (row: Row) => string | number | null | undefined;
  /** Default: right for numbers, left otherwise (decided per column from the first non-empty cell). */
  align?: "left" | "right";
  /** Digits after the point for numeric cells (default 1). */
  decimals?: number;
}

export interface RenderTableOptions {
  /** `terminal` (default): aligned columns with a rule under the header; `markdown`: a GitHub table. */
  format?: "terminal" | "markdown";
  /** Text between terminal columns (default two spaces). */
  gap?: string;
}

/** Format a cell value. */
export function formatCell(value: string | number | null | undefined, decimals = 1): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "-";
    return value.toFixed(decimals);
  }
  return value;
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/gu, "\\|").replace(/\n/gu, " ");
}

/** Render rows as an aligned terminal table or a Markdown table; returns the text ending in a newline. */
export function renderTable<Row>(
  columns: readonly TableColumn<Row>[],
  rows: readonly Row[],
  options: RenderTableOptions = {},
): string {
  const format = options.format ?? "terminal";
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const aligns = columns.map((c, i) => {
    if (c.align !== undefined) return c.align;
    const first = cells.find((r) => r[i] !== null && r[i] !== undefined)?.[i];
    return typeof first === "number" ? "right" : "left";
  });
  const text = cells.map((r) => r.map((v, i) => formatCell(v, columns[i]?.decimals ?? 1)));
  const headers = columns.map((c) => c.header);
  if (format === "markdown") {
    const line = (parts: string[]): string => `| ${parts.map(escapeMarkdown).join(" | ")} |`;
    const rule = `|${aligns.map((a) => (a === "right" ? " ---: " : " --- ")).join("|")}|`;
    return `${[line(headers), rule, ...text.map(line)].join("\n")}\n`;
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] as string).length)));
  const pad = (s: string, i: number): string =>
    aligns[i] === "right" ? s.padStart(widths[i] as number) : s.padEnd(widths[i] as number);
  const gap = options.gap ?? "  ";
  const lines = [
    headers.map(pad).join(gap).trimEnd(),
    widths.map((w) => "-".repeat(w)).join(gap),
    ...text.map((r) => r.map(pad).join(gap).trimEnd()),
  ];
  return `${lines.join("\n")}\n`;
}
