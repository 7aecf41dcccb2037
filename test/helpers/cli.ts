/** The built CLI (dist/) as a real child process, for the tests that run `servelab serve` whole. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

export const cliPath = join(import.meta.dirname, "../../dist/cli/index.js");

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** The URL of the "listening on ..." line; rejects with stderr when the process exits before it. */
  listening: Promise<string>;
}

/** Runs `node dist/cli/index.js ...args` with piped output; the caller kills it (see `children`). */
export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  // Tests that expect a failure never ask for the URL.
  listening.catch(() => undefined);
  return { child, stdout: () => stdout, stderr: () => stderr, exited, listening };
}
