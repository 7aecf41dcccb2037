/**
 * Tokenizer metadata for synthetic models: the real Qwen2 (with DeepSeek-R1's special tokens) and Phi-3
 * vocabularies copied from llama.cpp's vocab files, or all tokenizer.* keys of any GGUF (--vocab-from).
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../../core/errors.js";
import { readGguf } from "../gguf/read.js";
import { GgufValueType } from "../gguf/types.js";
import {
  gguf,
  getMetadataArray,
  getMetadataNumber,
  getMetadataString,
  type GgufMetadata,
} from "../gguf/metadata.js";
import { resolveAssetPath } from "./assets.js";

/** Token types of tokenizer.ggml.token_type (llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Built-in vocabularies. */
export type VocabularyName = "qwen2-r1" | "phi-3";

/** A vocabulary as metadata entries plus the token table, editable before writing. */
export interface Vocabulary {
  /** tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece). */
  readonly model: string;
  tokens: string[];
  tokenTypes: number[];
  scores: number[] | undefined;
  /** Every tokenizer.* key other than tokens, token_type and scores, in file order. */
  readonly other: GgufMetadata;
  readonly eosTokenId: number;
  /** Ids free to reuse (padding slots). */
  readonly spareIds: number[];
}

/** DeepSeek-R1-Distill-Qwen's added tokens at their real ids and types (special=true → CONTROL). */
export const R1_SPECIAL_TOKENS: readonly { id: number; text: string; type: number }[] = [
  { id: 151643, text: "<｜end▁of▁sentence｜>", type: TokenType.CONTROL },
  { id: 151644, text: "<｜User｜>", type: TokenType.USER_DEFINED },
  { id: 151645, text: "<｜Assistant｜>", type: TokenType.USER_DEFINED },
  { id: 151646, text: "<｜begin▁of▁sentence｜>", type: TokenType.CONTROL },
  { id: 151647, text: "<|EOT|>", type: TokenType.USER_DEFINED },
  { id: 151648, text: "<think>", type: TokenType.USER_DEFINED },
  { id: 151649, text: "</think>", type: TokenType.USER_DEFINED },
];

/** Phi-3-mini's special tokens at their real ids (all special=true in its tokenizer.json → CONTROL). */
export const PHI3_SPECIAL_TOKENS: readonly { id: number; text: string; type: number }[] = [
  { id: 1, text: "<s>", type: TokenType.CONTROL },
  { id: 32000, text: "<|endoftext|>", type: TokenType.CONTROL },
  { id: 32001, text: "<|assistant|>", type: TokenType.CONTROL },
  { id: 32006, text: "<|system|>", type: TokenType.CONTROL },
  { id: 32007, text: "<|end|>", type: TokenType.CONTROL },
  { id: 32010, text: "<|user|>", type: TokenType.CONTROL },
];

/** The special tokens a preset's chat template and stop logic need, and which are BOS and EOS. */
export interface SpecialTokenSet {
  readonly tokens: readonly { id: number; text: string; type: number }[];
  readonly bos: string;
  readonly eos: string;
}

/** The special tokens of each built-in vocabulary's model. */
export const SPECIAL_TOKENS: Readonly<Record<VocabularyName, SpecialTokenSet>> = {
  "qwen2-r1": { tokens: R1_SPECIAL_TOKENS, bos: "<｜begin▁of▁sentence｜>", eos: "<｜end▁of▁sentence｜>" },
  "phi-3": { tokens: PHI3_SPECIAL_TOKENS, bos: "<s>", eos: "<|endoftext|>" },
};

/** What addSpecialTokens did. */
export interface SpecialTokensResult {
  readonly vocabulary: Vocabulary;
  /** The special tokens that were missing and were added, with the ids they got. */
  readonly added: readonly { id: number; text: string }[];
}

/**
 * Gives a vocabulary the special tokens of `name`'s model (R1: begin/end of sentence, User, Assistant,
 * <think>, </think>; Phi-3: <|user|>, <|assistant|>, <|end|>, ...). Tokens the vocabulary already has
 * keep their ids, and a vocabulary that has them all is returned unchanged. A missing token goes to its
 * real id when that slot is a padding entry, else to the first padding entry left, else to the end. When
 * any was missing, the vocabulary belongs to another model: BOS/EOS/padding ids are pointed at the
 * preset's tokens and its own chat template is dropped, so the preset's template goes in instead.
 */
