/**
 * A lean Server-Sent Events reader for OpenAI-style streams: hands over the data of each event as soon as
 * its terminating blank line arrives, with no per-chunk work beyond finding line ends.
 */

/**
 * Push-style: feed it the bytes of an SSE stream as they arrive; it calls `onData` with the `data` of each
 * complete event (multi-line data joined with "\n"), synchronously. Comments, `event:`, `id:` and `retry:`
 * fields are ignored. UTF-8 split across pushes is decoded whole.
 */
export class SseDataDecoder {
  readonly #onData: (data: string) => void;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #data: string | undefined;

  constructor(onData: (data: string) => void) {
    this.#onData = onData;
  }

  push(chunk: Uint8Array | string): void {
    const buffer =
      this.#buffer + (typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true }));
    let start = 0;
    let end: number;
    while ((end = buffer.indexOf("\n", start)) !== -1) {
      const lineEnd = end > start && buffer.charCodeAt(end - 1) === 13 ? end - 1 : end;
      if (lineEnd === start) {
        if (this.#data !== undefined) {
          const data = this.#data;
          this.#data = undefined;
          this.#onData(data);
        }
      } else if (buffer.startsWith("data:", start)) {
        const valueStart = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
        const value = buffer.slice(valueStart, lineEnd);
        this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
      }
      start = end + 1;
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
  }

  /** The stream ended: an event without its blank line still counts. */
  end(): void {
    const buffer = this.#buffer + this.#decoder.decode();
    this.#buffer = "";
    let data = this.#data;
    this.#data = undefined;
    if (buffer.startsWith("data:")) {
      const value = buffer.slice(buffer.charCodeAt(5) === 32 ? 6 : 5).replace(/\r$/, "");
      data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data !== undefined) this.#onData(data);
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
