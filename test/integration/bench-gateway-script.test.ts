/**
 * `npm run bench:gateway` end to end, small: the scripted upstream, servelab's gateway (as --workers 2),
 * the minimal gateway and the relay each measured against going direct, the figures written as JSON.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const script = join(import.meta.dirname, "../../scripts/bench-gateway.mjs");
const dir = mkdtempSync(join(tmpdir(), "servelab-bench-gateway-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Through {
  tokensPerSecond: number;
  throughputRatio: number;
  addedTtftP50Ms: number;
  cpuUsPerToken: number;
}

describe("scripts/bench-gateway.mjs", () => {
  it("measures the gateway, the minimal gateway and the relay against going direct", () => {
    const out = join(dir, "gw.json");
    const run = spawnSync(
      process.execPath,
      [
        script,
        ...["--rounds", "1", "--concurrency", "1,4", "--ttft", "2", "--itl", "1", "--tokens", "4"],
        ...["--latency-requests", "5", "--requests-per-stream", "1", "--paired", "5"],
        ...["--relay", "--minimal", "--workers", "2", "--json", out],
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("the gateway in 2 processes (--workers)");
    const result = JSON.parse(readFileSync(out, "utf8")) as {
      summary: Record<string, Record<string, unknown>>;
      paired: Record<string, { addedTtftP50Ms: number }>;
    };
    for (const level of ["1", "4"]) {
      const row = result.summary[level]!;
      expect(row.directTokensPerSecond as number).toBeGreaterThan(0);
      for (const name of ["gateway", "minimal", "relay"]) {
        const through = row[name] as Through;
        expect(through.tokensPerSecond, `${name} at c=${level}`).toBeGreaterThan(0);
        // Every token came through: the ratio is a measured one, near 1 for a scripted upstream this slow.
        expect(through.throughputRatio).toBeGreaterThan(0.3);
        expect(through.throughputRatio).toBeLessThan(3);
        expect(Number.isFinite(through.addedTtftP50Ms)).toBe(true);
        // The gateway's CPU sums its primary and both workers; every process did some work.
        expect(through.cpuUsPerToken).toBeGreaterThan(0);
      }
    }
    for (const name of ["gateway", "minimal", "relay"])
      expect(Number.isFinite(result.paired[name]!.addedTtftP50Ms)).toBe(true);
  });
});
