// One tab-separated line per load level of a `servelab bench` results.json:
// label, concurrency, completed/requests, output tok/s, TTFT p50, ITL p50, ITL p95, req/min, peak GPU MiB.
import { readFileSync } from "node:fs";

const [label, file] = process.argv.slice(2);
let result;
try {
  result = JSON.parse(readFileSync(file, "utf8"));
} catch (err) {
  console.log(`${label}\tno results (${err.message})`);
  process.exit(0);
}
const f = (x, d = 1) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(d) : "-");
for (const level of result.levels ?? []) {
  const run = level.runs[0];
  const res = level.resources ?? run.resources ?? result.resources;
  const gpu = typeof res?.gpu === "object" ? res.gpu : undefined;
  console.log(
    [
      label,
      `c=${level.concurrency ?? level.rate}`,
      `${run.completed}/${run.requests}`,
      `tok/s=${f(run.outputTokensPerSecond)}`,
      `ttft50=${f(run.ttft.p50)}ms`,
      `itl50=${f(run.itl.p50, 2)}ms`,
      `itl95=${f(run.itl.p95, 2)}ms`,
      `rpm=${f(run.requestsPerMinute)}`,
      `gpuPeakMiB=${gpu ? f(gpu.memoryUsedMiB.peak, 0) : "-"}`,
      `gpuUtil=${gpu ? f(gpu.utilizationPercent.mean, 0) : "-"}%`,
    ].join("\t"),
  );
}
