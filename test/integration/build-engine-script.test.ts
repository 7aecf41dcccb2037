/**
 * scripts/build-engine.sh (npm run engine:build): the addon patch must apply to the node-llama-cpp this
 * project installs, so that an upgrade that breaks it fails here and not on a user's GPU machine. The
 * build itself takes about 10 minutes on 2 cores and is not run in CI (docs/benchmarks/h200.md gives a
 * run by hand).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = join(root, "scripts/build-engine.sh");
const run = (...args: string[]) =>
  spawnSync("bash", [script, ...args], { encoding: "utf8", timeout: 30_000 });

describe("scripts/build-engine.sh", () => {
  it("finds that the sampling patch applies to the installed node-llama-cpp, and changes nothing", () => {
    const addon = join(root, "node_modules/node-llama-cpp/llama/addon/AddonSampler.cpp");
    const before = readFileSync(addon, "utf8");
    const version = (
      JSON.parse(readFileSync(join(root, "node_modules/node-llama-cpp/package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    const check = run("--check");
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    // "is applied" after `npm run engine:build` on this checkout
    expect(check.stdout.trim()).toMatch(
      new RegExp(
        `^node-llama-cpp ${version.replaceAll(".", "\\.")}: the patch (applies cleanly|is applied)$`,
      ),
    );
    expect(readFileSync(addon, "utf8")).toBe(before);
  });

  it("refuses an unknown GPU or option in one line, exit code 2", () => {
    const gpu = run("--gpu", "opencl");
    expect(gpu.status).toBe(2);
    expect(gpu.stderr.trim()).toBe(
      "build-engine: --gpu must be cuda, vulkan, metal, auto or false, got 'opencl'",
    );
    const option = run("--fast");
    expect(option.status).toBe(2);
    expect(option.stderr).toMatch(/^build-engine: unknown option --fast/);
  });

  it("--help says what it does and how to run it", () => {
    const help = run("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Builds node-llama-cpp's addon/);
    expect(help.stdout).toContain("npm run engine:build -- [--gpu cuda|vulkan|metal|auto|false]");
  });
});
