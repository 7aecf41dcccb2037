/**
 * Synthetic GGUF models of the real shapes: seeded random weights with the exact architecture (the
 * honest stand-in for speed and memory figures), or scripted models whose continuation of any prompt
 * is a fixed text and then end-of-sequence (for tests that drive the real engine end to end).
 */
import { createHash } from "node:crypto";
import { access, mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { InvalidArgumentError } from "../core/errors.js";
import { countElements } from "./gguf/types.js";
import { getMetadataString, gguf, type GgufMetadata } from "./gguf/metadata.js";
import { computeGgufFileSize, writeGguf, type GgufTensorSpec, type GgufWriteProgress } from "./gguf/write.js";
import {
  SYNTH_TYPES,
  buildArchitectureMetadata,
  chooseTensorType,
  getPreset,
  listPresetTensors,
  type ModelPreset,
  type PresetTensor,
  type SynthType,
} from "./presets.js";
import { buildBuiltinVocabulary } from "./tokenizer/builtin-bpe.js";
import {
  TokenType,
  addSpecialTokens,
  buildTokenizerMetadata,
  loadVocabulary,
  readTemplateAsset,
  splitScript,
  type Vocabulary,
} from "./tokenizer/vocab.js";

/** Bumped whenever the bytes synthesizeModel writes for the same options change (cache keys use it).
 * 2: `--vocab-from` adds the preset's special tokens and template; 3: scripted models carry
 * `servelab.synthetic = "scripted"`. */
export const GENERATOR_VERSION = 3;

/** GGUF key saying how synthetic weights were made: "scripted" on scripted models. Random-weight models
 * do not carry it (their bytes stay as they were); their general.name says "(synthetic)". */
export const SYNTHETIC_KEY = "servelab.synthetic";

/**
 * How a model's weights were made, from its metadata: "scripted" (`--script`: a fixed continuation, known
 * in advance), "random" (a synthetic model without a script), or undefined for any other model.
 */
export function readSyntheticKind(metadata: GgufMetadata): "scripted" | "random" | undefined {
  if (getMetadataString(metadata, SYNTHETIC_KEY) === "scripted") return "scripted";
  return getMetadataString(metadata, "general.name")?.includes("(synthetic)") === true ? "random" : undefined;
}

/**
 * The tokenizer of a synthetic model: "real", the preset's real vocabulary (Qwen2 with R1's special
 * tokens: 151,936 entries; Phi-3: 32,064), or "builtin", servelab's own byte-level BPE of 256 bytes and
 * 256 merges plus the preset's special tokens and template (a tiny model of a few hundred KB).
 */
export type TokenizerKind = "real" | "builtin";
export const TOKENIZER_KINDS: readonly TokenizerKind[] = ["real", "builtin"];

/** Options of synthesizeModel and planModel. */
export interface SynthesizeOptions {
  /** Preset id (see PRESETS) or a preset object. */
  preset: string | ModelPreset;
  /** Tensor precision. Default "f16". */
  type?: SynthType;
  /** Output file. Default: defaultModelPath(preset, type, options). */
  outputPath?: string;
  /** Seed of the random weights. Default 0. */
  seed?: number;
  /** Make a scripted model: its continuation of any prompt is this text, then end-of-sequence. */
  script?: string;
  /**
   * Copy every tokenizer.* key from this GGUF instead of the preset's vocabulary. The preset's special
   * tokens and chat template are added when the file lacks them (see addSpecialTokens).
   */
  vocabFrom?: string;
  /** The preset's real vocabulary, or servelab's small built-in one. Default "real". */
  tokenizer?: TokenizerKind;
  /** Overwrite an existing file. Default false. */
  force?: boolean;
  /** Called as the tensor data is written. */
  onProgress?: (progress: GgufWriteProgress) => void;
  signal?: AbortSignal;
}

/** A model's plan: what synthesizeModel would write. */
export interface ModelPlan {
  readonly preset: ModelPreset;
  readonly type: SynthType;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorSpec[];
  /** Exact size of the file in bytes. */
  readonly fileSize: number;
  readonly parameters: number;
  readonly vocabSize: number;
  /** Tokens of the script (each its own id), when scripted. */
  readonly scriptTokens: number | undefined;
  /** The preset's special tokens that the --vocab-from vocabulary lacked and that were added. */
  readonly addedSpecialTokens: readonly { id: number; text: string }[];
}

/** What synthesizeModel wrote. */
export interface SynthesizeResult {
  readonly path: string;
  readonly preset: string;
  readonly type: SynthType;
  readonly bytes: number;
  readonly parameters: number;
  readonly tensorCount: number;
  readonly vocabSize: number;
  readonly scriptTokens: number | undefined;
  readonly addedSpecialTokens: readonly { id: number; text: string }[];
}

/** The cache folder for synthetic models: $SERVELAB_CACHE/models or ~/.cache/servelab/models. */
export function resolveModelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.SERVELAB_CACHE !== undefined && env.SERVELAB_CACHE !== ""
      ? env.SERVELAB_CACHE
      : join(homedir(), ".cache", "servelab");
  return join(base, "models");
}

