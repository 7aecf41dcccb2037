/**
 * servelab's own small byte-level BPE tokenizer (`synth --tokenizer builtin`): GPT-2's byte-to-unicode
 * alphabet, so every UTF-8 text tokenizes (unknown pieces fall back to their bytes) and detokenizes back
 * exactly, plus a few hundred merges learned deterministically from a short built-in corpus. A tiny model
 * with it is a few hundred KB instead of the 21-84 MB the real 151,936- or 32,064-entry vocabularies cost.
 */
import { InvalidArgumentError } from "../../core/errors.js";
import { gguf, type GgufMetadata } from "../gguf/metadata.js";
import { TokenType, encodeByteLevel, getByteLevelAlphabet, type Vocabulary } from "./vocab.js";

/** Merges the built-in tokenizer learns: with the 256 byte tokens, a vocabulary of 512 before specials. */
export const BUILTIN_MERGE_COUNT = 256;

/**
 * tokenizer.ggml.pre of the built-in tokenizer. llama.cpp's "qwen2" family of pre-tokenizers (also
 * "deepseek-r1-qwen") splits words as Qwen2 does and, unlike "default" and "gpt-2", keeps
 * clean_spaces off, so detokenizing never drops the space of " ." or " 's": the round trip is exact.
 */
export const BUILTIN_PRE_TOKENIZER = "qwen2";

/** Qwen2's pre-tokenizer pattern, as llama.cpp writes it for LLAMA_VOCAB_PRE_TYPE_QWEN2. */
const WORDS =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

// Written for servelab: the chat, reasoning and arithmetic text its tests and benchmarks send.
const CORPUS = `The answer is 4. The answer is \\boxed{16}. Let me compute 4*4 step by step.
<think>
Okay, so I need to find the sum of the first ten positive integers. The formula for the sum is n(n+1)/2,
so with n = 10 that gives 10 * 11 / 2 = 55. Let me check it another way: 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 +
9 + 10. Pairing the first and the last numbers, each pair adds up to 11, and there are five pairs, so the
total is 55. That matches, so the answer should be 55.
</think>

The sum of the first ten positive integers is \\boxed{55}.

User: What is the capital of France? Assistant: The capital of France is Paris.
User: Hello there! How are you today? Assistant: I am fine, thank you. How can I help you?
User: Please write a short story about a robot who learns to paint.
Assistant: Once upon a time, in a quiet city, there was a small robot named Ada. Every morning she watched
the painters in the park and wondered what it would feel like to hold a brush. One day she asked an old
painter to teach her, and he said that the first thing to learn is to look at the light.

Question: A train travels 120 kilometers in 2 hours. What is its average speed?
Answer: The average speed is the distance divided by the time, 120 / 2 = 60 kilometers per hour.
Question: If a shirt costs $20 and is on sale for 25% off, what is the sale price?
Answer: Twenty-five percent of 20 is 5, so the sale price is 20 - 5 = 15 dollars.
Question: Solve for x: 3x + 7 = 22. Answer: Subtract 7 from both sides to get 3x = 15, then divide by 3,
so x = 5. We can verify: 3 * 5 + 7 = 22, which is correct.

function add(a, b) {
  return a + b;
}
const result = await client.chat.completions.create({ model: "servelab", messages, stream: true });
for await (const chunk of result) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");

The server streams tokens as server-sent events and ends the stream with data: [DONE]. Each request has a
prompt, a maximum number of tokens, a temperature and a seed. The model thinks first, then it answers, and
the reasoning is returned separately from the final content. It's what they're testing: we'll see, I'd say.

Benchmarks measure the latency of the first token, the time between tokens and the throughput of the
whole server, at a concurrency of one, four and eight requests. The results are written to a report with
the command that produced them, so that anyone can run the same measurement again on another machine.
`;

let learned: readonly string[] | undefined;

/**
 * Learns `count` byte-level BPE merges from `corpus`: the words of the Qwen2 pattern, as GPT-2 byte
 * characters, merged most frequent pair first (ties: the smaller "left right" string), the classic
 * algorithm of Sennrich et al. Deterministic for the same input.
 * @returns the merges as tokenizer.ggml.merges stores them ("left right", in rank order).
 */
export function learnByteLevelMerges(corpus: string, count: number): string[] {
  const counts = new Map<string, number>();
  for (const m of corpus.matchAll(WORDS)) {
    const word = encodeByteLevel(m[0]);
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const words = [...counts].map(([w, n]) => ({ symbols: [...w], n }));
  const merges: string[] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words)
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    let best: string | undefined;
    let bestCount = 1;
    for (const [key, n] of pairs)
      if (n > bestCount || (n === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = n;
      }
    if (best === undefined) {
      throw new InvalidArgumentError(
        `the corpus yields ${merges.length} merges of pairs seen at least twice, not ${count}`,
      );
    }
    merges.push(best);
    const [left = "", right = ""] = best.split(" ");
    for (const w of words) {
      const s = w.symbols;
      for (let i = 0; i + 1 < s.length; i++)
        if (s[i] === left && s[i + 1] === right) s.splice(i, 2, left + right);
    }
  }
  return merges;
}

/**
 * The built-in tokenizer without special tokens (add them with addSpecialTokens): ids 0-255 are the
 * bytes, then one token per new merge result, in merge order.
 */
export function buildBuiltinVocabulary(pre: string = BUILTIN_PRE_TOKENIZER): Vocabulary {
  learned ??= learnByteLevelMerges(CORPUS, BUILTIN_MERGE_COUNT);
  const tokens = [...getByteLevelAlphabet()];
  const seen = new Set(tokens);
  for (const m of learned) {
    // two merges can make the same text ("ab"+"c", "a"+"bc"); llama.cpp refuses duplicate tokens
    const text = m.replace(" ", "");
    if (!seen.has(text)) {
      seen.add(text);
      tokens.push(text);
    }
  }
  const other: GgufMetadata = new Map([
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str(pre)],
    ["tokenizer.ggml.merges", gguf.strArray([...learned])],
  ]);
  return {
    model: "gpt2",
    tokens,
    tokenTypes: tokens.map(() => TokenType.NORMAL),
    scores: undefined,
    other,
    eosTokenId: -1,
    spareIds: [],
  };
}
