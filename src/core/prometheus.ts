/**
 * A small parser for the Prometheus text exposition format (version 0.0.4), enough to read the
 * `/metrics` of vLLM, llama-server and servelab itself.
 */

/** One sample line: `name{labels} value [timestamp]`. */
export interface PrometheusSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestamp?: number;
}

/** What `# TYPE` and `# HELP` said about a metric family. */
export interface PrometheusFamily {
  type?: string;
  help?: string;
}

export interface PrometheusParseResult {
  samples: PrometheusSample[];
  /** By metric family name. */
  families: Map<string, PrometheusFamily>;
}

/**
 * Parses Prometheus text into samples. Lines that are not valid samples are skipped rather than
 * thrown on: servers in the wild emit small deviations, and a metrics scrape should not fail a run.
 */
export function parsePrometheusText(text: string): PrometheusSample[] {
  return parsePrometheusDocument(text).samples;
}

/** Like {@link parsePrometheusText}, also returning the `# TYPE` / `# HELP` metadata. */
export function parsePrometheusDocument(text: string): PrometheusParseResult {
  const samples: PrometheusSample[] = [];
  const families = new Map<string, PrometheusFamily>();
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const meta = /^#\s*(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
      if (meta === null) continue;
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const family = families.get(name) ?? {};
      if (kind === "TYPE") family.type = rest;
      else family.help = unescapeHelp(rest);
      families.set(name, family);
      continue;
    }
    const sample = parseSampleLine(line);
    if (sample !== undefined) samples.push(sample);
  }
  return { samples, families };
}

/** The first sample named `name` whose labels include all of `labels`, or undefined. */
export function findSample(
  samples: readonly PrometheusSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): PrometheusSample | undefined {
  outer: for (const sample of samples) {
    if (sample.name !== name) continue;
    for (const [key, value] of Object.entries(labels)) {
      if (sample.labels[key] !== value) continue outer;
    }
    return sample;
  }
  return undefined;
}

/** The sum of the values of every sample named `name` (e.g. across engines or models), or undefined. */
export function sumSamples(samples: readonly PrometheusSample[], name: string): number | undefined {
  let sum: number | undefined;
  for (const sample of samples) {
    if (sample.name === name) sum = (sum ?? 0) + sample.value;
  }
  return sum;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseSampleLine(line: string): PrometheusSample | undefined {
  const nameMatch = namePattern.exec(line);
  if (nameMatch === null) return undefined;
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === "{") {
    pos++;
    while (pos < line.length) {
      while (line[pos] === " " || line[pos] === ",") pos++;
      if (line[pos] === "}") {
        pos++;
        break;
      }
      const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(pos));
      if (labelMatch === null) return undefined;
      pos += labelMatch[0].length;
      let value = "";
      let closed = false;
      while (pos < line.length) {
        const ch = line[pos++];
        if (ch === "\\") {
          const next = line[pos++];
          value += next === "n" ? "\n" : (next ?? "");
        } else if (ch === '"') {
          closed = true;
          break;
        } else {
          value += ch;
        }
      }
      if (!closed) return undefined;
      labels[labelMatch[1] as string] = value;
    }
  }
  const parts = line.slice(pos).trim().split(/\s+/);
  const value = parseValue(parts[0]);
  if (value === undefined) return undefined;
  const sample: PrometheusSample = { name, labels, value };
  if (parts[1] !== undefined) {
    const timestamp = Number(parts[1]);
    if (Number.isFinite(timestamp)) sample.timestamp = timestamp;
  }
  return sample;
}

function parseValue(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(n|\\)/g, (_, ch: string) => (ch === "n" ? "\n" : "\\"));
}