/** What, besides the preset and type, sets a synthetic model's default file name. */
export interface ModelPathOptions {
  script?: string | undefined;
  tokenizer?: TokenizerKind | undefined;
  vocabFrom?: string | undefined;
}

const shortHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 12);

/**
 * The default output path: <cache>/models/<preset>-<type>[-builtin-bpe][-vocab-<hash of the file>]
 * [-<hash of script>].gguf. The tokenizer is in the name so that a model with another vocabulary never
 * takes the place of the default model (resolveDefaultModel).
 */
export function defaultModelPath(
  preset: string,
  type: SynthType,
  options: ModelPathOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): string {
  let name = `${preset}-${type}`;
  if (options.tokenizer === "builtin") name += "-builtin-bpe";
  if (options.vocabFrom !== undefined) name += `-vocab-${shortHash(resolve(options.vocabFrom))}`;
  if (options.script !== undefined) name += `-${shortHash(options.script)}`;
  return join(resolveModelCacheDir(env), `${name}.gguf`);
}

function hashName(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b9);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** std 0.02, triangular (sum of two uniforms): small weights keep activations finite. */
const RANDOM_SCALE = 0.02 / Math.sqrt(1 / 6) / 65535;

function fillRandom(seed: number): (start: number, out: Float32Array) => void {
  return (start, out) => {
    for (let i = 0; i < out.length; i++) {
      // lowbias32 hash of the element index: counter-based, so any chunking gives the same values
      let x = (seed + start + i) | 0;
      x ^= x >>> 16;
      x = Math.imul(x, 0x7feb352d);
      x ^= x >>> 15;
      x = Math.imul(x, 0x846ca68b);
      x ^= x >>> 16;
      out[i] = ((x & 0xffff) + (x >>> 16) - 65535) * RANDOM_SCALE;
    }
  };
}

const fillZero = (): void => undefined;
const fillOne = (_start: number, out: Float32Array): void => {
  out.fill(1);
};

/**
 * Direction k of the scripted model's embedding space (k = 0 is the shared direction of every prompt
 * token). Up to 2d directions are ±unit vectors (exactly orthogonal or opposite); beyond, ±u_i ± u_j
 * pairs, whose overlaps are at most half, which the logit scale absorbs.
 */
function scriptDirection(k: number, d: number): { idx: number[]; val: number[] } {
  if (k < 2 * d) return { idx: [k >> 1], val: [k & 1 ? -1 : 1] };
  let r = k - 2 * d;
  const pair = r >> 2;
  const signs = r & 3;
  // pair -> (i, j), i < j
  let i = 0;
  r = pair;
  while (r >= d - 1 - i) {
    r -= d - 1 - i;
    i++;
  }
  const j = i + 1 + r;
  return { idx: [i, j], val: [signs & 1 ? -1 : 1, signs & 2 ? -1 : 1] };
}

