import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildComparePlan } from "../../../src/cli/commands/compare.js";
import {
  compareProfiles,
  listPlanSecrets,
  modelConfigurations,
  parseCompareFile,
  presetConfigurations,
  redactComparePlan,
  resolveApiKey,
  type ComparePlan,
} from "../../../src/compare/config.js";
import { resolveClientApiKey, serveArguments } from "../../../src/compare/run-compare.js";
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
    ["configurations: [{ name: a, model: m, api-key: k, api-key-env: K }]", /"api-key" or "api-key-env"/u],
    ["configurations: [{ name: a, model: m, api-key-env: 'not a name' }]", /name of an environment var/u],
    ["configurations: [{ name: a, model: m, api-key: '' }]", /"api-key" must be a non-empty string/u],
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

describe("API keys", () => {
  const file = parseCompareFile(
    [
      "configurations:",
      "  - { name: lit, engine: 'url:http://h/v1', model: m, api-key: sk-literal-1234 }",
      "  - { name: ref, engine: 'url:http://h/v1', model: m, api-key: '${GATEWAY_KEY}' }",
      "  - { name: env, engine: 'url:http://h/v1', model: m, api-key-env: LLAMA_KEY }",
      "  - { name: own, engine: embedded, model: m.gguf, options: { api-key: serve-key-5678, api-key-file: /k, upstream-api-key: up-9 } }",
    ].join("\n"),
  );
  const env = { GATEWAY_KEY: "from-gateway-env", LLAMA_KEY: "from-llama-env" };
  const plan: ComparePlan = {
    configurations: file.configurations,
    reference: "lit",
    profile: compareProfiles.smoke,
    slo: "itl=50ms",
  };

  it("reads a literal key, a ${NAME} reference, api-key-env, and a started server's api-key option", () => {
    const [lit, ref, fromEnv, own] = file.configurations;
    expect(lit?.apiKey).toBe("sk-literal-1234");
    expect(fromEnv?.apiKeyEnv).toBe("LLAMA_KEY");
    expect(resolveApiKey(lit!, env)).toBe("sk-literal-1234");
    expect(resolveApiKey(ref!, env)).toBe("from-gateway-env");
    expect(resolveApiKey(fromEnv!, env)).toBe("from-llama-env");
    expect(resolveApiKey(own!, env)).toBe("serve-key-5678");
    expect(() => resolveApiKey(ref!, {})).toThrow(/GATEWAY_KEY, which is not set/u);
    expect(() => resolveApiKey(fromEnv!, {})).toThrow(/LLAMA_KEY, which is not set/u);
  });

  it("keeps no literal key in plan.json, but the names that find them again", () => {
    const stored = JSON.stringify(redactComparePlan(plan));
    for (const secret of ["sk-literal-1234", "serve-key-5678", "up-9", "from-gateway-env", "from-llama-env"])
      expect(stored).not.toContain(secret);
    const [lit, ref, fromEnv, own] = redactComparePlan(plan).configurations;
    expect(lit?.apiKey).toBe("(redacted)");
    expect(ref?.apiKey).toBe("${GATEWAY_KEY}");
    expect(fromEnv?.apiKeyEnv).toBe("LLAMA_KEY");
    expect(own?.options).toEqual({
      "api-key": "(redacted)",
      "api-key-file": "/k",
      "upstream-api-key": "(redacted)",
    });
    // the plan itself is untouched
    expect(plan.configurations[0]?.apiKey).toBe("sk-literal-1234");
    expect(listPlanSecrets(plan, env).sort()).toEqual(
      ["from-gateway-env", "from-llama-env", "serve-key-5678", "sk-literal-1234", "up-9"].sort(),
    );
  });

  it("on resume from plan.json: a url: server's literal key is asked for, a started server gets a fresh one", () => {
    const [lit, ref, , own] = redactComparePlan(plan).configurations;
    expect(() => resolveClientApiKey(lit!, env)).toThrow(
      /plan\.json does not keep it: resume with --config/u,
    );
    expect(resolveClientApiKey(ref!, env)).toBe("from-gateway-env");
    const fresh = resolveClientApiKey(own!, env);
    expect(fresh).toMatch(/^[\w-]{32}$/u);
    expect(resolveClientApiKey(own!, env)).not.toBe(fresh);
    // a started server with no key of its own inherits SERVELAB_API_KEY: that is the one to send
    const plain = { name: "p", engine: "embedded", model: "m.gguf" };
    expect(resolveClientApiKey(plain, { SERVELAB_API_KEY: "inherited" })).toBe("inherited");
    expect(resolveClientApiKey(plain, {})).toBeUndefined();
  });

  it("never puts a started server's key on its command line", () => {
    const own = file.configurations[3]!;
    const args = serveArguments(own, "/m.gguf", 4);
    expect(args.join(" ")).not.toContain("serve-key-5678");
    expect(args).not.toContain("--api-key");
    expect(args).toContain("--api-key-file");
  });

  it("--serve-option api-key reaches the plan's servers and leaves plan.json redacted", async () => {
    const built = await buildComparePlan(
      { preset: "precision", serveOption: ["api-key=cli-secret-42", "ctx-size=2048"] },
      {},
    );
    expect(built.configurations[0]?.options?.["api-key"]).toBe("cli-secret-42");
    expect(resolveClientApiKey(built.configurations[0]!, {})).toBe("cli-secret-42");
    expect(JSON.stringify(redactComparePlan(built))).not.toContain("cli-secret-42");
  });
});
