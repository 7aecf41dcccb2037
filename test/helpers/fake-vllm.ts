/** Paths and helpers for running the fake-vllm stand-in (test/fixtures/fake-vllm/vllm) in tests. */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The directory holding the `vllm` stand-in. */
export const fakeVllmDir = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/fake-vllm");
export const fakeVllmPath = join(fakeVllmDir, "vllm");

/** A directory with only `node` in it, so PATH can hold the stand-in and node and nothing else. */
export function makeNodeOnlyDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "servelab-node-bin-")), "bin");
  mkdirSync(dir);
  symlinkSync(process.execPath, join(dir, "node"));
  return dir;
}

/** Every pid vLLM (or the stand-in) printed: `(EngineCore_0 pid=N)` and `Started server process [N]`. */
export function pidsInLog(logFile: string): number[] {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return [];
  }
  const pids = new Set<number>();
  for (const m of text.matchAll(/pid=(\d+)\)|Started server process \[(\d+)\]/g))
    pids.add(Number(m[1] ?? m[2]));
  return [...pids];
}

export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
