/**
 * scripts/audit.mjs (run by .ci/run): the real script in a child process, with `npm` on PATH replaced by
 * one that prints a canned `npm audit --json` report (the registry's audit service cannot be reached
 * from these machines; its mirror answers 405).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = mkdtempSync(join(os.tmpdir(), "servelab-audit-"));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** Runs the audit script with a fake npm that prints `report` and exits with `exitCode`. */
function audit(report: string, exitCode: number): { code: number | null; out: string } {
  writeFileSync(join(bin, "report.json"), report);
  const npm = join(bin, "npm");
  writeFileSync(npm, `#!/bin/sh\ncat "${join(bin, "report.json")}"\nexit ${exitCode}\n`);
  chmodSync(npm, 0o755);
  const run = spawnSync(process.execPath, [join(root, "scripts/audit.mjs")], {
    encoding: "utf8",
    env: { ...process.env, PATH: [bin, process.env.PATH].join(delimiter) },
    timeout: 30_000,
  });
  return { code: run.status, out: run.stdout + run.stderr };
}

const report = (counts: Record<string, number>, vulnerabilities: Record<string, { severity: string }> = {}) =>
  JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities,
    metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...counts } },
  });

describe("scripts/audit.mjs", () => {
  it("fails on a high or critical advisory in production dependencies, naming the package", () => {
    const high = audit(
      report({ high: 1, low: 2 }, { undici: { severity: "high" }, ms: { severity: "low" } }),
      1,
    );
    expect(high.code).toBe(1);
    expect(high.out).toMatch(/^ {2}high: undici$/m);
    expect(high.out).not.toMatch(/low: ms/);
    expect(audit(report({ critical: 1 }, { tar: { severity: "critical" } }), 1).code).toBe(1);
  });

  it("passes with low and moderate advisories only, printing the counts", () => {
    const ok = audit(report({ low: 3, moderate: 1 }), 1);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/npm audit \(production\): .*"moderate":1/);
  });

  it("says plainly when the registry has no audit service, and does not fail", () => {
    const mirror = audit(
      JSON.stringify({
        message: "Method Not Allowed",
        error: { code: "E405", summary: "405 Method Not Allowed" },
      }),
      1,
    );
    expect(mirror.code).toBe(0);
    expect(mirror.out).toMatch(/audit service is unavailable \(Method Not Allowed\); not checked/);
  });

  it("fails when npm gives no JSON at all", () => {
    const broken = audit("npm ERR! something went wrong\n", 1);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/no JSON report \(exit 1\)/);
  });
});
