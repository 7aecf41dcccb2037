import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { EngineNotInstalledError, InvalidArgumentError } from "../../../src/core/errors.js";
import {
  buildVllmCommand,
  createVllmEngine,
  defaultReasoningParser,
  diagnoseVllmLog,
  resolveVllmLauncher,
  validateVllmOptions,
} from "../../../src/engines/vllm.js";
import type { VllmEngineOptions } from "../../../src/engines/vllm.js";

const fakeVllmDir = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/fake-vllm");
const tmp = mkdtempSync(join(tmpdir(), "servelab-vllm-cmd-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory holding only `node`, so `#!/usr/bin/env node` scripts run with a PATH of our choosing. */
const nodeDir = join(tmp, "node-bin");
const fakePythonDir = join(tmp, "python-bin");
const brokenDir = join(tmp, "broken-bin");
mkdirSync(nodeDir, { recursive: true });
mkdirSync(fakePythonDir, { recursive: true });
mkdirSync(brokenDir, { recursive: true });
symlinkSync(process.execPath, join(nodeDir, "node"));
// A python3 that "has" vllm when FAKE_PY_HAS_VLLM=1.
writeFileSync(
  join(fakePythonDir, "python3"),
  '#!/usr/bin/env node\nprocess.exit(process.env.FAKE_PY_HAS_VLLM === "1" ? 0 : 1);\n',
);
chmodSync(join(fakePythonDir, "python3"), 0o755);
// A vllm console script whose Python is gone.
writeFileSync(join(brokenDir, "vllm"), "#!/opt/venvs/gone/bin/python3.12\nimport sys\n");
chmodSync(join(brokenDir, "vllm"), 0o755);

describe("buildVllmCommand", () => {
  it("maps every option to vLLM's flags", () => {
    const options: VllmEngineOptions = {
      model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
      dtype: "float16",
      quantization: "awq",
      gpuMemoryUtilization: 0.9,
      maxModelLen: 4096,
      maxNumSeqs: 64,
      tensorParallelSize: 2,
      pipelineParallelSize: 2,
      dataParallelSize: 2,
      enablePrefixCaching: true,
      port: 8123,
      servedModelName: "r1",
      apiKey: "k",
      extraArgs: ["--enforce-eager", "--seed", "1"],
    };
    expect(buildVllmCommand(options)).toEqual({
      command: "vllm",
      args: [
        "serve",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--served-model-name",
        "r1",
        "--dtype",
        "float16",
        "--quantization",
        "awq",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "64",
        "--tensor-parallel-size",
        "2",
        "--pipeline-parallel-size",
        "2",
        "--data-parallel-size",
        "2",
        "--enable-prefix-caching",
        "--reasoning-parser",
        "deepseek_r1",
        "--api-key",
        "k",
        "--enforce-eager",
        "--seed",
        "1",
      ],
    });
  });

  it("uses the python module form for a python launcher", () => {
    const cmd = buildVllmCommand(
      { model: "microsoft/Phi-3-mini-4k-instruct", enablePrefixCaching: false, port: 9000 },
      { kind: "python", executable: "/usr/bin/python3" },
    );
    expect(cmd).toEqual({
      command: "/usr/bin/python3",
      args: [
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "microsoft/Phi-3-mini-4k-instruct",
        "--host",
        "127.0.0.1",
        "--port",
        "9000",
        "--no-enable-prefix-caching",
      ],
    });
  });

  it("defaults the reasoning parser from the model name, and lets it be turned off", () => {
    expect(defaultReasoningParser("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")).toBe("deepseek_r1");
    expect(defaultReasoningParser("casperhansen/deepseek-r1-distill-qwen-1.5b-awq")).toBe("deepseek_r1");
    expect(defaultReasoningParser("microsoft/Phi-3-mini-4k-instruct")).toBeUndefined();
    expect(buildVllmCommand({ model: "deepseek-ai/DeepSeek-R1", reasoningParser: false }).args).not.toContain(
      "--reasoning-parser",
    );
    expect(buildVllmCommand({ model: "m", reasoningParser: "qwen3" }).args).toEqual(
      expect.arrayContaining(["--reasoning-parser", "qwen3"]),
    );
  });
});

describe("validateVllmOptions", () => {
  const bad: Array<[Partial<VllmEngineOptions>, string]> = [
    [{ gpuMemoryUtilization: 1.5 }, "gpuMemoryUtilization must be in (0, 1], got 1.5"],
    [{ gpuMemoryUtilization: 0 }, "gpuMemoryUtilization must be in (0, 1], got 0"],
    [{ maxModelLen: 0 }, "maxModelLen must be a positive integer, got 0"],
    [{ tensorParallelSize: 1.5 }, "tensorParallelSize must be a positive integer, got 1.5"],
    [{ dtype: "fp16" as never }, "dtype must be one of auto, float32, bfloat16, float16, got fp16"],
    [
      { quantization: "int3" as never },
      "quantization must be one of awq, gptq, fp8, bitsandbytes, compressed-tensors, got int3",
    ],
    [{ port: 70000 }, "port must be an integer in [1, 65535], got 70000"],
    [{ model: " " }, "model must name"],
  ];
  for (const [patch, message] of bad) {
    it(`rejects ${JSON.stringify(patch)}`, () => {
      expect(() => validateVllmOptions({ model: "m", ...patch })).toThrow(InvalidArgumentError);
      expect(() => validateVllmOptions({ model: "m", ...patch })).toThrow(message);
      // createVllmEngine validates before anything else happens.
      expect(() => createVllmEngine({ model: "m", ...patch })).toThrow(message);
    });
  }
  it("accepts good options", () => {
    expect(() =>
      validateVllmOptions({
        model: "m",
        gpuMemoryUtilization: 1,
        quantization: "compressed-tensors",
        dtype: "bfloat16",
      }),
    ).not.toThrow();
  });
});

describe("resolveVllmLauncher", () => {
  it("says vLLM is not installed and how to install it when nothing is on PATH", async () => {
    const err = await resolveVllmLauncher({ model: "m" }, { PATH: "" }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineNotInstalledError);
    expect(err).toMatchObject({ code: "ENGINE_NOT_INSTALLED", engine: "vllm" });
    expect((err as Error).message).toContain("pip install vllm");
    expect((err as Error).message).toContain("NVIDIA GPU");
    expect((err as Error).message).toContain("no Python");
  });

  it("prefers the vllm executable on PATH", async () => {
    const launcher = await resolveVllmLauncher(
      { model: "m" },
      { PATH: `${fakeVllmDir}:${fakePythonDir}:${nodeDir}` },
    );
    expect(launcher).toEqual({ kind: "vllm", executable: join(fakeVllmDir, "vllm") });
  });

  it("falls back to python -m when python has the module", async () => {
    const path = `${fakePythonDir}:${nodeDir}`;
    expect(await resolveVllmLauncher({ model: "m" }, { PATH: path, FAKE_PY_HAS_VLLM: "1" })).toEqual({
      kind: "python",
      executable: join(fakePythonDir, "python3"),
    });
    const err = await resolveVllmLauncher({ model: "m" }, { PATH: path }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineNotInstalledError);
    expect((err as Error).message).toContain("has no module named vllm");
  });

  it("says when the Python the vllm script needs is missing", async () => {
    const err = await resolveVllmLauncher({ model: "m" }, { PATH: `${brokenDir}:${nodeDir}` }).catch(
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(EngineNotInstalledError);
    expect((err as Error).message).toContain("/opt/venvs/gone/bin/python3.12");
  });

  it("checks an explicit pythonExecutable", async () => {
    const err = await resolveVllmLauncher(
      { model: "m", pythonExecutable: join(tmp, "nope", "python3") },
      { PATH: "" },
    ).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineNotInstalledError);
  });
});

describe("diagnoseVllmLog", () => {
  it("recognises each known failure", () => {
    expect(
      diagnoseVllmLog("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.16 GiB.")?.kind,
    ).toBe("out-of-memory");
    const kv = diagnoseVllmLog([
      "torch.OutOfMemoryError: something earlier",
      "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.",
    ]);
    expect(kv?.kind).toBe("kv-cache-memory");
    expect(kv?.message).toContain("--max-model-len");
    expect(kv?.message).toContain("--gpu-memory-utilization");
    expect(
      diagnoseVllmLog(
        "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has compute capability 7.5.",
      )?.message,
    ).toContain("float16");
    expect(
      diagnoseVllmLog(
        "ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 89. Current capability: 75.",
      )?.kind,
    ).toBe("unsupported-quantization");
    expect(
      diagnoseVllmLog("Repository Not Found for url: https://huggingface.co/api/models/x/y/revision/main.")
        ?.kind,
    ).toBe("model-not-found");
    expect(
      diagnoseVllmLog("OSError: /models/x does not appear to have a file named config.json.")?.kind,
    ).toBe("model-not-found");
    expect(diagnoseVllmLog("vllm serve: error: unrecognized arguments: --bogus")?.message).toContain(
      "unrecognized arguments: --bogus",
    );
    expect(diagnoseVllmLog("INFO all good\nINFO still good")).toBeUndefined();
  });
});
