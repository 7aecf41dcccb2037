/**
 * The tokens that agreement's "first differing token" is counted in: the reference model's own, from its
 * GGUF vocabulary (loaded without weights) or from a running `url:` server's /tokenize. Both texts of a
 * pair are cut by the same tokenizer, so positions compare even between models of different vocabularies.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { loadGgufTokenizer } from "../bench/tokenizer.js";
import { defaultModelPath } from "../models/synthesize.js";
import { parseSynthModel, type CompareConfiguration } from "./config.js";
import type { Tokenize } from "./quality/agreement.js";

/** A model tokenizer for agreement, with what the report calls it. */
export interface AgreementTokenizer {
  /** E.g. "model tokens (r1-f32: r1-f32.gguf)"; AgreementSummary.tokenizer. */
  name: string;
  tokenize: Tokenize;
  dispose(): Promise<void>;
}

export interface OpenAgreementTokenizerOptions {
  /** The reference configuration. */
  configuration: CompareConfiguration;
  /** Bearer key of a `url:` server, when it needs one. */
  apiKey?: string | undefined;
}

/** The GGUF file of an embedded configuration, when there is one on disk (synth: models once made). */
export function modelFileOf(configuration: CompareConfiguration): string | undefined {
  if (configuration.engine !== "embedded") return undefined;
  const synth = parseSynthModel(configuration);
  const path =
    synth === undefined
      ? configuration.model.startsWith("hf:")
        ? undefined
        : configuration.model
      : defaultModelPath(synth.preset, synth.type);
  return path !== undefined && existsSync(path) ? path : undefined;
}

/** Token ids from a server's /tokenize (vLLM's `{model, prompt}` form, then llama-server's `{content}`). */
async function tokenizeRemote(
  rootUrl: string,
  model: string,
  text: string,
  apiKey: string | undefined,
): Promise<number[]> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  let last = "";
  for (const body of [{ model, prompt: text, add_special_tokens: false }, { content: text }]) {
    const response = await fetch(`${rootUrl}/tokenize`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const parsed = (await response.json().catch(() => undefined)) as { tokens?: unknown } | undefined;
    const tokens = parsed?.tokens;
    if (response.ok && Array.isArray(tokens) && tokens.every((t) => typeof t === "number")) return tokens;
    last = `HTTP ${response.status}`;
  }
  throw new Error(`${rootUrl}/tokenize gave no tokens (${last})`);
}

/**
 * The reference's own tokenizer, or undefined when none is reachable (a vLLM configuration, whose server
 * is gone by the time agreement is computed, or an hf: model): agreement then counts words and says so.
 */
export async function openAgreementTokenizer(
  options: OpenAgreementTokenizerOptions,
): Promise<AgreementTokenizer | undefined> {
  const { configuration } = options;
  const file = modelFileOf(configuration);
  if (file !== undefined) {
    try {
      const tokenizer = await loadGgufTokenizer(file);
      const tokenize = tokenizer.tokenize;
      if (tokenize === undefined) {
        await tokenizer.dispose?.();
        return undefined;
      }
      return {
        name: `model tokens (${configuration.name}: ${basename(file)})`,
        tokenize: (text) => tokenize(text),
        dispose: async () => {
          await tokenizer.dispose?.();
        },
      };
    } catch {
      return undefined;
    }
  }
  if (configuration.engine.startsWith("url:")) {
    const base = configuration.engine.slice("url:".length).replace(/\/+$/u, "");
    const root = base.replace(/\/v1$/u, "");
    const tokenize = (text: string) => tokenizeRemote(root, configuration.model, text, options.apiKey);
    try {
      await tokenize("2 + 2 = 4");
    } catch {
      return undefined;
    }
    return {
      name: `model tokens (${configuration.name}, from its /tokenize)`,
      tokenize,
      dispose: async () => undefined,
    };
  }
  return undefined;
}
