/**
 * An allocation-light Server-Sent Events reader for OpenAI-style streams, and a byte scanner that reads the
 * few fields the bench needs from each chunk without JSON.parse: whether it carries answer text or reasoning,
 * cumulative usage, the finish reason and errors. At thousands of streams this keeps the harness cheap, so its
 * own overhead does not show up as server latency.
 */

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const dataPrefix = Buffer.from("data:");
const donePayload = Buffer.from("[DONE]");

/** Called with each `data:` payload as a slice [start, end) of `buf` (valid only during the call). */
export type SsePayloadHandler = (buf: Buffer, start: number, end: number) => void;

/**
 * Splits a byte stream into SSE lines and hands each `data:` payload to a handler. Other fields (`event:`,
 * `id:`, comments) are skipped. Each `data:` line is treated as one payload, as OpenAI-compatible servers send.
 * Only a line split across network reads is copied.
 */
export class SseParser {
  private carry: Buffer | undefined;

  constructor(private readonly onPayload: SsePayloadHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let lineStart = 0;
    const n = buf.length;
    while (lineStart < n) {
      const nl = buf.indexOf(LF, lineStart);
      if (nl === -1) {
        this.carry = Buffer.from(buf.subarray(lineStart));
        return;
      }
      let lineEnd = nl;
      if (lineEnd > lineStart && buf[lineEnd - 1] === CR) lineEnd--;
      if (lineEnd - lineStart >= 5 && startsWith(buf, lineStart, dataPrefix)) {
        let s = lineStart + 5;
        if (buf[s] === SPACE) s++;
        this.onPayload(buf, s, lineEnd);
      }
      lineStart = nl + 1;
    }
  }

  /** Hand over a last line that had no newline (some servers end the stream without one). */
  end(): void {
    const rest = this.carry;
    this.carry = undefined;
    if (rest !== undefined && rest.length > 0) this.push(Buffer.concat([rest, Buffer.from("\n")]));
  }
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

/** What one chunk carries, as far as timing is concerned. Reused between calls to avoid allocation. */
export interface ChunkFacts {
  done: boolean;
  error: boolean;
  /** Non-empty answer text (`delta.content` for chat, `text` for completions). */
  content: boolean;
  /** Non-empty reasoning text (`delta.reasoning_content`, `delta.reasoning` or `delta.thinking`). */
  reasoning: boolean;
  /** Cumulative completion tokens from a usage object in this chunk, or -1. */
  completionTokens: number;
  /** Prompt tokens from a usage object in this chunk, or -1. */
  promptTokens: number;
  /** The finish reason in this chunk, or undefined. */
  finishReason: string | undefined;
}

/** A fresh facts object for {@link scanChunk}. */
export function createChunkFacts(): ChunkFacts {
  return {
    done: false,
    error: false,
    content: false,
    reasoning: false,
    completionTokens: -1,
    promptTokens: -1,
    finishReason: undefined,
  };
}

function skipSpace(buf: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = buf[i];
    if (c !== SPACE && c !== 0x09 && c !== LF && c !== CR) break;
    i++;
  }
  return i;
}

const nullLiteral = Buffer.from("null");

function isNull(buf: Buffer, at: number, end: number): boolean {
  return at + nullLiteral.length <= end && startsWith(buf, at, nullLiteral);
}

/** Whether the value at `i` is a non-empty JSON string. */
function isNonEmptyString(buf: Buffer, i: number, end: number): boolean {
  return buf[i] === QUOTE && i + 1 < end && buf[i + 1] !== QUOTE;
}

function readIntAt(buf: Buffer, i: number, end: number): number {
  let v = 0;
  let digits = 0;
  while (i < end) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    digits++;
    i++;
  }
  return digits === 0 ? -1 : v;
}

function readStringAt(buf: Buffer, i: number, end: number): string | undefined {
  if (buf[i] !== QUOTE) return undefined;
  const close = buf.indexOf(QUOTE, i + 1);
  if (close === -1 || close >= end) return undefined;
  return buf.toString("latin1", i + 1, close);
}

// The keys scanChunk reads, by name; a key found in the payload is matched on its length first.
const keyContent = Buffer.from("content");
const keyText = Buffer.from("text");
const keyReasoningContent = Buffer.from("reasoning_content");
const keyReasoning = Buffer.from("reasoning");
const keyThinking = Buffer.from("thinking");
const keyCompletionTokens = Buffer.from("completion_tokens");
const keyPromptTokens = Buffer.from("prompt_tokens");
const keyFinishReason = Buffer.from("finish_reason");
const keyError = Buffer.from("error");

