/** Finding how to start vLLM: `vllm serve`, or `python3 -m vllm.entrypoints.openai.api_server`. */

import { spawn } from "node:child_process";
import { accessSync, constants, openSync, readSync, closeSync, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { EngineNotInstalledError } from "../../core/errors.js";
import { buildVllmArgs } from "./options.js";
import type { VllmEngineOptions } from "./options.js";

/** How vLLM is started: its `vllm` console script, or a Python that has the module. */
export type VllmLauncher = { kind: "vllm"; executable: string } | { kind: "python"; executable: string };

export interface VllmCommand {
  command: string;
  args: string[];
}

const installHint =
  "Install it with `pip install vllm` (needs Linux and an NVIDIA GPU with CUDA), or attach servelab to a running OpenAI-compatible server with --engine url:http://HOST:PORT/v1";

/**
 * The command line that starts vLLM for these options: `vllm serve MODEL ...` by default, or
 * `PYTHON -m vllm.entrypoints.openai.api_server --model MODEL ...` for a python launcher. Without a
 * port in the options, no --port is passed (vLLM then uses 8000).
 */
export function buildVllmCommand(
  options: VllmEngineOptions,
  launcher: VllmLauncher = { kind: "vllm", executable: "vllm" },
): VllmCommand {
  const flags = buildVllmArgs(options);
  if (launcher.kind === "vllm")
    return { command: launcher.executable, args: ["serve", options.model, ...flags] };
  return {
    command: launcher.executable,
    args: ["-m", "vllm.entrypoints.openai.api_server", "--model", options.model, ...flags],
  };
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH (`name` with a slash is checked as is). */
export function findExecutable(name: string, pathVariable: string | undefined): string | undefined {
  if (name.includes("/")) return isExecutableFile(name) ? name : undefined;
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The interpreter a script's `#!` line names, when that interpreter cannot be found. */
function missingInterpreter(script: string, pathVariable: string | undefined): string | undefined {
  let head: string;
  try {
    const fd = openSync(script, "r");
    const buffer = Buffer.alloc(256);
    const n = readSync(fd, buffer, 0, 256, 0);
    closeSync(fd);
    head = buffer.subarray(0, n).toString("utf8");
  } catch {
    return undefined;
  }
  if (!head.startsWith("#!")) return undefined;
  const parts = (head.slice(2).split("\n")[0] ?? "").trim().split(/\s+/);
  let interpreter = parts[0] ?? "";
  if (interpreter.endsWith("/env")) {
    interpreter = parts.slice(1).find((p) => !p.startsWith("-")) ?? "";
    return findExecutable(interpreter, pathVariable) === undefined ? interpreter : undefined;
  }
  return isAbsolute(interpreter) && !isExecutableFile(interpreter) ? interpreter : undefined;
}

function pythonHasVllm(python: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      python,
      ["-c", "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('vllm') else 3)"],
      { env, stdio: "ignore" },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

/**
 * Finds how to start vLLM, or throws EngineNotInstalledError saying what is missing and how to install
 * it. Order: options.vllmExecutable; options.pythonExecutable (with the vllm module); `vllm` on PATH;
 * `python3` / `python` on PATH with the vllm module.
 */
export async function resolveVllmLauncher(
  options: VllmEngineOptions,
  env: NodeJS.ProcessEnv,
): Promise<VllmLauncher> {
  const path = env["PATH"];
  const checkScript = (script: string): VllmLauncher => {
    const missing = missingInterpreter(script, path);
    if (missing !== undefined) {
      throw new EngineNotInstalledError(
        "vllm",
        `vLLM at ${script} needs the Python '${missing}', which is missing: reinstall vLLM in a working Python environment. ${installHint}`,
      );
    }
    return { kind: "vllm", executable: script };
  };
  if (options.vllmExecutable !== undefined) {
    const found = findExecutable(options.vllmExecutable, path);
    if (found === undefined) {
      throw new EngineNotInstalledError(
        "vllm",
        `the vLLM executable '${options.vllmExecutable}' does not exist or is not executable. ${installHint}`,
      );
    }
    return checkScript(found);
  }
  if (options.pythonExecutable !== undefined) {
    const python = findExecutable(options.pythonExecutable, path);
    if (python === undefined) {
      throw new EngineNotInstalledError(
        "vllm",
        `the Python '${options.pythonExecutable}' for vLLM does not exist. ${installHint}`,
      );
    }
    if (!(await pythonHasVllm(python, env))) {
      throw new EngineNotInstalledError(
        "vllm",
        `vLLM is not installed in ${python} (no module named vllm). ${installHint}`,
      );
    }
    return { kind: "python", executable: python };
  }
  const vllm = findExecutable("vllm", path);
  if (vllm !== undefined) return checkScript(vllm);
  const python = findExecutable("python3", path) ?? findExecutable("python", path);
  if (python === undefined) {
    throw new EngineNotInstalledError(
      "vllm",
      `vLLM is not installed: no 'vllm' executable and no Python (python3) on PATH. ${installHint}`,
    );
  }
  if (!(await pythonHasVllm(python, env))) {
    throw new EngineNotInstalledError(
      "vllm",
      `vLLM is not installed: no 'vllm' executable on PATH and ${python} has no module named vllm. ${installHint}`,
    );
  }
  return { kind: "python", executable: python };
}
