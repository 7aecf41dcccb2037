/**
 * A lean Server-Sent Events reader for OpenAI-style streams: yields the data of each event as soon as
 * its terminating blank line arrives, with no per-chunk work beyond finding line ends.
 */

/** Yields the `data` of each event in an SSE byte stream (multi-line data joined with "\n"). Comments,
 * `event:`, `id:` and `retry:` fields are ignored. */
export async function* readSseData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string | undefined;
  for await (const chunk of body) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    let end: number;
    while ((end = buffer.indexOf("\n", start)) !== -1) {
      const lineEnd = end > start && buffer.charCodeAt(end - 1) === 13 ? end - 1 : end;
      if (lineEnd === start) {
        if (data !== undefined) {
          yield data;
          data = undefined;
        }
      } else if (buffer.startsWith("data:", start)) {
        const valueStart = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
        const value = buffer.slice(valueStart, lineEnd);
        data = data === undefined ? value : `${data}\n${value}`;
      }
      start = end + 1;
    }
    if (start > 0) buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  if (buffer.startsWith("data:")) {
    const value = buffer.slice(buffer.charCodeAt(5) === 32 ? 6 : 5).replace(/\r$/, "");
    data = data === undefined ? value : `${data}\n${value}`;
  }
  if (data !== undefined) yield data;
}