function maxScriptDirections(d: number): number {
  return 2 * d + 4 * ((d * (d - 1)) / 2);
}

interface ScriptLayout {
  /** token id -> direction index of its embedding (absent: 0, the shared one). */
  readonly embedDir: Map<number, number>;
  /** token id -> direction index its output row points at (absent: zero row). */
  readonly outputDir: Map<number, number>;
  readonly pairMode: boolean;
}

function fillScriptRows(d: number, dirOf: Map<number, number>, fallback: number | undefined, scale: number) {
  return (start: number, out: Float32Array): void => {
    const row0 = start / d;
    const rows = out.length / d;
    for (let r = 0; r < rows; r++) {
      const k = dirOf.get(row0 + r) ?? fallback;
      if (k === undefined) continue;
      const { idx, val } = scriptDirection(k, d);
      for (let n = 0; n < idx.length; n++) out[r * d + (idx[n] ?? 0)] = (val[n] ?? 0) * scale;
    }
  };
}

function makeFill(
  t: PresetTensor,
  seed: number,
  d: number,
  script: ScriptLayout | undefined,
): GgufTensorSpec["fill"] {
  switch (t.role) {
    case "norm":
      return fillOne;
    case "bias":
      return fillZero;
    case "attn_output":
    case "ffn_down":
      // a scripted model's blocks add nothing: the residual stream stays the token embedding
      return script ? fillZero : fillRandom(hashName(t.name, seed));
    case "embedding":
      return script ? fillScriptRows(d, script.embedDir, 0, 1) : fillRandom(hashName(t.name, seed));
    case "output": {
      if (!script) return fillRandom(hashName(t.name, seed));
      // target logit: 60 (unit directions) or 80 (pairs, whose overlaps give at most half of it)
      const scale = script.pairMode ? 80 / Math.sqrt(2 * d) : 60 / Math.sqrt(d);
      return fillScriptRows(d, script.outputDir, undefined, scale);
    }
    default:
      return fillRandom(hashName(t.name, seed));
  }
}

