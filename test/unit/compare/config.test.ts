import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildComparePlan } from "../../../src/cli/commands/compare.js";
import {
  compareProfiles,
  modelConfigurations,
  parseCompareFile,
  presetConfigurations,
} from "../../../src/compare/config.js";
import { serveArguments } from "../../../src/compare/run-compare.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";

describe("compare presets", () => {
  it("precision: R1 1.5B F32 against Q8_0 by default, any list of precisions on request", () => {
    expect(presetConfigurations("precision")).toEqual([
      {
        name: "r1-1.5b-f32",
        engine: "embedded",
        model: "synth:deepseek-r1-distill-qwen-1.5b",
        precision: "f32",
      },
      {
        name: "r1-1.5b-q8_0",
        engine: "embedded",
        model: "synth:deepseek-r1-distill-qwen-1.5b",
        precision: "q8_0",
      },
    ]);
    expect(
      presetConfigurations("precision", ["f32", "f16", "bf16", "q8_0", "q4_0"]).map((c) => c.name),
    ).toEqual(["r1-1.5b-f32", "r1-1.5b-f16", "r1-1.5b-bf16", "r1-1.5b-q8_0", "r1-1.5b-q4_0"]);
    expect(() => presetConfigurations("precision", ["q8_0"])).toThrow(/at least two/u);
  });

  it("models: R1 against Phi-3-mini in one precision", () => {
    expect(presetConfigurations("models", ["q4_0"]).map((c) => [c.name, c.model, c.precision])).toEqual([
      ["r1-1.5b-q4_0", "synth:deepseek-r1-distill-qwen-1.5b", "q4_0"],
      ["phi-3-mini-q4_0", "synth:phi-3-mini-4k", "q4_0"],
    ]);
    expect(() => presetConfigurations("models", ["f32", "q8_0"])).toThrow(/one --precision/u);
  });

  it("names real model files after the file, unique", () => {
    expect(
      modelConfigurations(["/m/R1-F32.gguf", "/other/R1-F32.gguf", "hf:org/repo/r1-q8.gguf"]).map(
        (c) => c.name,
      ),
    ).toEqual(["r1-f32", "r1-f32-2", "r1-q8"]);
  });
});

