/**
 * The model servelab uses when none is given: DeepSeek-R1-Distill-Qwen-1.5B. No weights can be
 * downloaded here, so the real-shape synthetic model is made once into the cache folder.
 */
import { access } from "node:fs/promises";
import { formatBytes } from "../core/format.js";
import type { SynthType } from "./presets.js";
import { defaultModelPath, synthesizeModel } from "./synthesize.js";

export const defaultPreset = "deepseek-r1-distill-qwen-1.5b";

export interface DefaultModelOptions {
  type?: SynthType;
  preset?: string;
  onProgress?: ((message: string) => void) | undefined;
}

/** Path of the default synthetic model, synthesized on first use. */
export async function resolveDefaultModel(options: DefaultModelOptions = {}): Promise<string> {
  const preset = options.preset ?? defaultPreset;
  const type = options.type ?? "q8_0";
  const path = defaultModelPath(preset, type);
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) return path;
  const report = options.onProgress ?? ((m: string) => process.stderr.write(m));
  report(`synthesizing ${preset} (${type}) once into ${path}: real architecture, random weights\n`);
  let lastPercent = -1;
  await synthesizeModel({
    preset,
    type,
    outputPath: path,
    onProgress: (p) => {
      const percent = Math.floor((p.bytesWritten / p.totalBytes) * 100);
      if (percent !== lastPercent && percent % 10 === 0) {
        lastPercent = percent;
        report(`  ${percent}% of ${formatBytes(p.totalBytes)}\n`);
      }
    },
  });
  return path;
}