function checkType(type: string): SynthType {
  if (!(SYNTH_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(`--type must be one of ${SYNTH_TYPES.join(", ")}, got '${type}'`, {
      param: "type",
    });
  }
  return type as SynthType;
}

function checkTokenizer(options: SynthesizeOptions): TokenizerKind {
  const kind = options.tokenizer ?? "real";
  if (!TOKENIZER_KINDS.includes(kind)) {
    throw new InvalidArgumentError(
      `--tokenizer must be one of ${TOKENIZER_KINDS.join(", ")}, got '${String(kind)}'`,
      { param: "tokenizer" },
    );
  }
  if (kind === "builtin" && options.vocabFrom !== undefined) {
    throw new InvalidArgumentError("--tokenizer builtin and --vocab-from exclude each other: pass one", {
      param: "tokenizer",
    });
  }
  return kind;
}

/** The vocabulary a model gets: the preset's real one, the built-in BPE, or a file's, with the preset's specials. */
async function resolveVocabulary(
  preset: ModelPreset,
  options: SynthesizeOptions,
): Promise<{ vocab: Vocabulary; added: readonly { id: number; text: string }[] }> {
  const kind = checkTokenizer(options);
  if (options.vocabFrom !== undefined) {
    const r = addSpecialTokens(await loadVocabulary({ path: options.vocabFrom }), preset.vocabulary);
    return { vocab: r.vocabulary, added: r.added };
  }
  if (kind === "builtin") {
    // R1's real pre-tokenizer name; both select llama.cpp's Qwen2 word splitting
    const pre = preset.vocabulary === "qwen2-r1" ? "deepseek-r1-qwen" : undefined;
    return { vocab: addSpecialTokens(buildBuiltinVocabulary(pre), preset.vocabulary).vocabulary, added: [] };
  }
  return { vocab: await loadVocabulary(preset.vocabulary), added: [] };
}

/** Builds the metadata and tensor table of a synthetic model without writing anything. */
export async function planModel(options: SynthesizeOptions): Promise<ModelPlan> {
  const preset = typeof options.preset === "string" ? getPreset(options.preset) : options.preset;
  const type = checkType(options.type ?? "f16");
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError(`--seed must be an integer from 0 to 4294967295, got ${seed}`, {
      param: "seed",
    });
  }
  const { vocab, added } = await resolveVocabulary(preset, options);
  const d = preset.hidden;
  let script: ScriptLayout | undefined;
  if (options.script !== undefined) {
    const pieces = splitScript(options.script, vocab);
    if (pieces.length + 1 > maxScriptDirections(d)) {
      throw new InvalidArgumentError(
        `--script has ${pieces.length} tokens; a ${preset.id} model (hidden ${d}) holds at most ${maxScriptDirections(d) - 1}`,
        { param: "script" },
      );
    }
    const ids: number[] = [];
    const spare = [...vocab.spareIds];
    for (const p of pieces) {
      const id = spare.shift() ?? vocab.tokens.length;
      vocab.tokens[id] = p.stored;
      vocab.tokenTypes[id] = TokenType.NORMAL;
      if (vocab.scores) vocab.scores[id] = -10000;
      ids.push(id);
    }
    const embedDir = new Map<number, number>();
    const outputDir = new Map<number, number>();
    ids.forEach((id, k) => {
      embedDir.set(id, k + 1);
      outputDir.set(id, k); // the row of script token k points at its predecessor (k = 0: the shared one)
    });
    outputDir.set(vocab.eosTokenId, ids.length);
    script = { embedDir, outputDir, pairMode: ids.length + 1 > 2 * d };
  }
  const vocabSize = vocab.tokens.length;
  // written only where the vocabulary carries no template (a foreign one was dropped by addSpecialTokens)
  const template = await readTemplateAsset(preset.template);
  const metadata = buildArchitectureMetadata(preset, type);
  for (const [k, v] of buildTokenizerMetadata(vocab, template)) metadata.set(k, v);
  if (script !== undefined) metadata.set(SYNTHETIC_KEY, gguf.str("scripted"));
  const tensors: GgufTensorSpec[] = listPresetTensors(preset, vocabSize).map((t) => ({
    name: t.name,
    shape: t.shape,
    type: chooseTensorType(t, type),
    fill: makeFill(t, seed, d, script),
  }));
  return {
    preset,
    type,
    metadata,
    tensors,
    fileSize: computeGgufFileSize(metadata, tensors),
    parameters: tensors.reduce((n, t) => n + countElements(t.shape), 0),
    vocabSize,
    scriptTokens: script === undefined ? undefined : script.embedDir.size,
    addedSpecialTokens: added,
  };
}

/**
 * Writes a synthetic GGUF model that llama.cpp (node-llama-cpp) loads and generates from.
 * @throws InvalidArgumentError for a bad option or an existing file without `force`.
 */
export async function synthesizeModel(options: SynthesizeOptions): Promise<SynthesizeResult> {
  const plan = await planModel(options);
  const path = options.outputPath ?? defaultModelPath(plan.preset.id, plan.type, options);
  if (!options.force) {
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (exists)
      throw new InvalidArgumentError(`${path} already exists; pass --force to overwrite it`, {
        param: "output",
      });
  }
  await mkdir(dirname(path), { recursive: true });
  const written = await writeGguf(path, {
    metadata: plan.metadata,
    tensors: plan.tensors,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return {
    path,
    preset: plan.preset.id,
    type: plan.type,
    bytes: written.bytes,
    parameters: plan.parameters,
    tensorCount: plan.tensors.length,
    vocabSize: plan.vocabSize,
    scriptTokens: plan.scriptTokens,
    addedSpecialTokens: plan.addedSpecialTokens,
  };
}
