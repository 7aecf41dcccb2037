/**
 * `servelab doctor` through the built CLI: the JSON report's fields and types, the GPUs llama.cpp sees
 * (asked of node-llama-cpp here too), the model cache folder's free space, and vLLM found or not.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { getLlamaGpuTypes } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/cli/commands/doctor.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = process.env.SERVELAB_TEST_CLI ?? join(root, "dist/cli/index.js");
const run = promisify(execFile);
const nodeDir = dirname(process.execPath);
const fakeVllmDir = join(root, "test/fixtures/fake-vllm");

let cache: string;
beforeAll(async () => {
  // build first; type errors elsewhere in the tree still emit, so only the output matters here
  spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    timeout: 110_000,
  });
  cache = await mkdtemp(join(os.tmpdir(), "servelab-doctor-"));
});
afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

async function doctor(path: string, ...args: string[]): Promise<string> {
  return doctorWith(cli, { PATH: path }, ...args);
}

/** doctor through `entry` (the launcher or dist/cli/index.js), with UV_THREADPOOL_SIZE only as `env` says. */
async function doctorWith(entry: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { UV_THREADPOOL_SIZE: _ignored, ...inherited } = process.env;
  const { stdout } = await run(process.execPath, [entry, "doctor", ...args], {
    timeout: 120_000,
    env: { ...inherited, SERVELAB_CACHE: cache, ...env },
  });
  return stdout;
}

describe("servelab doctor", () => {
  it("--json reports the machine, the GPUs llama.cpp sees, the cache folder's disk and the engines", async () => {
    // PATH: node (the fake vLLM's interpreter) and the fake vLLM, nothing else
    const r = JSON.parse(await doctor([fakeVllmDir, nodeDir].join(delimiter), "--json")) as DoctorReport;

    expect(r.node).toEqual({ version: process.version, ok: true });
    expect(r.cpu.cores).toBe(os.availableParallelism());
    expect(typeof r.cpu.model).toBe("string");
    expect(r.memory.totalBytes).toBe(os.totalmem());
    expect(r.memory.freeBytes).toBeGreaterThan(0);
    expect(r.os).toEqual({ platform: process.platform, arch: process.arch, release: expect.any(String) });

    // the folder synth/start/compare write models to, not $HOME; it need not exist yet
    expect(r.disk.path).toBe(join(cache, "models"));
    expect(r.disk.freeBytes).toBeGreaterThan(0);

    const supported = (await getLlamaGpuTypes("supported")).filter((t) => t !== false);
    expect(r.gpus.llamaCpp.map((b) => b.backend)).toEqual(supported);
    for (const b of r.gpus.llamaCpp) {
      expect(typeof b.ok).toBe("boolean");
      expect(Array.isArray(b.devices)).toBe(true);
      for (const d of b.devices) expect(typeof d).toBe("string");
      expect(typeof b.vramTotalBytes).toBe("number");
      if (!b.ok) expect(typeof b.error).toBe("string");
    }
    expect(Array.isArray(r.gpus.nvidiaSmi)).toBe(true);

    const nlc = r.engines.nodeLlamaCpp;
    const version = (
      JSON.parse(readFileSync(join(root, "node_modules/node-llama-cpp/package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    expect(nlc).toMatchObject({ installed: true, version, error: null });
    expect(["prebuilt", "localBuild"]).toContain(nlc.buildType);
    expect(typeof nlc.llamaCppRelease).toBe("string");
    const usable = r.gpus.llamaCpp.find((b) => b.ok && b.devices.length > 0);
    expect(nlc.backend).toBe(usable?.backend ?? "cpu");
    if (process.platform === "linux") {
      expect(nlc.binary).toMatch(/llama-addon\.node$/);
      expect(existsSync(nlc.binary ?? "")).toBe(true);
    }

    expect(r.engines.vllm).toEqual({
      installed: true,
      version: "0.10.1.1",
      launcher: join(fakeVllmDir, "vllm"),
      hint: null,
    });
    expect(r.engines.llamaServer).toEqual({ installed: false, version: null });
    expect(r.checks.map((c) => c.name)).toEqual([
      "node",
      "cpu",
      "thread pool",
      "memory",
      "disk",
      "llama.cpp GPUs",
      "nvidia-smi",
      "engine llama.cpp",
      "engine vllm",
      "llama-server",
    ]);
  });

  it("prints one line per check, and vLLM's install hint when it is missing", async () => {
    const text = await doctor(nodeDir); // no vllm there (a python3 there has no vllm module)
    expect(text).toMatch(new RegExp(`^ok {4}cpu +.*, ${os.availableParallelism()} cores available$`, "m"));
    expect(text).toContain(`free for the model cache ${join(cache, "models")}`);
    expect(text).toMatch(/engine llama\.cpp +node-llama-cpp \d+\.\d+\.\d+, (prebuilt|localBuild) \w+ binary/);
    expect(text).toMatch(/engine vllm +not installed\n +vLLM is not installed: .*pip install vllm/);
  });

  it("sizes libuv's thread pool in the launcher, one thread a core (at least 4), unless UV_THREADPOOL_SIZE says", async () => {
    const launcher = join(root, "dist/cli/servelab.cjs");
    const pool = async (entry: string, env: NodeJS.ProcessEnv) =>
      (JSON.parse(await doctorWith(entry, env, "--json")) as DoctorReport).cpu.threadPool;
    const chosen = Math.min(64, Math.max(4, os.availableParallelism()));
    expect(await pool(launcher, {})).toEqual({ size: chosen, source: "servelab" });
    expect(await pool(launcher, { UV_THREADPOOL_SIZE: "7" })).toEqual({ size: 7, source: "environment" });
    // started without the launcher, the pool keeps libuv's 4: doctor says so, and warns where that is small
    expect(await pool(cli, {})).toEqual({ size: 4, source: "libuv" });
    const text = await doctorWith(cli, {});
    if (chosen > 4)
      expect(text).toMatch(/thread pool +4 threads .*\n +concurrent sequences sample 4 at a time/);
    else expect(text).toMatch(/^ok {4}thread pool +4 threads .*\(libuv's default\)$/m);
    // the package's executable is the launcher
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin.servelab).toBe("dist/cli/servelab.cjs");
  });

  it("--help shows examples", async () => {
    const { stdout } = await run(process.execPath, [cli, "doctor", "--help"]);
    expect(stdout).toMatch(/Examples:\n {2}\$ servelab doctor\n {2}\$ servelab doctor --json/);
  });
});
