/** Server-sent events on a raw Node response, as OpenAI streams them. */
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * One event stream on a raw response.
 *
 * Events written in one turn of the event loop go out in one socket write: an upstream read that brought
 * several chunks, or a start, its first token and the role chunk, cost one system call instead of one
 * each. They are joined until the microtasks that carry them through the generators are done
 * (process.nextTick), never held for more I/O or a timer.
 *
 * The head is not flushed on its own either when an event follows in the same turn (a gateway's first
 * chunk arrives with its start): it goes out with that event. Otherwise (an engine still reading the
 * prompt) it is flushed right after the turn.
 *
 * HTTP/1.1 bodies are chunked. Node's writer sends each `res.write` as four pieces (size, CRLF, data,
 * CRLF) through a corked socket and a `writev`; at a token per write that was a fifth of a gateway's CPU.
 * Once the head has gone out through Node, this class frames each chunk itself and writes it to the socket
 * in one piece; `end()` goes through Node again, which writes the last chunk and finishes the response
 * (keep-alive and the next request on the connection work as usual). Until Node has given the response
 * its socket (a pipelined request waits for the one before it), everything goes through `res.write`.
 */
export class EventStream {
  readonly #res: ServerResponse;
  /** The body is chunked (HTTP/1.1): frames can be written to the socket here. */
  readonly #chunked: boolean;
  #headSent = false;
  #pending = "";

  constructor(res: ServerResponse, headers: Record<string, string> = {}) {
    this.#res = res;
    const req = res.req as IncomingMessage | undefined;
    this.#chunked = req !== undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      // No `connection` header: Node says keep-alive itself, and close to a client that asked for it.
      "x-accel-buffering": "no",
      ...(this.#chunked ? { "transfer-encoding": "chunked" } : {}),
      ...headers,
    });
    // Node's http sends a head not yet flushed with the first write. setImmediate runs once this turn's
    // I/O callbacks and the promise continuations they started are done.
    setImmediate(this.#flushHead);
  }

  /** Writes an already framed event (`data: ...\n\n`); nothing once the response ended or broke. */
  write(event: string): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (this.#pending.length === 0) process.nextTick(this.#flushEvents);
    this.#pending += event;
  }

  /** Writes `data` as one event. */
  event(data: unknown): void {
    this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Writes what is pending and `[DONE]`, and ends the response. */
  end(): void {
    const res = this.#res;
    const pending = this.#pending;
    this.#pending = "";
    if (res.writableEnded || res.destroyed) return;
    this.#headSent = true;
    res.end(`${pending}data: [DONE]\n\n`);
  }

  readonly #flushEvents = (): void => {
    const res = this.#res;
    const pending = this.#pending;
    this.#pending = "";
    if (pending.length === 0 || res.writableEnded || res.destroyed) return;
    const socket = res.socket;
    if (this.#headSent && this.#chunked && socket !== null) {
      socket.write(`${Buffer.byteLength(pending).toString(16)}\r\n${pending}\r\n`);
      return;
    }
    this.#headSent = true;
    res.write(pending);
  };

  readonly #flushHead = (): void => {
    const res = this.#res;
    if (this.#headSent || res.writableEnded || res.destroyed) return;
    this.#headSent = true;
    res.flushHeaders();
  };
}

/** What every chunk of one streamed response shares. */
export interface ChunkEnvelope {
  id: string;
  /** `chat.completion.chunk` or `text_completion`. */
  object: string;
  created: number;
  model: string;
  /** Chat deltas (`delta`) rather than completion text (`text`). */
  chat: boolean;
  /** `stream_options.include_usage`: every chunk but the last carries `"usage":null`. */
  includeUsage: boolean;
}

/**
 * Frames a stream's text chunks. The envelope is serialized once per response; each chunk only escapes
 * its text (JSON.stringify of a string) and joins strings. The bytes are those JSON.stringify gives for
 * `{ id, object, created, model, choices: [{ index: 0, delta | text, finish_reason: null, logprobs: null }],
 * usage? }`, keys in that order, without building and walking that object for every chunk.
 */
export interface ChunkFramer {
  /** A chat stream's first chunk: `delta: { role: "assistant", content: "" }`. */
  role(): string;
  /** A chat delta (`reasoning` also as `reasoning_content`; empty parts left out) or completion text.
   * With `usage`, the chunk carries it (continuous usage stats). */
  text(reasoning: string, content: string, usage?: { prompt: number; completion: number }): string;
}

export function createChunkFramer(envelope: ChunkEnvelope): ChunkFramer {
  const head =
    `data: {"id":${JSON.stringify(envelope.id)},"object":${JSON.stringify(envelope.object)},` +
    `"created":${JSON.stringify(envelope.created)},"model":${JSON.stringify(envelope.model)},"choices":[{"index":0,`;
  const tail = `,"finish_reason":null,"logprobs":null}]`;
  const noUsage = envelope.includeUsage ? `,"usage":null}\n\n` : "}\n\n";
  const usageOf = (usage: { prompt: number; completion: number } | undefined): string =>
    usage === undefined
      ? noUsage
      : `,"usage":{"prompt_tokens":${JSON.stringify(usage.prompt)},"completion_tokens":${JSON.stringify(usage.completion)},"total_tokens":${JSON.stringify(usage.prompt + usage.completion)}}}\n\n`;
  const role = `${head}"delta":{"role":"assistant","content":""}${tail}${noUsage}`;
  if (!envelope.chat)
    return {
      role: () => role,
      text: (_reasoning, content, usage) =>
        `${head}"text":${JSON.stringify(content)}${tail}${usageOf(usage)}`,
    };
  return {
    role: () => role,
    text(reasoning, content, usage) {
      let delta = '"delta":{';
      if (reasoning.length > 0) {
        const r = JSON.stringify(reasoning);
        delta += `"reasoning_content":${r},"reasoning":${r}`;
        if (content.length > 0) delta += ",";
      }
      if (content.length > 0) delta += `"content":${JSON.stringify(content)}`;
      return `${head}${delta}}${tail}${usageOf(usage)}`;
    },
  };
}
