/**
 * A lean Server-Sent Events reader for OpenAI-style streams: hands over the data of each event as soon as
 * its terminating blank line arrives, with no per-chunk work beyond finding line ends.
 */

const LF = 10;
const CR = 13;
const SPACE = 32;
const dataField = Buffer.from("data:");

/**
 * Push-style: feed it the bytes of an SSE stream as they arrive; it calls `onData` with the `data` of each
 * complete event (multi-line data joined with "\n"), synchronously. Comments, `event:`, `id:` and `retry:`
 * fields are ignored. Lines are found in the bytes (a UTF-8 multi-byte character never contains a line
 * feed) and only the data values are decoded, each once; a line split across pushes is carried.
 */
export class SseDataDecoder {
  readonly #onData: (data: string) => void;
  #carry: Buffer | undefined;
  #data: string | undefined;

  constructor(onData: (data: string) => void) {
    this.#onData = onData;
  }

  push(chunk: Uint8Array | string): void {
    let buf =
      typeof chunk === "string"
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, buf]);
      this.#carry = undefined;
    }
    const n = buf.length;
    let start = 0;
    while (start < n) {
      const end = buf.indexOf(LF, start);
      if (end === -1) {
        // Copied: the socket's buffer may be reused.
        this.#carry = Buffer.from(buf.subarray(start));
        return;
      }
      this.#line(buf, start, end > start && buf[end - 1] === CR ? end - 1 : end);
      start = end + 1;
    }
  }

  /** The stream ended: an event without its blank line still counts. */
  end(): void {
    const rest = this.#carry;
    this.#carry = undefined;
    if (rest !== undefined)
      this.#line(rest, 0, rest.length > 0 && rest[rest.length - 1] === CR ? rest.length - 1 : rest.length);
    const data = this.#data;
    this.#data = undefined;
    if (data !== undefined) this.#onData(data);
  }

  #line(buf: Buffer, start: number, end: number): void {
    if (end === start) {
      const data = this.#data;
      if (data === undefined) return;
      this.#data = undefined;
      this.#onData(data);
      return;
    }
    if (end - start < 5 || buf.compare(dataField, 0, 5, start, start + 5) !== 0) return;
    const valueStart = buf[start + 5] === SPACE ? start + 6 : start + 5;
    const value = buf.toString("utf8", valueStart, end);
    this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
  }
}

/** Yields the `data` of each event in an SSE byte stream (multi-line data joined with "\n"). Comments,
 * `event:`, `id:` and `retry:` fields are ignored. */
export async function* readSseData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const ready: string[] = [];
  const decoder = new SseDataDecoder((data) => ready.push(data));
  for await (const chunk of body) {
    decoder.push(chunk);
    yield* ready.splice(0);
  }
  decoder.end();
  yield* ready;
}
