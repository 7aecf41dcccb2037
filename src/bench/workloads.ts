/**
 * Workloads: where prompts come from. Built-in prompt classes (short ~10, medium ~20, long ~100 input
 * tokens, math and general questions), synthetic prompts of exact token lengths, and JSONL / ShareGPT files.
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "../core/errors.js";
import type { Tokenizer } from "./tokenizer.js";

/** One prompt to send. */
export interface WorkloadItem {
  /** Chat messages; for the completions API they are joined into one prompt. */
  messages?: { role: string; content: string }[];
  prompt?: string;
  /** Output tokens asked for; undefined uses the bench's --max-tokens. */
  maxTokens?: number;
  /** Input tokens the item was built to have (synthetic prompts with a tokenizer). */
  expectedInputTokens?: number;
  /** The prompt class or source, e.g. "short" or "synthetic". */
  source: string;
}

/** A source of prompts, read round-robin (index modulo size) so runs are reproducible. */
export interface Workload {
  readonly name: string;
  readonly size: number;
  /** Whether its items ask for exact output lengths (ignore_eos by default). */
  readonly exactOutput: boolean;
  item(index: number): WorkloadItem;
}

/** Built-in prompt classes, written for servelab: math and general questions of three lengths. */
export const builtinPrompts: Readonly<Record<"short" | "medium" | "long", readonly string[]>> = {
  short: [
    "What is 17 times 23?",
    "Name the capital of Australia.",
    "Is 221 a prime number?",
    "What is the square root of 1764?",
    "Who wrote the novel Dracula?",
    "Convert 5 miles to kilometres.",
  ],
  medium: [
    "A train travels 180 km in 2.5 hours. What is its average speed in kilometres per hour?",
    "Explain in two sentences why the sky looks blue during the day and red at sunset.",
    "If 3x + 7 = 40, what is the value of x? Show the steps briefly, please.",
    "List three differences between a virus and a bacterium, one short line for each.",
    "What is the sum of all the integers from 1 to 100? Explain the trick you use.",
    "Why do ships made of steel float on water, while a small steel ball sinks straight away?",
  ],
  long: [
    "A farmer has a rectangular field whose length is three times its width. He wants to fence the whole field and also build one straight fence across the middle, parallel to the shorter sides, so that the field is split into two equal halves. He has exactly 600 metres of fencing and uses all of it. First write an equation for the total length of fencing in terms of the width, then solve it, then give the area of each half of the field in square metres. Check your answer by adding up the pieces of fence at the end.",
    "You are helping a student prepare for an exam in introductory physics. Explain, in plain words and without heavy notation, what Newton's three laws of motion say, and give one everyday example for each law that a teenager would recognise, such as riding a bicycle, pushing a shopping trolley or jumping off a small boat onto a dock. Finish with one short question the student could answer to check that they understood the third law.",
    "A shop sells notebooks for 3 dollars each and pens for 1.25 dollars each. On Monday it sold twice as many pens as notebooks and took 165 dollars in total from these two items. On Tuesday it sold 10 more notebooks than on Monday and the same number of pens, but gave a discount of 20 percent on notebooks only. How many notebooks and pens were sold on Monday, and how much money did the shop take on Tuesday? Explain each step and state any assumption you make.",
    "Summarise the main causes of the industrial revolution in Britain during the late eighteenth and early nineteenth centuries. Mention the role of coal and iron, the changes in agriculture that freed workers, the growth of trade and banking, and new inventions in the textile industry such as the spinning jenny and the power loom. Keep the answer to about six sentences and end with one sentence on how these changes affected the lives of ordinary workers in the new factory towns.",
  ],
};

export type BuiltinClass = keyof typeof builtinPrompts;

/** Build a workload from built-in classes, interleaved: short, medium, long, short, ... */
export function createBuiltinWorkload(classes: readonly BuiltinClass[]): Workload {
  const items: WorkloadItem[] = [];
  const longest = Math.max(...classes.map((c) => builtinPrompts[c].length));
  for (let i = 0; i < longest; i++)
    for (const c of classes) {
      const prompts = builtinPrompts[c];
      const prompt = prompts[i % prompts.length] as string;
      items.push({ messages: [{ role: "user", content: prompt }], source: c });
    }
  return fromItems(classes.join(","), items, false);
}