export function addSpecialTokens(vocab: Vocabulary, name: VocabularyName): SpecialTokensResult {
  const set = SPECIAL_TOKENS[name];
  const present = new Set(vocab.tokens);
  const missing = set.tokens.filter((t) => !present.has(t.text));
  if (missing.length === 0) return { vocabulary: vocab, added: [] };
  const tokens = vocab.tokens.slice();
  const tokenTypes = vocab.tokenTypes.slice();
  const scores = vocab.scores?.slice();
  const spare = new Set(vocab.spareIds);
  const added: { id: number; text: string }[] = [];
  const place = (t: { text: string; type: number }, id: number): void => {
    tokens[id] = t.text;
    tokenTypes[id] = t.type;
    if (scores) scores[id] = 0;
    spare.delete(id);
    added.push({ id, text: t.text });
  };
  const later = missing.filter((t) => {
    if (!spare.has(t.id)) return true;
    place(t, t.id);
    return false;
  });
  for (const t of later) place(t, spare.values().next().value ?? tokens.length);
  added.sort((a, b) => a.id - b.id);
  const idOf = (text: string): number => tokens.indexOf(text);
  const other = new Map(vocab.other);
  other.set("tokenizer.ggml.bos_token_id", gguf.u32(idOf(set.bos)));
  other.set("tokenizer.ggml.eos_token_id", gguf.u32(idOf(set.eos)));
  other.set("tokenizer.ggml.padding_token_id", gguf.u32(idOf(set.eos)));
  other.set("tokenizer.ggml.add_bos_token", gguf.bool(true));
  other.set("tokenizer.ggml.add_eos_token", gguf.bool(false));
  other.delete("tokenizer.chat_template");
  return {
    vocabulary: {
      model: vocab.model,
      tokens,
      tokenTypes,
      scores,
      other,
      eosTokenId: idOf(set.eos),
      spareIds: [...spare],
    },
    added,
  };
}

const cache = new Map<string, Promise<GgufMetadata>>();

async function readTokenizerKeys(path: string): Promise<GgufMetadata> {
  let p = cache.get(path);
  if (p === undefined) {
    p = readGguf(path).then((f) => new Map([...f.metadata].filter(([k]) => k.startsWith("tokenizer."))));
    cache.set(path, p);
    p.catch(() => cache.delete(path));
  }
  return p;
}

function toVocabulary(meta: GgufMetadata, source: string): Vocabulary {
  const tokens = getMetadataArray(meta, "tokenizer.ggml.tokens");
  if (tokens === undefined || tokens.itemType !== GgufValueType.STRING || tokens.items.length === 0) {
    throw new InvalidArgumentError(`${source} has no tokenizer.ggml.tokens: pass a GGUF with a vocabulary`);
  }
  const types = getMetadataArray(meta, "tokenizer.ggml.token_type");
  const scores = getMetadataArray(meta, "tokenizer.ggml.scores");
  const other: GgufMetadata = new Map();
  for (const [k, v] of meta) {
    if (k !== "tokenizer.ggml.tokens" && k !== "tokenizer.ggml.token_type" && k !== "tokenizer.ggml.scores")
      other.set(k, v);
  }
  const list = tokens.items as string[];
  const tokenTypes =
    types === undefined ? list.map(() => TokenType.NORMAL) : (types.items as number[]).slice();
  const spareIds: number[] = [];
  for (let i = 0; i < list.length; i++) if (/^\[PAD\d+\]$/.test(list[i] ?? "")) spareIds.push(i);
  return {
    model: getMetadataString(meta, "tokenizer.ggml.model") ?? "gpt2",
    tokens: list.slice(),
    tokenTypes,
    scores: scores === undefined ? undefined : (scores.items as number[]).slice(),
    other,
    eosTokenId: getMetadataNumber(meta, "tokenizer.ggml.eos_token_id") ?? list.length - 1,
    spareIds,
  };
}

/** Loads a built-in vocabulary (from assets/) or all tokenizer.* keys of a GGUF file. */
export async function loadVocabulary(from: VocabularyName | { path: string }): Promise<Vocabulary> {
  if (typeof from === "object") return toVocabulary(await readTokenizerKeys(from.path), from.path);
  if (from === "phi-3")
    return toVocabulary(
      await readTokenizerKeys(resolveAssetPath("tokenizers/ggml-vocab-phi-3.gguf")),
      "phi-3",
    );
  const base = toVocabulary(
    await readTokenizerKeys(resolveAssetPath("tokenizers/ggml-vocab-qwen2.gguf")),
    "qwen2",
  );
  for (const t of R1_SPECIAL_TOKENS) {
    base.tokens[t.id] = t.text;
    base.tokenTypes[t.id] = t.type;
  }
  const taken = new Set(R1_SPECIAL_TOKENS.map((t) => t.id));
  const other = new Map(base.other);
  other.set("tokenizer.ggml.pre", gguf.str("deepseek-r1-qwen"));
  other.set("tokenizer.ggml.bos_token_id", gguf.u32(151646));
  other.set("tokenizer.ggml.eos_token_id", gguf.u32(151643));
  other.set("tokenizer.ggml.padding_token_id", gguf.u32(151643));
  other.set("tokenizer.ggml.add_bos_token", gguf.bool(true));
  other.set("tokenizer.ggml.add_eos_token", gguf.bool(false));
  other.delete("tokenizer.chat_template");
  return { ...base, other, eosTokenId: 151643, spareIds: base.spareIds.filter((id) => !taken.has(id)) };
}

