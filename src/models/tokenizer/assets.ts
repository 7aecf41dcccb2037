/** Paths of the files servelab ships under assets/, resolved from this module so they work from src and dist. */
import { fileURLToPath } from "node:url";

const root = new URL("../../../assets/", import.meta.url);

/** Absolute path of a file under assets/ ("tokenizers/ggml-vocab-qwen2.gguf"). */
export function resolveAssetPath(relative: string): string {
  return fileURLToPath(new URL(relative, root));
}
