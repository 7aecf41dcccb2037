import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isGroupAlive, isProcessAlive, spawnSupervised } from "../../../src/core/process.js";
import type { SupervisedProcess } from "../../../src/core/process.js";

const dir = mkdtempSync(join(tmpdir(), "servelab-process-test-"));
const started: SupervisedProcess[] = [];
const strayPids: number[] = [];

afterEach(async () => {
  for (const proc of started.splice(0)) proc.kill();
  for (const pid of strayPids.splice(0)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* gone */
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(
  script: string,
  logFile?: string,
  onLine?: (line: string) => void,
): Promise<SupervisedProcess> {
  const proc = await spawnSupervised({
    command: process.execPath,
    args: ["-e", script],
    ...(logFile === undefined ? {} : { logFile }),
    ...(onLine === undefined ? {} : { onLine }),
  });
  started.push(proc);
  return proc;
}

async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A leader that spawns a child in its group; both print their pid and (when stubborn) ignore SIGINT.
const familyScript = (stubborn: boolean): string => `
  const { spawn } = require("node:child_process");
  ${stubborn ? 'process.on("SIGINT", () => {});' : ""}
  const child = spawn(process.execPath, ["-e", ${JSON.stringify(
    `${stubborn ? 'process.on("SIGINT", () => {});' : ""} console.log("child " + process.pid); setInterval(() => {}, 1000);`,
  )}], { stdio: "inherit" });
  console.log("leader " + process.pid);
  setInterval(() => {}, 1000);
`;

function pidsFrom(lines: readonly string[]): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of lines) {
    const m = /^(leader|child) (\d+)$/.exec(line);
    if (m) pids.set(m[1] as string, Number(m[2]));
  }
  return pids;
}

describe("spawnSupervised", () => {
  it("writes output to the log file, the tail and onLine", async () => {
    const logFile = join(dir, "nested", "out.log");
    const seen: string[] = [];
    const proc = await start(
      'console.log("one"); console.error("two"); process.stdout.write("three")',
      logFile,
      (line) => seen.push(line),
    );
    const exit = await proc.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    await waitFor(() => seen.length === 3);
    expect(seen.sort()).toEqual(["one", "three", "two"]);
    expect(proc.tail()).toHaveLength(3);
    expect(proc.isRunning()).toBe(false);
    await waitFor(() => readFileSync(logFile, "utf8").includes("three"));
    expect(readFileSync(logFile, "utf8")).toContain("one\n");
  });

  it("rejects with ENOENT when the command does not exist", async () => {
    await expect(spawnSupervised({ command: join(dir, "no-such-binary"), args: [] })).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("stops gracefully with SIGINT when the process handles it", async () => {
    const proc = await start(
      'process.on("SIGINT", () => { console.log("bye"); process.exit(0); }); console.log("up"); setInterval(() => {}, 1000);',
    );
    await waitFor(() => proc.tail().includes("up"));
    const exit = await proc.stop({ graceMs: 5000 });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(isProcessAlive(proc.pid)).toBe(false);
  });

  it("kills the whole group with SIGKILL after the grace period, children included", async () => {
    const proc = await start(familyScript(true));
    await waitFor(() => pidsFrom(proc.tail()).size === 2);
    const pids = pidsFrom(proc.tail());
    const child = pids.get("child") as number;
    strayPids.push(child);
    expect(isProcessAlive(child)).toBe(true);
    const t0 = Date.now();
    const exit = await proc.stop({ graceMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(exit.signal).toBe("SIGKILL");
    await waitFor(() => !isProcessAlive(child), 2000);
    expect(isGroupAlive(proc.pid)).toBe(false);
  });

  it("kills members left behind when the leader exits on its own", async () => {
    const proc = await start(`
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["-e", "console.log('child ' + process.pid); setInterval(() => {}, 1000)"], { stdio: "inherit" });
      setTimeout(() => process.exit(3), 300);
    `);
    await waitFor(() => pidsFrom(proc.tail()).has("child"));
    const child = pidsFrom(proc.tail()).get("child") as number;
    strayPids.push(child);
    expect((await proc.exited).code).toBe(3);
    await waitFor(() => !isProcessAlive(child), 3000);
  });
});

describe("reaping when servelab itself ends", () => {
  // Run process.ts in a plain Node child (transpiled, no loader) that supervises a family, then end it.
  const libDir = join(dir, "lib");
  mkdirSync(libDir, { recursive: true });
  for (const name of ["process", "errors"]) {
    const source = readFileSync(new URL(`../../../src/core/${name}.ts`, import.meta.url), "utf8");
    const out = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(libDir, `${name}.mjs`), out.replaceAll('"./errors.js"', '"./errors.mjs"'));
  }
  const harness = join(libDir, "harness.mjs");
  writeFileSync(
    harness,
    `import { spawnSupervised } from "./process.mjs";
     const mode = process.argv[2];
     const proc = await spawnSupervised({ command: process.execPath, args: ["-e", ${JSON.stringify(familyScript(true))}],
       onLine: (line) => console.log(line) });
     setInterval(() => {}, 1000);
     if (mode === "exit") setTimeout(() => process.exit(0), 800);`,
  );

  for (const mode of ["SIGTERM", "SIGINT", "exit"] as const) {
    it(`kills the supervised group on ${mode}`, async () => {
      const parent = spawn(process.execPath, [harness, mode], { stdio: ["ignore", "pipe", "inherit"] });
      strayPids.push(parent.pid as number);
      let out = "";
      parent.stdout.setEncoding("utf8");
      parent.stdout.on("data", (chunk: string) => (out += chunk));
      await waitFor(() => pidsFrom(out.split("\n")).size === 2);
      const pids = [...pidsFrom(out.split("\n")).values()];
      strayPids.push(...pids);
      const exited = new Promise((r) => parent.once("exit", (code, signal) => r({ code, signal })));
      if (mode !== "exit") parent.kill(mode);
      const result = await exited;
      if (mode === "exit") expect(result).toEqual({ code: 0, signal: null });
      else expect(result).toEqual({ code: null, signal: mode });
      await waitFor(() => pids.every((pid) => !isProcessAlive(pid)), 3000);
    });
  }

  it("the harness really leaves orphans without servelab's reaper (control)", () => {
    // A plain detached child survives its parent's SIGKILL: proves the tests above can fail.
    const out = execFileSync(
      process.execPath,
      [
        "-e",
        `const c = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: "ignore" }); console.log(c.pid); process.exit(0);`,
      ],
      { encoding: "utf8" },
    );
    const pid = Number(out.trim());
    strayPids.push(pid);
    expect(isProcessAlive(pid)).toBe(true);
  });
});