describe("compare files", () => {
  it("reads YAML and JSON with every field", () => {
    const yaml = parseCompareFile(
      [
        "reference: b",
        "profile: full",
        "slo: itl=40ms",
        "dataset: gsm8k.jsonl",
        "configurations:",
        "  - { name: a, engine: embedded, model: synth:deepseek-r1-distill-qwen-1.5b, precision: F16 }",
        "  - name: b",
        "    engine: vllm",
        "    model: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "    options: { quantization: fp8, gpu-memory-utilization: 0.5, enable-prefix-caching: true }",
        "  - { name: c, engine: 'url:http://127.0.0.1:8080/v1', model: r1 }",
      ].join("\n"),
    );
    expect(yaml.reference).toBe("b");
    expect(yaml.profile).toBe("full");
    expect(yaml.slo).toBe("itl=40ms");
    expect(yaml.configurations[0]?.precision).toBe("f16");
    expect(yaml.configurations[1]?.options).toEqual({
      quantization: "fp8",
      "gpu-memory-utilization": 0.5,
      "enable-prefix-caching": true,
    });
    const json = parseCompareFile(JSON.stringify([{ name: "x", model: "./x.gguf" }]));
    expect(json.configurations).toEqual([{ name: "x", engine: "embedded", model: "./x.gguf" }]);
  });

  it.each([
    ["configurations: []", /non-empty list/u],
    ["configurations: [{ name: a }]", /"model" is required/u],
    ["configurations: [{ name: 'a b', model: m }]", /"name" must be/u],
    ["configurations: [{ name: a, model: m, engine: docker }]", /"engine" must be embedded, vllm or url:/u],
    ["configurations: [{ name: a, model: m, colour: red }]", /unknown field "colour"/u],
    ["configurations: [{ name: a, model: m, options: { port: 1 } }]", /"port" is set by compare itself/u],
    ["configurations: [{ name: a, model: m, options: { --ctx: 1 } }]", /not a serve flag name/u],
    [
      "configurations: [{ name: a, model: 'synth:deepseek-r1-distill-qwen-1.5b', precision: int3 }]",
      /is not one of f32, f16, bf16, q8_0, q4_0/u,
    ],
    ["configurations: [{ name: a, model: m }, { name: a, model: n }]", /two configurations are named "a"/u],
    ["profile: huge\nconfigurations: [{ name: a, model: m }]", /smoke, quick or full/u],
    ["configurations: [{ name: a, model: m }]\nextra: 1", /unknown field "extra"/u],
    ["configurations: [ {", /not valid YAML or JSON/u],
  ])("refuses %j with one clear line", (text, message) => {
    let error: unknown;
    try {
      parseCompareFile(text, "f.yaml");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });
});

describe("buildComparePlan", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "servelab-plan-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("defaults to the precision preset, quick profile, first configuration as reference, itl=50ms", async () => {
    const plan = await buildComparePlan({ preset: "precision" }, {});
    expect(plan.configurations.map((c) => c.name)).toEqual(["r1-1.5b-f32", "r1-1.5b-q8_0"]);
    expect(plan.profile).toEqual(compareProfiles.quick);
    expect(plan.reference).toBe("r1-1.5b-f32");
    expect(plan.slo).toBe("itl=50ms");
  });

  it("takes real models from SERVELAB_MODEL, common serve options, and checks the reference", async () => {
    const plan = await buildComparePlan(
      { preset: "precision", gpu: "vulkan", serveOption: ["flash-attn", "ctx-size=2048"], parallel: 3 },
      { SERVELAB_MODEL: "/m/a.gguf, /m/b.gguf" },
    );
    expect(plan.configurations.map((c) => [c.name, c.model, c.options])).toEqual([
      ["a", "/m/a.gguf", { gpu: "vulkan", "flash-attn": true, "ctx-size": "2048" }],
      ["b", "/m/b.gguf", { gpu: "vulkan", "flash-attn": true, "ctx-size": "2048" }],
    ]);
    expect(plan.profile.parallel).toBe(3);
    await expect(buildComparePlan({ preset: "precision", reference: "nope" }, {})).rejects.toThrow(
      /--reference "nope" is not one of the configurations: r1-1.5b-f32, r1-1.5b-q8_0/u,
    );
    await expect(buildComparePlan({ preset: "precision", slo: "speed=fast" }, {})).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it("reads a compare file, flags win over it", async () => {
    const file = join(dir, "c.yaml");
    await writeFile(
      file,
      "profile: full\nreference: y\nconfigurations:\n  - { name: x, model: x.gguf }\n  - { name: y, model: y.gguf }\n",
    );
    const plan = await buildComparePlan({ preset: "precision", config: file, profile: "smoke" }, {});
    expect(plan.profile.name).toBe("smoke");
    expect(plan.reference).toBe("y");
    await expect(
      buildComparePlan({ preset: "precision", config: join(dir, "missing.yaml") }, {}),
    ).rejects.toThrow(/cannot read the compare file/u);
  });
});

describe("serveArguments", () => {
  it("passes the model, parallel and options as serve flags (false flags dropped)", () => {
    expect(
      serveArguments(
        {
          name: "a",
          engine: "embedded",
          model: "m",
          options: { "flash-attn": true, "ctx-size": 2048, "no-thing": false },
        },
        "/models/m.gguf",
        8,
      ),
    ).toEqual(["--model", "/models/m.gguf", "--parallel", "8", "--flash-attn", "--ctx-size", "2048"]);
    expect(
      serveArguments(
        { name: "v", engine: "vllm", model: "org/m", options: { dtype: "bfloat16" } },
        "org/m",
        4,
      ),
    ).toEqual(["--engine", "vllm", "--model", "org/m", "--parallel", "4", "--dtype", "bfloat16"]);
  });
});