/** The vocabulary's metadata entries, tokenizer.ggml.model first as llama.cpp writes them. */
export function buildTokenizerMetadata(vocab: Vocabulary, chatTemplate: string | undefined): GgufMetadata {
  const m: GgufMetadata = new Map();
  const model = vocab.other.get("tokenizer.ggml.model");
  if (model !== undefined) m.set("tokenizer.ggml.model", model);
  const pre = vocab.other.get("tokenizer.ggml.pre");
  if (pre !== undefined) m.set("tokenizer.ggml.pre", pre);
  m.set("tokenizer.ggml.tokens", gguf.strArray(vocab.tokens));
  if (vocab.scores !== undefined) m.set("tokenizer.ggml.scores", gguf.f32Array(vocab.scores));
  m.set("tokenizer.ggml.token_type", gguf.i32Array(vocab.tokenTypes));
  for (const [k, v] of vocab.other) if (!m.has(k)) m.set(k, v);
  if (chatTemplate !== undefined && !m.has("tokenizer.chat_template"))
    m.set("tokenizer.chat_template", gguf.str(chatTemplate));
  return m;
}

/** Reads a chat template shipped under assets/templates/. */
export async function readTemplateAsset(name: string): Promise<string> {
  return readFile(resolveAssetPath(`templates/${name}`), "utf8");
}

// ---- GPT-2 byte-level encoding (what "gpt2" vocabularies store) ----

let byteToChar: string[] | undefined;

/** GPT-2's byte-to-unicode table: the character a byte-level BPE vocabulary stores for each byte. */
export function getByteLevelAlphabet(): readonly string[] {
  if (byteToChar) return byteToChar;
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const map: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (bs.includes(b)) map[b] = String.fromCodePoint(b);
    else map[b] = String.fromCodePoint(256 + n++);
  }
  byteToChar = map;
  return map;
}

/** The text a byte-level BPE vocabulary stores for `piece` (space → Ġ, newline → Ċ, ...). */
export function encodeByteLevel(piece: string): string {
  const map = getByteLevelAlphabet();
  let out = "";
  for (const b of Buffer.from(piece, "utf8")) out += map[b];
  return out;
}

// ---- script pieces ----

/**
 * Splits a script into pieces that can each get a token id of its own, an id no prompt ever
 * tokenizes to:
 * - byte-level BPE ("gpt2"): a NORMAL token whose byte-level text is in no vocabulary entry nor the
 *   result of any merge, so the BPE tokenizer never produces it (llama.cpp also refuses duplicate
 *   token texts). Greedy: the shortest such piece at each position.
 * - SentencePiece ("llama"): a NORMAL token whose text holds a raw space: prompts are tokenized after
 *   spaces became "▁", so no merge can build it, while detokenizing keeps the raw space.
 * Each piece is returned with the exact text to store in the vocabulary.
 */
export function splitScript(script: string, vocab: Vocabulary): { piece: string; stored: string }[] {
  if (script.length === 0) throw new InvalidArgumentError("--script must not be empty");
  const taken = new Set(vocab.tokens);
  if (vocab.model === "gpt2") {
    const merges = getMetadataArray(vocab.other as GgufMetadata, "tokenizer.ggml.merges");
    if (merges !== undefined) for (const m of merges.items as string[]) taken.add(m.replace(" ", ""));
  } else if (vocab.model !== "llama") {
    throw new InvalidArgumentError(`--script supports "gpt2" and "llama" vocabularies, not "${vocab.model}"`);
  }
  const store = vocab.model === "gpt2" ? encodeByteLevel : (s: string) => s;
  const ok = vocab.model === "gpt2" ? () => true : (s: string) => s.includes(" ");
  const cps = [...script];
  const pieces: string[] = [];
  let i = 0;
  while (i < cps.length) {
    let found: string | undefined;
    let piece = "";
    for (let j = i; j < cps.length; j++) {
      piece += cps[j];
      if (ok(piece) && !taken.has(store(piece))) {
        found = piece;
        i = j + 1;
        break;
      }
    }
    if (found === undefined) {
      // the rest cannot stand alone: glue it to earlier pieces until the result is free
      let rest = cps.slice(i).join("");
      i = cps.length;
      for (;;) {
        const prev = pieces.pop();
        if (prev === undefined) {
          throw new InvalidArgumentError(
            vocab.model === "gpt2"
              ? `--script "${script}" is a single token of the vocabulary; a script needs text that is not one vocabulary entry (add a word)`
              : `--script "${script}" needs at least one space for a SentencePiece vocabulary (Phi-3)`,
          );
        }
        taken.delete(store(prev));
        rest = prev + rest;
        if (ok(rest) && !taken.has(store(rest))) {
          found = rest;
          break;
        }
      }
    }
    pieces.push(found);
    taken.add(store(found));
  }
  return pieces.map((piece) => ({ piece, stored: store(piece) }));
}
