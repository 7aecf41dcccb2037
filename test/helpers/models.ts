/**
 * Tiny synthetic models for tests. `tinyModel()` synthesizes once per distinct options (cached under
 * os.tmpdir()/servelab-test-models/, keyed by the options and the generator version; written under a
 * temporary name and renamed, so parallel test files never see a half-written model) and returns the path.
 *
 *   const path = await tinyModel();                                  // tiny R1-shaped qwen2, f16
 *   const scripted = await tinyModel({ script: "<think>\nhm\n</think>\n\nHi." });
 *   const phi = await tinyModel({ preset: "tiny-phi-3", type: "q8_0" });
 *   const small = await tinyModel({ tokenizer: "builtin" });          // servelab's BPE: ~300 KB, not 21 MB
 */
import { createHash } from "node:crypto";
import { access, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GENERATOR_VERSION, synthesizeModel, type TokenizerKind } from "../../src/models/synthesize.js";
import type { SynthType } from "../../src/models/presets.js";

export interface TinyModelOptions {
  /** A scripted model: continues any prompt with this text, then end-of-sequence. */
  script?: string;
  /** Default "tiny-deepseek-r1-distill-qwen". */
  preset?: string;
  /** Default "f16". */
  type?: string;
  /** Default "real": the preset's real vocabulary (tokenization vectors, R1's real special-token ids). */
  tokenizer?: TokenizerKind;
}

const pending = new Map<string, Promise<string>>();

/** The folder the test models are cached in. */
export const testModelDir = join(tmpdir(), "servelab-test-models");

/** Path of a tiny synthetic model with these options, synthesizing it on first use. */
export async function tinyModel(options: TinyModelOptions = {}): Promise<string> {
  const preset = options.preset ?? "tiny-deepseek-r1-distill-qwen";
  const type = options.type ?? "f16";
  const tokenizer = options.tokenizer ?? "real";
  const key = createHash("sha256")
    .update(JSON.stringify({ v: GENERATOR_VERSION, preset, type, script: options.script ?? null, tokenizer }))
    .digest("hex")
    .slice(0, 16);
  const path = join(testModelDir, `${preset}-${type}-${key}.gguf`);
  let p = pending.get(path);
  if (p === undefined) {
    p = (async () => {
      const exists = await access(path).then(
        () => true,
        () => false,
      );
      if (!exists) {
        await mkdir(testModelDir, { recursive: true });
        await synthesizeModel({
          preset,
          type: type as SynthType,
          outputPath: path,
          force: true,
          tokenizer,
          ...(options.script !== undefined ? { script: options.script } : {}),
        });
      }
      return path;
    })();
    pending.set(path, p);
    p.catch(() => pending.delete(path));
  }
  return p;
}