function fromItems(name: string, items: WorkloadItem[], exactOutput: boolean): Workload {
  if (items.length === 0)
    throw new InvalidArgumentError(`workload "${name}" has no prompts`, { param: "workload" });
  return {
    name,
    size: items.length,
    exactOutput,
    item: (index) => items[index % items.length] as WorkloadItem,
  };
}

/** How synthetic input lengths are drawn. */
export type LengthDistribution =
  | { kind: "fixed"; value: number }
  | { kind: "uniform"; min: number; max: number }
  | { kind: "normal"; mean: number; std: number };

/** A seeded PRNG (mulberry32) returning numbers in [0, 1). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draw one length from a distribution (at least 1). */
export function drawLength(dist: LengthDistribution, random: () => number): number {
  switch (dist.kind) {
    case "fixed":
      return dist.value;
    case "uniform":
      return dist.min + Math.floor(random() * (dist.max - dist.min + 1));
    case "normal": {
      const u = Math.max(random(), 1e-12);
      const v = random();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return Math.max(1, Math.round(dist.mean + z * dist.std));
    }
  }
}

const words = (
  "time year people way day man thing woman life child world school state family student group country problem hand " +
  "part place case week company system program question work government number night point home water room mother area " +
  "money story fact month lot right study book eye job word business issue side kind head house service friend father " +
  "power hour game line end member law car city community name president team minute idea kid body information back " +
  "parent face others level office door health person art war history party result change morning reason research girl " +
  "guy moment air teacher force education river mountain garden window music paper table stone light summer winter"
).split(" ");

const fillers = ["a", "I", "x", "1", "."];

/**
 * Make a prompt of exactly `tokens` tokens by the tokenizer: grow a word sequence until the count reaches the
 * target, drop words until it is not above it, then add words (or one-token fillers) until it matches; `tokens` is the
 * count the result really has. Without a tokenizer, one word per token (approximate).
 */
export async function synthesizePrompt(
  tokens: number,
  random: () => number,
  tokenizer: Tokenizer | undefined,
): Promise<{ text: string; tokens: number | undefined }> {
  const pick = (): string => words[Math.floor(random() * words.length)] as string;
  const parts: string[] = [];
  if (tokenizer === undefined) {
    for (let i = 0; i < tokens; i++) parts.push(pick());
    return { text: parts.join(" "), tokens: undefined };
  }
  // Grow by estimates, then adjust word by word.
  let text = "";
  let count = 0;
  for (let guard = 0; guard < 20 && count < tokens; guard++) {
    const need = Math.max(1, Math.floor((tokens - count) * 0.8));
    for (let i = 0; i < need; i++) parts.push(pick());
    text = parts.join(" ");
    count = await tokenizer.countTokens(text);
  }
  // Down to the empty prompt if need be: a single word may already be longer than a tiny target.
  while (count > tokens && parts.length > 0) {
    parts.pop();
    text = parts.join(" ");
    count = text === "" ? 0 : await tokenizer.countTokens(text);
  }
  for (let guard = 0; guard < 10_000 && count < tokens; guard++) {
    parts.push(pick());
    text = parts.join(" ");
    count = await tokenizer.countTokens(text);
    // One word too many tokens: try short fillers, which are one token in any vocabulary worth the name.
    for (let f = 0; f < fillers.length && count > tokens; f++) {
      parts[parts.length - 1] = fillers[f] as string;
      text = parts.join(" ");
      count = await tokenizer.countTokens(text);
    }
    if (count > tokens) {
      parts.pop();
      text = parts.join(" ");
      count = text === "" ? 0 : await tokenizer.countTokens(text);
      break;
    }
  }
  return { text, tokens: count };
}

export interface SyntheticWorkloadOptions {
  inputTokens: LengthDistribution;
  /** Prompts to prepare; requests cycle through them (default 64). */
  count?: number;
  seed?: number;
  tokenizer?: Tokenizer | undefined;
}

