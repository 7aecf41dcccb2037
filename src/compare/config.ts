/**
 * What `servelab compare` compares: configurations from presets, from --model files or from a YAML/JSON
 * file, and the measurement profile (quick or full). Validation happens here, before anything starts, so a
 * typo in the file is one clear error instead of a failure ten minutes in.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { InvalidArgumentError, errorMessage } from "../core/errors.js";
import { isSecretName, redactedValue } from "../core/redact.js";
import { SYNTH_TYPES, type SynthType } from "../models/presets.js";

/** One thing to measure: an engine, a model and a precision. */
export interface CompareConfiguration {
  /** Unique name shown in tables ("r1-1.5b-f32"). */
  name: string;
  /** `embedded` (llama.cpp through node-llama-cpp), `vllm`, or `url:http://host:port/v1` (a running server). */
  engine: string;
  /**
   * A GGUF path, an `hf:` URI, `synth:<preset>` (the synthetic model of that preset in `precision`, made
   * once into the cache folder), a model id for vLLM, or the model name a `url:` server expects.
   */
  model: string;
  /** f32, f16, bf16, q8_0, q4_0 for GGUF; for vLLM a label (its dtype/quantization go in `options`). */
  precision?: string;
  /** More `servelab serve` flags for this configuration, e.g. `{ parallel: 8, "flash-attn": true }`. */
  options?: Record<string, string | number | boolean>;
  /**
   * The API key the server expects (`Authorization: Bearer`): a `url:` server's, or the one compare starts
   * an embedded or vLLM server with. `${NAME}` reads it from the environment variable NAME when the
   * configuration runs. Never written to results.json, plan.json or a report. File field `api-key`.
   */
  apiKey?: string;
  /** The environment variable holding the API key (instead of `apiKey`). File field `api-key-env`. */
  apiKeyEnv?: string;
}

/** An environment-variable reference, `${NAME}`: the name, or undefined for a literal value. */
function envReference(value: string): string | undefined {
  return /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/u.exec(value)?.[1];
}

/**
 * The plan as plan.json stores it: literal API keys and secret serve options (`api-key`, ...) replaced by
 * "(redacted)"; `${NAME}` references and `apiKeyEnv` names kept, so `--resume` finds the key again.
 */
export function redactComparePlan(plan: ComparePlan): ComparePlan {
  return {
    ...plan,
    configurations: plan.configurations.map((c) => {
      const copy: CompareConfiguration = { ...c };
      if (copy.apiKey !== undefined && envReference(copy.apiKey) === undefined) copy.apiKey = redactedValue;
      if (copy.options !== undefined)
        copy.options = Object.fromEntries(
          Object.entries(copy.options).map(([key, value]) => [
            key,
            isSecretName(key) && typeof value === "string" && envReference(value) === undefined
              ? redactedValue
              : value,
          ]),
        );
      return copy;
    }),
  };
}

/** The literal secrets of a plan (API keys and secret serve options), to scrub from anything recorded. */
export function listPlanSecrets(plan: ComparePlan, env: NodeJS.ProcessEnv = process.env): string[] {
  const secrets = new Set<string>();
  const add = (value: string | undefined): void => {
    if (value === undefined || value === redactedValue || value === "") return;
    const name = envReference(value);
    const resolved = name === undefined ? value : env[name];
    if (resolved !== undefined && resolved !== "") secrets.add(resolved);
  };
  for (const c of plan.configurations) {
    add(c.apiKey);
    if (c.apiKeyEnv !== undefined) add(env[c.apiKeyEnv]);
    for (const [key, value] of Object.entries(c.options ?? {}))
      if (isSecretName(key) && typeof value === "string") add(value);
  }
  return [...secrets];
}

/**
 * The API key of a configuration, read now: `apiKey` (or its `${NAME}`), `apiKeyEnv`, else for a server
 * that compare starts its `api-key` serve option. Undefined when none is set; "(redacted)" when the plan
 * came from plan.json, which never stores a literal key.
 * @throws InvalidArgumentError when a named environment variable is not set.
 */
