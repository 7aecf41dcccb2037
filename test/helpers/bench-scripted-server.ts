/**
 * Starts the bench's scripted-timing server in its own process for tests. The two source files import only
 * node built-ins, so they are transpiled (no type check) into a temporary folder and run with plain node.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import ts from "typescript";
import { measureMonotonicOffsetMs } from "../../src/bench/testing/scripted-server.js";

const sourceDir = new URL("../../src/bench/testing/", import.meta.url);

function buildEntry(): string {
  const outDir = join(tmpdir(), `servelab-scripted-server-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  for (const name of ["scripted-server", "scripted-server-main"]) {
    const source = readFileSync(new URL(`${name}.ts`, sourceDir), "utf8");
    const out = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    writeFileSync(join(outDir, `${name}.js`), out.outputText);
  }
  writeFileSync(join(outDir, "package.json"), '{"type":"module"}');
  return join(outDir, "scripted-server-main.js");
}

let entry: string | undefined;

export interface ScriptedProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Spawn the scripted server with CLI flags (e.g. ["--ttft", "50"]) and wait for its URL line (10 s at most). */
export async function spawnScriptedServer(args: string[] = []): Promise<ScriptedProcess> {
  entry ??= buildEntry();
  const child = spawn(process.execPath, [entry, "--port", "0", "--exit-on-stdin-close", ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("scripted server did not start within 10 s")), 10_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`scripted server exited with ${code}`));
    });
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
        }, 3000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** What to add to performance.now() for the machine-wide monotonic clock of the chunks' x_sent stamps. */
export function monotonicOffsetMs(): number {
  return measureMonotonicOffsetMs();
}
