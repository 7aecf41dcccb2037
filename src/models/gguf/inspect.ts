/** A readable description of a GGUF file: metadata with long arrays summarised, tensor table, sizes. */
import { GgufValueType, formatGgmlType } from "./types.js";
import { isGgufArray, type GgufArray, type GgufEntry } from "./metadata.js";
import { getArrayLength, summarizeGguf, type GgufFile, type GgufSummary } from "./read.js";

const typeNames = Object.fromEntries(
  Object.entries(GgufValueType).map(([k, v]) => [v, k.toLowerCase()]),
) as Record<number, string>;

/** A metadata value as JSON-safe data: bigints as numbers (or strings past 2^53), arrays longer than `maxItems` cut. */
export type InspectedValue =
  string | number | boolean | { type: string; length: number; head: InspectedValue[] };

export interface InspectedTensor {
  name: string;
  type: string;
  shape: number[];
  elements: number;
  bytes: number | undefined;
}

export interface GgufInspection {
  path: string;
  version: number;
  fileSize: number;
  summary: GgufSummary;
  metadata: Record<string, InspectedValue>;
  tensors: InspectedTensor[];
  /** Elements and bytes per tensor type. */
  byType: Record<string, { tensors: number; elements: number; bytes: number }>;
}

function inspectScalar(v: unknown): InspectedValue {
  if (typeof v === "bigint")
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return String(v);
}

function inspectArray(a: GgufArray, maxItems: number): InspectedValue {
  const length = getArrayLength(a);
  if (length <= maxItems && a.skipped === undefined && a.itemType !== GgufValueType.ARRAY) {
    return {
      type: typeNames[a.itemType] ?? String(a.itemType),
      length,
      head: (a.items as unknown[]).map(inspectScalar),
    };
  }
  const head = (a.items as unknown[])
    .slice(0, Math.min(maxItems, 8))
    .map((x) =>
      isGgufArray(x as GgufEntry["value"]) ? inspectArray(x as GgufArray, maxItems) : inspectScalar(x),
    );
  return { type: typeNames[a.itemType] ?? String(a.itemType), length, head };
}

/** Describes a read GGUF file; arrays longer than `maxItems` (default 16) keep their first items. */
export function inspectGguf(file: GgufFile, maxItems = 16): GgufInspection {
  const metadata: Record<string, InspectedValue> = {};
  for (const [k, { value }] of file.metadata)
    metadata[k] = isGgufArray(value) ? inspectArray(value, maxItems) : inspectScalar(value);
  const byType: GgufInspection["byType"] = {};
  const tensors = file.tensors.map((t) => {
    const type = formatGgmlType(t.type);
    const e = (byType[type] ??= { tensors: 0, elements: 0, bytes: 0 });
    e.tensors++;
    e.elements += t.elements;
    e.bytes += t.byteSize ?? 0;
    return { name: t.name, type, shape: [...t.shape], elements: t.elements, bytes: t.byteSize };
  });
  return {
    path: file.path,
    version: file.version,
    fileSize: file.fileSize,
    summary: summarizeGguf(file),
    metadata,
    tensors,
    byType,
  };
}

/** Bytes as "1.89 GB" (decimal units, as model sizes are usually quoted). */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Parameters as "1.78 B" / "19.5 M". */
export function formatParameters(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  return String(n);
}

function formatValue(v: InspectedValue): string {
  if (typeof v === "object") {
    const items = v.head.map(formatValue).join(", ");
    return `[${v.type} × ${v.length}] ${v.length > v.head.length ? `[${items}, …]` : `[${items}]`}`;
  }
  if (typeof v === "string") {
    const oneLine = JSON.stringify(v);
    return oneLine.length > 120 ? `${oneLine.slice(0, 117)}…" (${v.length} chars)` : oneLine;
  }
  return String(v);
}

/** The inspection as plain text for a terminal. */
export function formatInspection(x: GgufInspection, options: { tensors?: boolean } = {}): string {
  const s = x.summary;
  const lines: string[] = [];
  lines.push(`${x.path}`);
  lines.push(
    `  GGUF v${x.version}, ${formatBytes(x.fileSize)}, ${s.architecture ?? "unknown architecture"}, ${s.precision}, ` +
      `${formatParameters(s.parameters)} parameters, ${s.tensorCount} tensors` +
      (s.contextLength !== undefined ? `, context ${s.contextLength}` : ""),
  );
  lines.push("", "metadata:");
  const width = Math.max(...Object.keys(x.metadata).map((k) => k.length), 0);
  for (const [k, v] of Object.entries(x.metadata)) lines.push(`  ${k.padEnd(width)}  ${formatValue(v)}`);
  if (options.tensors !== false && x.tensors.length > 0) {
    lines.push("", "tensors:");
    const nw = Math.max(...x.tensors.map((t) => t.name.length));
    for (const t of x.tensors) {
      lines.push(
        `  ${t.name.padEnd(nw)}  ${t.type.padEnd(5)}  ${`[${t.shape.join(", ")}]`.padEnd(16)}  ${t.bytes === undefined ? "?" : formatBytes(t.bytes)}`,
      );
    }
  }
  lines.push("", "size by type:");
  for (const [type, e] of Object.entries(x.byType)) {
    lines.push(
      `  ${type.padEnd(5)}  ${String(e.tensors).padStart(4)} tensors  ${formatParameters(e.elements).padStart(9)} params  ${formatBytes(e.bytes)}`,
    );
  }
  return lines.join("\n");
}