export function resolveApiKey(
  configuration: CompareConfiguration,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const fromEnv = (name: string, field: string): string => {
    const value = env[name];
    if (value === undefined || value === "")
      throw new InvalidArgumentError(
        `configuration "${configuration.name}": ${field} names the environment variable ${name}, which is not set`,
      );
    return value;
  };
  if (configuration.apiKeyEnv !== undefined) return fromEnv(configuration.apiKeyEnv, "api-key-env");
  const option = configuration.engine.startsWith("url:") ? undefined : configuration.options?.["api-key"];
  const value = configuration.apiKey ?? (typeof option === "string" ? option : undefined);
  if (value === undefined) return undefined;
  const name = envReference(value);
  return name === undefined ? value : fromEnv(name, "api-key");
}

export type CompareProfileName = "smoke" | "quick" | "full";

/** How much to measure. The quick profile fits a 2-core machine with no GPU in minutes. */
export interface CompareProfile {
  name: CompareProfileName;
  /** Repetitions of each bench level (mean ± std over runs). */
  runs: number;
  /** Requests per prompt class for TTFT. */
  ttftRequests: number;
  /** Tokens generated by the TTFT requests: enough that one is visible text, not a swallowed tag. */
  ttftMaxTokens: number;
  /** Requests per concurrency level for tokens/s and requests per minute. */
  throughputRequests: number;
  /** Input and output tokens of the throughput requests (exact: ignore_eos). */
  throughputInputTokens: number;
  throughputMaxTokens: number;
  /** Concurrency levels measured (must include 1 and 4). */
  concurrency: number[];
  /** Upper bound and trials of the max-concurrency search. */
  searchMax: number;
  searchTrials: number;
  /** Generated math problems and the tokens each answer may use. */
  qualityProblems: number;
  qualityMaxTokens: number;
  /** Problems in flight at once during the quality run. */
  qualityConcurrency: number;
  /** `--parallel` of the embedded server: sequences decoded together. */
  parallel: number;
}

export const compareProfiles: Record<CompareProfileName, CompareProfile> = {
  /** Checks the whole pipeline in seconds (tests, a first try of a compare file); the figures are rough. */
  smoke: {
    name: "smoke",
    runs: 1,
    ttftRequests: 1,
    ttftMaxTokens: 8,
    throughputRequests: 2,
    throughputInputTokens: 16,
    throughputMaxTokens: 8,
    concurrency: [1, 4],
    searchMax: 4,
    searchTrials: 1,
    qualityProblems: 4,
    qualityMaxTokens: 48,
    qualityConcurrency: 4,
    parallel: 4,
  },
  quick: {
    name: "quick",
    runs: 1,
    ttftRequests: 3,
    ttftMaxTokens: 4,
    throughputRequests: 4,
    throughputInputTokens: 32,
    throughputMaxTokens: 16,
    concurrency: [1, 4],
    searchMax: 16,
    searchTrials: 1,
    qualityProblems: 4,
    qualityMaxTokens: 32,
    qualityConcurrency: 4,
    parallel: 8,
  },
  full: {
    name: "full",
    runs: 5,
    ttftRequests: 10,
    ttftMaxTokens: 8,
    throughputRequests: 16,
    throughputInputTokens: 128,
    throughputMaxTokens: 128,
    concurrency: [1, 2, 4, 8, 16],
    searchMax: 64,
    searchTrials: 3,
    qualityProblems: 40,
    qualityMaxTokens: 4096,
    qualityConcurrency: 8,
    parallel: 16,
  },
};

/** A whole comparison plan: what to run and how much. */
export interface ComparePlan {
  configurations: CompareConfiguration[];
  /** Name of the configuration the others are compared against (default: the first). */
  reference: string;
  profile: CompareProfile;
  /** Latency objective of the max-concurrency search, in bench syntax ("itl=50ms"). */
  slo: string;
  /** A JSONL file of math problems instead of the generated ones. */
  dataset?: string;
  /** An embedding model (GGUF path) or `/v1/embeddings` URL for the embedding-similarity figure. */
  embeddings?: string;
}

export const comparePresetNames = ["precision", "models"] as const;
export type ComparePreset = (typeof comparePresetNames)[number];

export const r1Preset = "deepseek-r1-distill-qwen-1.5b";
export const phi3Preset = "phi-3-mini-4k";

/**
 * The configurations of a preset.
 * `precision`: DeepSeek-R1-Distill-Qwen-1.5B in F32 against Q8_0 (or the given precisions).
 * `models`: DeepSeek-R1-Distill-Qwen-1.5B against Phi-3-mini in one precision (Q8_0 unless given).
 */
