#!/usr/bin/env node
// Fails when production dependencies have high or critical advisories. When the registry offers no
// audit service (some mirrors answer 405), says so plainly and exits 0: nothing could be checked.
import { spawnSync } from "node:child_process";

const run = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8" });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`npm audit: no JSON report (exit ${run.status}): ${run.stderr.trim().split("\n").pop()}`);
  process.exit(1);
}
if (report.metadata?.vulnerabilities === undefined) {
  const why = report.message ?? report.error?.summary ?? report.error?.code ?? "no report";
  console.log(`npm audit: the registry's audit service is unavailable (${why}); not checked`);
  process.exit(0);
}
const counts = report.metadata?.vulnerabilities ?? {};
const bad = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(`npm audit (production): ${JSON.stringify(counts)}`);
if (bad > 0) {
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {}))
    if (v.severity === "high" || v.severity === "critical") console.log(`  ${v.severity}: ${name}`);
  process.exit(1);
}
