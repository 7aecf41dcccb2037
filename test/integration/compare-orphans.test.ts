/**
 * compare runs each configuration's server in a child process: the child must never outlive compare,
 * also when compare is killed with SIGKILL (no chance to clean up) or stopped with SIGTERM.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processExists } from "../../src/compare/server-process.js";
import { tinyModel } from "../helpers/models.js";

const serverProcess = new URL("../../dist/compare/server-process.js", import.meta.url).href;

/** A parent that starts a server the way compare does, prints its pid, and waits. */
function startParent(
  model: string,
  log: string,
): Promise<{ parent: ReturnType<typeof spawn>; serverPid: number }> {
  const code = `
    const { startServerProcess } = await import(${JSON.stringify(serverProcess)});
    const server = await startServerProcess({ serveArgs: ["--model", ${JSON.stringify(model)}, "--parallel", "1"], logPath: ${JSON.stringify(log)} });
    process.stdout.write("pid " + server.pid + "\\n");
    process.on("SIGTERM", () => process.exit(143));
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ["--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    parent.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /pid (\d+)/u.exec(out);
      if (m !== null) resolve({ parent, serverPid: Number(m[1]) });
    });
    parent.once("exit", (code) => reject(new Error(`parent exited (${code}) before the server was ready`)));
  });
}

async function waitGone(pid: number, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processExists(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("compare's server processes never outlive compare", () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "servelab-orphans-"));
    model = await tinyModel();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(["SIGKILL", "SIGTERM"] as const)("the server stops when compare gets %s", async (signal) => {
    const { parent, serverPid } = await startParent(model, join(dir, `${signal}.log`));
    expect(processExists(serverPid)).toBe(true);
    parent.kill(signal);
    expect(await waitGone(serverPid)).toBe(true);
  });
});