export function presetConfigurations(
  preset: ComparePreset,
  precisions: readonly string[] = [],
): CompareConfiguration[] {
  if (preset === "precision") {
    const types = precisions.length > 0 ? precisions : ["f32", "q8_0"];
    if (types.length < 2)
      throw new InvalidArgumentError("the precision preset compares at least two precisions");
    return types.map((type) => ({
      name: `r1-1.5b-${type}`,
      engine: "embedded",
      model: `synth:${r1Preset}`,
      precision: type,
    }));
  }
  if (precisions.length > 1)
    throw new InvalidArgumentError(
      "the models preset compares the models in one precision: give one --precision",
    );
  const type = precisions[0] ?? "q8_0";
  return [
    { name: `r1-1.5b-${type}`, engine: "embedded", model: `synth:${r1Preset}`, precision: type },
    { name: `phi-3-mini-${type}`, engine: "embedded", model: `synth:${phi3Preset}`, precision: type },
  ];
}

/** One configuration per given model file (a real GGUF): its precision is read from the file later. */
export function modelConfigurations(models: readonly string[]): CompareConfiguration[] {
  const names = new Set<string>();
  return models.map((model) => {
    const file = model.startsWith("hf:") ? (model.slice(3).split("/").pop() ?? model) : basename(model);
    const stem = basename(file, extname(file));
    let name = stem.toLowerCase();
    for (let i = 2; names.has(name); i++) name = `${stem.toLowerCase()}-${i}`;
    names.add(name);
    return { name, engine: "embedded", model };
  });
}

/** The synthetic preset and type of a `synth:` model, or undefined for any other model. */
export function parseSynthModel(
  configuration: CompareConfiguration,
): { preset: string; type: SynthType } | undefined {
  if (!configuration.model.startsWith("synth:")) return undefined;
  const preset = configuration.model.slice("synth:".length);
  const type = (configuration.precision ?? "q8_0").toLowerCase();
  if (!(SYNTH_TYPES as readonly string[]).includes(type))
    throw new InvalidArgumentError(
      `configuration "${configuration.name}": precision "${configuration.precision}" is not one of ${SYNTH_TYPES.join(", ")}`,
    );
  return { preset, type: type as SynthType };
}

const engineHelp = "embedded, vllm or url:http://host:port/v1";

/** Checks one configuration from a file or flags; throws one clear line naming the entry. */
export function validateConfiguration(value: unknown, where: string): CompareConfiguration {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InvalidArgumentError(`${where}: must be an object with name, engine, model and precision`);
  const entry = value as Record<string, unknown>;
  const known = new Set(["name", "engine", "model", "precision", "options", "api-key", "api-key-env"]);
  for (const key of Object.keys(entry))
    if (!known.has(key))
      throw new InvalidArgumentError(`${where}: unknown field "${key}" (known: ${[...known].join(", ")})`);
  const name = entry["name"];
  if (typeof name !== "string" || !/^[\w.-]{1,64}$/u.test(name))
    throw new InvalidArgumentError(`${where}: "name" must be 1-64 letters, digits, '.', '_' or '-'`);
  const engine = entry["engine"] ?? "embedded";
  if (
    typeof engine !== "string" ||
    !(engine === "embedded" || engine === "vllm" || /^url:https?:\/\/\S+$/u.test(engine))
  )
    throw new InvalidArgumentError(`${where} (${name}): "engine" must be ${engineHelp}`);
  const model = entry["model"];
  if (typeof model !== "string" || model.trim() === "")
    throw new InvalidArgumentError(
      `${where} (${name}): "model" is required (a GGUF path, hf: URI or synth:<preset>)`,
    );
  const configuration: CompareConfiguration = { name, engine, model };
  const precision = entry["precision"];
  if (precision !== undefined) {
    if (typeof precision !== "string")
      throw new InvalidArgumentError(`${where} (${name}): "precision" must be a string`);
    configuration.precision = precision.toLowerCase();
  }
  const options = entry["options"];
  if (options !== undefined) {
    if (typeof options !== "object" || options === null || Array.isArray(options))
      throw new InvalidArgumentError(`${where} (${name}): "options" must be a map of serve flags`);
    const checked: Record<string, string | number | boolean> = {};
    for (const [key, option] of Object.entries(options as Record<string, unknown>)) {
      if (!/^[a-z][a-z0-9-]*$/u.test(key))
        throw new InvalidArgumentError(
          `${where} (${name}): option "${key}" is not a serve flag name (like ctx-size)`,
        );
      if (["port", "host", "model", "engine"].includes(key))
        throw new InvalidArgumentError(`${where} (${name}): option "${key}" is set by compare itself`);
      if (typeof option !== "string" && typeof option !== "number" && typeof option !== "boolean")
        throw new InvalidArgumentError(
          `${where} (${name}): option "${key}" must be a string, number or boolean`,
        );
      checked[key] = option;
    }
    configuration.options = checked;
  }
  const apiKey = entry["api-key"];
  const apiKeyEnv = entry["api-key-env"];
  if (apiKey !== undefined && apiKeyEnv !== undefined)
    throw new InvalidArgumentError(`${where} (${name}): give "api-key" or "api-key-env", not both`);
  if (apiKey !== undefined) {
    if (typeof apiKey !== "string" || apiKey === "")
      throw new InvalidArgumentError(
        `${where} (${name}): "api-key" must be a non-empty string (or \${NAME} to read an environment variable)`,
      );
    configuration.apiKey = apiKey;
  }
  if (apiKeyEnv !== undefined) {
    if (typeof apiKeyEnv !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/u.test(apiKeyEnv))
      throw new InvalidArgumentError(
        `${where} (${name}): "api-key-env" must be the name of an environment variable, like OPENAI_API_KEY`,
      );
    configuration.apiKeyEnv = apiKeyEnv;
  }
  if (configuration.model.startsWith("synth:")) parseSynthModel(configuration);
  return configuration;
}

