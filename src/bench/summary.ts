/** The bench's terminal table and Markdown report, built on the generic report helpers. */
import { joinSections, renderHeading, renderKeyValues, renderMarkdownTable } from "../report/markdown.js";
import { renderTable } from "../report/table.js";
import type { TableColumn } from "../report/table.js";
import type { BenchResult } from "./index.js";
import type { RunAggregate } from "./stats.js";
import type { LevelResult } from "./types.js";

/** `12.3` for one run, `12.3 ± 0.4` over several. */
function formatAggregate(a: RunAggregate | null, runs: number, decimals = 1): string | null {
  if (a === null || a.n === 0) return null;
  return runs > 1 ? `${a.mean.toFixed(decimals)} ± ${a.std.toFixed(decimals)}` : a.mean.toFixed(decimals);
}

function sumRuns(level: LevelResult, f: (r: LevelResult["runs"][number]) => number): number {
  return level.runs.reduce((s, r) => s + f(r), 0);
}

/** Columns of the summary table (one row per load level; ± is the std over runs). */
export function createLevelColumns(): TableColumn<LevelResult>[] {
  const agg = (
    header: string,
    pick: (l: LevelResult) => RunAggregate | null,
    decimals = 1,
  ): TableColumn<LevelResult> => ({
    header,
    align: "right",
    value: (l) => formatAggregate(pick(l), l.runs.length, decimals),
  });
  return [
    { header: "load", value: (l) => l.label },
    { header: "runs", value: (l) => l.runs.length, decimals: 0 },
    { header: "ok", value: (l) => sumRuns(l, (r) => r.completed), decimals: 0 },
    { header: "err", value: (l) => sumRuns(l, (r) => r.failed), decimals: 0 },
    agg("req/s", (l) => l.aggregate.requestsPerSecond, 2),
    agg("req/min", (l) => l.aggregate.requestsPerMinute),
    agg("out tok/s", (l) => l.aggregate.outputTokensPerSecond),
    agg("TTFT p50", (l) => l.aggregate.ttftP50),
    agg("TTFT p99", (l) => l.aggregate.ttftP99),
    agg("TTFO p50", (l) => l.aggregate.ttfoP50),
    agg("TPOT", (l) => l.aggregate.tpotMean, 2),
    agg("ITL p50", (l) => l.aggregate.itlP50, 2),
    agg("ITL p99", (l) => l.aggregate.itlP99, 2),
    agg("E2E p50", (l) => l.aggregate.e2eP50),
    agg("E2E p99", (l) => l.aggregate.e2eP99),
    agg("queue p99", (l) => l.aggregate.queueP99),
    agg("goodput/s", (l) => l.aggregate.goodputPerSecond, 2),
  ];
}

/** The terminal summary: the level table, capacity, resources and notes. Latencies in milliseconds. */
export function renderBenchTable(result: BenchResult): string {
  const parts = [
    `${result.partial ? "PARTIAL results (stopped early)\n" : ""}model ${result.server.model} at ${result.server.url}, workload ${result.workload.name} (latencies in ms)`,
    renderTable(createLevelColumns(), result.levels).trimEnd(),
  ];
  if (result.capacity !== null) parts.push(describeCapacity(result));
  parts.push(describeResources(result));
  for (const note of result.notes) parts.push(`note: ${note}`);
  if (result.outDir !== null)
    parts.push(`results in ${result.outDir}/ (results.json, requests.jsonl, report.md)`);
  return `${parts.join("\n")}\n`;
}

function describeCapacity(result: BenchResult): string {
  const c = result.capacity;
  if (c === null) return "";
  const slo = Object.entries(c.slo)
    .map(([k, v]) => `${k.replace(/Ms$/u, "")} <= ${String(v)} ms`)
    .join(", ");
  const probes = c.probes.map((p) => `${p.concurrency}${p.passed ? "✓" : "✗"}`).join(" ");
  const found =
    c.maxConcurrency === null
      ? `even concurrency ${c.bounds[0]} misses the SLO`
      : `max concurrency ${c.maxConcurrency}${c.limitedByUpperBound ? " (the upper bound; raise --search-range)" : ""}`;
  return `capacity (p${c.percentile} ${slo}): ${found}; probes ${probes}`;
}