/** Synthetic prompts of drawn input lengths (exact with a tokenizer) asking for exact output lengths. */
export async function createSyntheticWorkload(options: SyntheticWorkloadOptions): Promise<Workload> {
  const random = createRandom(options.seed ?? 1);
  const items: WorkloadItem[] = [];
  const count = options.count ?? 64;
  for (let i = 0; i < count; i++) {
    const target = drawLength(options.inputTokens, random);
    const { text, tokens } = await synthesizePrompt(target, random, options.tokenizer);
    const item: WorkloadItem = {
      prompt: text,
      messages: [{ role: "user", content: text }],
      source: "synthetic",
    };
    if (tokens !== undefined) item.expectedInputTokens = tokens;
    items.push(item);
  }
  return fromItems("synthetic", items, true);
}

/**
 * Read a JSONL file (`{"prompt": ...}` or `{"messages": [...]}`, optional `max_tokens`) or a ShareGPT JSON file
 * (an array of `{"conversations": [{"from": "human", "value": ...}, ...]}`; the first human turn is the prompt).
 * @throws InvalidArgumentError naming the file and line when it cannot be read.
 */
export function loadWorkloadFile(path: string): Workload {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InvalidArgumentError(`--workload: cannot read "${path}" (${(err as Error).message})`, {
      param: "workload",
      cause: err,
    });
  }
  const trimmed = text.trimStart();
  const items: WorkloadItem[] = [];
  if (trimmed.startsWith("[")) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (err) {
      throw new InvalidArgumentError(`--workload: "${path}" is not valid JSON (${(err as Error).message})`, {
        param: "workload",
      });
    }
    if (!Array.isArray(data))
      throw new InvalidArgumentError(
        `--workload: "${path}" must be JSON Lines or a ShareGPT JSON array of {"conversations": [...]}`,
        { param: "workload" },
      );
    for (const [i, entry] of (data as unknown[]).entries()) {
      const item = parseEntry(entry, `${path} entry ${i + 1}`);
      if (item !== undefined) items.push(item);
    }
  } else {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      if (line === "") continue;
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        throw new InvalidArgumentError(`--workload: ${path}:${i + 1} is not a JSON object`, {
          param: "workload",
        });
      }
      const item = parseEntry(entry, `${path}:${i + 1}`);
      if (item === undefined)
        throw new InvalidArgumentError(
          `--workload: ${path}:${i + 1} needs "prompt", "messages" or ShareGPT "conversations"`,
          { param: "workload" },
        );
      items.push(item);
    }
  }
  return fromItems(path, items, false);
}

function parseEntry(entry: unknown, where: string): WorkloadItem | undefined {
  if (entry === null || typeof entry !== "object") return undefined;
  const e = entry as Record<string, unknown>;
  const item: WorkloadItem = { source: "file" };
  if (e.max_tokens !== undefined) {
    if (typeof e.max_tokens !== "number" || !Number.isInteger(e.max_tokens) || e.max_tokens < 1)
      throw new InvalidArgumentError(
        `--workload: ${where}: "max_tokens" must be a positive integer, got ${JSON.stringify(e.max_tokens)}`,
        { param: "workload" },
      );
    item.maxTokens = e.max_tokens;
  }
  if (typeof e.prompt === "string") {
    item.prompt = e.prompt;
    item.messages = [{ role: "user", content: e.prompt }];
    return item;
  }
  if (Array.isArray(e.messages)) {
    item.messages = (e.messages as { role?: unknown; content?: unknown }[])
      .filter((m) => typeof m.content === "string")
      .map((m) => ({ role: typeof m.role === "string" ? m.role : "user", content: m.content as string }));
    if (item.messages.length === 0) return undefined;
    return item;
  }
  if (Array.isArray(e.conversations)) {
    const turn = (e.conversations as { from?: unknown; value?: unknown }[]).find(
      (t) => (t.from === "human" || t.from === "user") && typeof t.value === "string",
    );
    if (turn === undefined) return undefined;
    item.messages = [{ role: "user", content: turn.value as string }];
    item.source = "sharegpt";
    return item;
  }
  return undefined;
}