const seenContent = 1;
const seenText = 2;
const seenReasoningContent = 4;
const seenReasoning = 8;
const seenThinking = 16;
const seenCompletion = 32;
const seenPrompt = 64;
const seenFinish = 128;
const seenError = 256;

/**
 * Read the timing-relevant facts of one `data:` payload into `out`, in one pass over its bytes and without
 * JSON.parse. Strings are skipped whole (escapes included) and a string followed by a colon is a key, so text
 * cannot fool it; as with JSON.parse's view of a chunk, only the first occurrence of each key counts.
 */
export function scanChunk(buf: Buffer, start: number, end: number, out: ChunkFacts): ChunkFacts {
  out.done = end - start === donePayload.length && startsWith(buf, start, donePayload);
  out.error = false;
  out.content = false;
  out.reasoning = false;
  out.completionTokens = -1;
  out.promptTokens = -1;
  out.finishReason = undefined;
  if (out.done) return out;
  let seen = 0;
  let error = false;
  let content = false;
  let text = false;
  let reasoning = false;
  let completion = -1;
  let prompt = -1;
  let finish: string | undefined;
  let i = start;
  while (i < end) {
    if (buf[i] !== QUOTE) {
      i++;
      continue;
    }
    // A string: find its closing quote, stepping over escapes.
    const open = i + 1;
    let close = open;
    while (close < end) {
      const c = buf[close];
      if (c === QUOTE) break;
      close += c === 0x5c ? 2 : 1;
    }
    if (close >= end) break;
    i = skipSpace(buf, close + 1, end);
    if (buf[i] !== 0x3a) continue; // a value, not a key
    const v = skipSpace(buf, i + 1, end);
    const length = close - open;
    const first = buf[open];
    if (length === 7 && first === 0x63 && !(seen & seenContent) && startsWith(buf, open, keyContent)) {
      seen |= seenContent;
      content = isNonEmptyString(buf, v, end);
    } else if (length === 4 && first === 0x74 && !(seen & seenText) && startsWith(buf, open, keyText)) {
      seen |= seenText;
      text = isNonEmptyString(buf, v, end);
    } else if (length === 17 && first === 0x72 && !(seen & seenReasoningContent)) {
      if (startsWith(buf, open, keyReasoningContent)) {
        seen |= seenReasoningContent;
        if (isNonEmptyString(buf, v, end)) reasoning = true;
      }
    } else if (length === 9 && first === 0x72 && !(seen & seenReasoning)) {
      if (startsWith(buf, open, keyReasoning)) {
        seen |= seenReasoning;
        if (isNonEmptyString(buf, v, end)) reasoning = true;
      }
    } else if (length === 8 && first === 0x74 && !(seen & seenThinking)) {
      if (startsWith(buf, open, keyThinking)) {
        seen |= seenThinking;
        if (isNonEmptyString(buf, v, end)) reasoning = true;
      }
    } else if (length === 17 && first === 0x63 && !(seen & seenCompletion)) {
      if (startsWith(buf, open, keyCompletionTokens)) {
        seen |= seenCompletion;
        completion = readIntAt(buf, v, end);
      }
    } else if (length === 13 && first === 0x70 && !(seen & seenPrompt)) {
      if (startsWith(buf, open, keyPromptTokens)) {
        seen |= seenPrompt;
        prompt = readIntAt(buf, v, end);
      }
    } else if (length === 13 && first === 0x66 && !(seen & seenFinish)) {
      if (startsWith(buf, open, keyFinishReason)) {
        seen |= seenFinish;
        finish = readStringAt(buf, v, end);
      }
    } else if (length === 5 && first === 0x65 && !(seen & seenError)) {
      if (startsWith(buf, open, keyError)) {
        seen |= seenError;
        // `"error":null` (some servers send it on every chunk) is no error.
        error = !isNull(buf, v, end);
      }
    }
    i = v;
  }
  if (error) {
    out.error = true;
    return out;
  }
  out.content = content || text;
  out.reasoning = reasoning;
  out.completionTokens = completion;
  if (completion !== -1) out.promptTokens = prompt;
  out.finishReason = finish;
  return out;
}

/** The output text of a chunk (content and reasoning together), parsed with JSON.parse; used only when a
 * tokenizer counts tokens. */
export function extractChunkText(payload: string): string {
  try {
    const json = JSON.parse(payload) as {
      choices?: { text?: unknown; delta?: Record<string, unknown> }[];
    };
    let text = "";
    for (const choice of json.choices ?? []) {
      if (typeof choice.text === "string") text += choice.text;
      const d = choice.delta;
      if (d === undefined) continue;
      for (const k of ["reasoning_content", "reasoning", "thinking", "content"])
        if (typeof d[k] === "string") text += d[k] as string;
    }
    return text;
  } catch {
    return "";
  }
}