function describeResources(result: BenchResult): string {
  const r = result.resources;
  const gpu =
    r.gpu === "no GPU"
      ? "no GPU"
      : `GPU memory peak ${r.gpu.memoryUsedMiB.peak.toFixed(0)} MiB (mean ${r.gpu.memoryUsedMiB.mean.toFixed(0)}), utilisation peak ${r.gpu.utilizationPercent.peak.toFixed(0)}% (mean ${r.gpu.utilizationPercent.mean.toFixed(0)}%)`;
  const server =
    r.serverRssMiB === null
      ? ""
      : `; server RSS peak ${r.serverRssMiB.peak.toFixed(0)} MiB (mean ${r.serverRssMiB.mean.toFixed(0)})`;
  return `resources: ${gpu}${server}; harness RSS peak ${r.harnessPeakRssMiB.toFixed(0)} MiB`;
}

/** report.md: environment, command, the table, per-run detail and notes. */
export function renderBenchMarkdown(result: BenchResult): string {
  const env = result.environment;
  const runRows = result.levels.flatMap((l) => l.runs.map((r) => ({ level: l.label, ...r })));
  type RunRow = (typeof runRows)[number];
  const runColumns: TableColumn<RunRow>[] = [
    { header: "load", value: (r) => r.level },
    { header: "run", value: (r) => r.run, decimals: 0 },
    { header: "requests", value: (r) => r.requests, decimals: 0 },
    { header: "failed", value: (r) => r.failed, decimals: 0 },
    { header: "duration s", value: (r) => r.durationS, decimals: 2 },
    { header: "req/s", value: (r) => r.requestsPerSecond, decimals: 2 },
    { header: "out tok/s", value: (r) => r.outputTokensPerSecond },
    {
      header: "TTFT p50/p95/p99",
      value: (r) => `${r.ttft.p50.toFixed(1)} / ${r.ttft.p95.toFixed(1)} / ${r.ttft.p99.toFixed(1)}`,
    },
    {
      header: "ITL p50/p95/p99",
      value: (r) => `${r.itl.p50.toFixed(2)} / ${r.itl.p95.toFixed(2)} / ${r.itl.p99.toFixed(2)}`,
    },
    {
      header: "E2E (from intended) p99",
      value: (r) => `${r.e2e.p99.toFixed(1)} (${r.e2eFromIntended.p99.toFixed(1)})`,
    },
    {
      header: "errors",
      value: (r) =>
        Object.entries(r.errorsByKind)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "-",
    },
  ];
  const sections = [
    renderHeading(`servelab bench: ${result.server.model}${result.partial ? " (partial)" : ""}`, 1),
    renderKeyValues([
      ["server", result.server.url],
      [
        "workload",
        `${result.workload.name} (${result.workload.prompts} prompts, ignore_eos ${String(result.workload.ignoreEos)})`,
      ],
      ["started", result.startedAt],
      [
        "machine",
        `${env.cpuModel} x${env.cpuCount}, ${env.memoryGiB} GiB, ${env.os}, node ${env.node}, ${Array.isArray(env.gpu) ? env.gpu.join("; ") : env.gpu}`,
      ],
      ["servelab", result.servelabVersion],
      [
        "command",
        result.options.argv.length > 0 ? `servelab bench ${result.options.argv.join(" ")}` : "(library call)",
      ],
    ]),
    renderHeading("Summary (ms; mean ± std over runs, IQR outliers trimmed)"),
    renderMarkdownTable(createLevelColumns(), result.levels),
    renderHeading("Runs"),
    renderMarkdownTable(runColumns, runRows),
  ];
  if (result.capacity !== null) sections.push(renderHeading("Capacity"), describeCapacity(result));
  sections.push(renderHeading("Resources"), describeResources(result));
  if (result.notes.length > 0)
    sections.push(renderHeading("Notes"), result.notes.map((n) => `- ${n}`).join("\n"));
  return joinSections(sections);
}
