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

const keys = {
  content: Buffer.from('"content":'),
  text: Buffer.from('"text":'),
  reasoningContent: Buffer.from('"reasoning_content":'),
  reasoning: Buffer.from('"reasoning":'),
  thinking: Buffer.from('"thinking":'),
  completionTokens: Buffer.from('"completion_tokens":'),
  promptTokens: Buffer.from('"prompt_tokens":'),
  finishReason: Buffer.from('"finish_reason":'),
  error: Buffer.from('"error":'),
};

function findKey(buf: Buffer, key: Buffer, start: number, end: number): number {
  const at = buf.indexOf(key, start);
  return at === -1 || at + key.length > end ? -1 : at + key.length;
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

/** Whether the value after a key is a non-empty JSON string. */
function hasNonEmptyString(buf: Buffer, key: Buffer, start: number, end: number): boolean {
  let i = findKey(buf, key, start, end);
  if (i === -1) return false;
  i = skipSpace(buf, i, end);
  return buf[i] === QUOTE && i + 1 < end && buf[i + 1] !== QUOTE;
}

function readInt(buf: Buffer, key: Buffer, start: number, end: number): number {
  let i = findKey(buf, key, start, end);
  if (i === -1) return -1;
  i = skipSpace(buf, i, end);
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

function readFinishReason(buf: Buffer, start: number, end: number): string | undefined {
  let i = findKey(buf, keys.finishReason, start, end);
  if (i === -1) return undefined;
  i = skipSpace(buf, i, end);
  if (buf[i] !== QUOTE) return undefined;
  const close = buf.indexOf(QUOTE, i + 1);
  if (close === -1 || close >= end) return undefined;
  return buf.toString("latin1", i + 1, close);
}

/**
 * Read the timing-relevant facts of one `data:` payload into `out`. Keys are matched with their quotes and
 * colon, which cannot occur inside JSON string values (their quotes are escaped), so text cannot fool it.
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
  // `"error":null` (some servers send it on every chunk) is no error.
  const errorAt = findKey(buf, keys.error, start, end);
  if (errorAt !== -1 && !isNull(buf, skipSpace(buf, errorAt, end), end)) {
    out.error = true;
    return out;
  }
  out.content =
    hasNonEmptyString(buf, keys.content, start, end) || hasNonEmptyString(buf, keys.text, start, end);
  out.reasoning =
    hasNonEmptyString(buf, keys.reasoningContent, start, end) ||
    hasNonEmptyString(buf, keys.reasoning, start, end) ||
    hasNonEmptyString(buf, keys.thinking, start, end);
  out.completionTokens = readInt(buf, keys.completionTokens, start, end);
  if (out.completionTokens !== -1) out.promptTokens = readInt(buf, keys.promptTokens, start, end);
  out.finishReason = readFinishReason(buf, start, end);
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
