/** Token counting for exact synthetic prompt lengths and for counting streamed tokens without usage. */
import { InvalidArgumentError } from "../core/errors.js";

/** Anything that counts the tokens of a text the way the served model does. */
export interface Tokenizer {
  countTokens(text: string): Promise<number> | number;
  /** Releases the model, when the tokenizer holds one. */
  dispose?(): Promise<void> | void;
}

/**
 * Load the vocabulary of a GGUF model (no weights) through node-llama-cpp, on the CPU.
 * @throws InvalidArgumentError when the file cannot be loaded.
 */
export async function loadGgufTokenizer(modelPath: string): Promise<Tokenizer> {
  try {
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false });
    const model = await llama.loadModel({ modelPath, vocabOnly: true });
    return {
      countTokens: (text: string) => model.tokenize(text).length,
      dispose: async () => {
        await model.dispose();
        await llama.dispose();
      },
    };
  } catch (err) {
    throw new InvalidArgumentError(
      `--tokenizer could not load "${modelPath}" (${err instanceof Error ? err.message : String(err)}); give a GGUF file of the served model`,
      { param: "tokenizer", cause: err },
    );
  }
}