/** Names must be unique: results, files and the table are keyed by them. */
export function checkUniqueNames(configurations: readonly CompareConfiguration[]): void {
  const seen = new Set<string>();
  for (const c of configurations) {
    if (seen.has(c.name))
      throw new InvalidArgumentError(`two configurations are named "${c.name}": names must be unique`);
    seen.add(c.name);
  }
}

/** What a compare file may set besides its configurations. */
export interface CompareFile {
  configurations: CompareConfiguration[];
  reference?: string;
  profile?: CompareProfileName;
  slo?: string;
  dataset?: string;
  embeddings?: string;
}

/**
 * Reads a YAML or JSON compare file:
 *
 *   reference: r1-f32
 *   configurations:
 *     - { name: r1-f32, engine: embedded, model: ./r1-f32.gguf }
 *     - { name: r1-q8, engine: embedded, model: synth:deepseek-r1-distill-qwen-1.5b, precision: q8_0 }
 *     - { name: r1-vllm-fp8, engine: vllm, model: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B, options: { quantization: fp8 } }
 */
export async function loadCompareFile(path: string): Promise<CompareFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the compare file ${path}: ${errorMessage(error)}`);
  }
  return parseCompareFile(text, path);
}

/** Parses the text of a compare file (YAML, which includes JSON). */
export function parseCompareFile(text: string, path = "compare file"): CompareFile {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `${path} is not valid YAML or JSON: ${errorMessage(error).split("\n")[0]}`,
    );
  }
  const root = Array.isArray(document) ? { configurations: document } : document;
  if (typeof root !== "object" || root === null)
    throw new InvalidArgumentError(`${path}: expected a map with "configurations" (a list)`);
  const fields = root as Record<string, unknown>;
  const known = new Set(["configurations", "reference", "profile", "slo", "dataset", "embeddings"]);
  for (const key of Object.keys(fields))
    if (!known.has(key))
      throw new InvalidArgumentError(`${path}: unknown field "${key}" (known: ${[...known].join(", ")})`);
  const list = fields["configurations"];
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidArgumentError(`${path}: "configurations" must be a non-empty list`);
  const configurations = list.map((entry, i) =>
    validateConfiguration(entry, `${path}: configurations[${i}]`),
  );
  checkUniqueNames(configurations);
  const file: CompareFile = { configurations };
  for (const key of ["reference", "slo", "dataset", "embeddings"] as const) {
    const value = fields[key];
    if (value === undefined) continue;
    if (typeof value !== "string") throw new InvalidArgumentError(`${path}: "${key}" must be a string`);
    file[key] = value;
  }
  const profile = fields["profile"];
  if (profile !== undefined) {
    if (profile !== "smoke" && profile !== "quick" && profile !== "full")
      throw new InvalidArgumentError(`${path}: "profile" must be smoke, quick or full`);
    file.profile = profile;
  }
  return file;
}
