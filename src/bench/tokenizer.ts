/** Token counting for exact synthetic prompt lengths and for counting streamed tokens without usage. */
import { InvalidArgumentError } from "../core/errors.js";

/** Anything that counts the tokens of a text the way the served model does. */
export interface Tokenizer {
  countTokens(text: string): Promise<number> | number;
  /** The token ids of `text`, special tokens in it parsed as such (as in a model's own output), when the
   * tokenizer can give them. */
  tokenize?(text: string): Promise<readonly number[]> | readonly number[];
  /** Releases the model, when the tokenizer holds one. */
  dispose?(): Promise<void> | void;
}

/**
 * Load the vocabulary of a GGUF model (no weights) through node-llama-cpp, on the CPU.
 * @throws InvalidArgumentError when the file cannot be loaded.
 */
export async function loadGgufTokenizer(modelPath: string): Promise<Tokenizer> {
  try {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    // Errors only, on stderr: a vocabulary-only load warns about model details that do not matter for
    // tokens, and llama.cpp prints the logs of a second instance in a process (compare's embedding
    // model) on stdout, where results go, unless this one's level is above them.
    const options = {
      // never build llama.cpp from source here: with no binary for the machine, node-llama-cpp would
      // otherwise start a git clone and a compile (a hang with no network) just to read a vocabulary
      build: "never",
      logLevel: LlamaLogLevel.error,
      logger: (_level: unknown, message: string) => process.stderr.write(`${message.trimEnd()}\n`),
    } as const;
    // The CPU binary first (no GPU memory for a vocabulary); else whichever binary the engine uses (a
    // machine with only a local CUDA build has no CPU one).
    const llama = await getLlama({ ...options, gpu: false }).catch(() =>
      getLlama({ ...options, gpu: "auto" }),
    );
    const model = await llama.loadModel({ modelPath, vocabOnly: true });
    return {
      countTokens: (text: string) => model.tokenize(text).length,
      tokenize: (text: string) => model.tokenize(text, true),
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
