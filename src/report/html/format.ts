/** Escaping and number formatting shared by the HTML report and its charts. */

const entities: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values (also valid in SVG). */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

/** A number with at most `digits` decimals and thousands separators ("1,234.5"). */
export function formatNumber(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Milliseconds with precision that suits their size: "0.84 ms", "12.3 ms", "1,234 ms". */
export function formatMilliseconds(value: number): string {
  const abs = Math.abs(value);
  return `${formatNumber(value, abs < 10 ? 2 : abs < 100 ? 1 : 0)} ms`;
}

/** Bytes in binary units: "512 MiB", "6.12 GiB". */
export function formatBytes(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${formatNumber(scaled, Math.abs(scaled) < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A compact tick label: 1200 → "1.2k", 0.25 → "0.25". */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${formatNumber(value / 1e6, 1)}M`;
  if (abs >= 1e4) return `${formatNumber(value / 1e3, 0)}k`;
  if (abs >= 1e3) return `${formatNumber(value / 1e3, 1)}k`;
  return formatNumber(value, abs < 1 ? 2 : abs < 10 ? 1 : 0);
}
