/**
 * The transport floor for the bench harness's accuracy: the least any Node reader can do against the
 * scripted-timing server. Plain `node:net` sockets, a hand-written HTTP/1.1 request, chunked decoding and a
 * string search for the `x_sent` stamps; each socket `data` event is stamped with performance.now() (the
 * clock the harness uses) before anything else is done with it. What it measures is what the machine's
 * loopback, scheduler and one JavaScript thread deliver, with next to no reader in the way; a harness can
 * only be judged against this, never against zero.
 *
 * It sends what runBench sends for a synthetic workload (completions, streamed, continuous usage, ignore_eos),
 * closed loop: `concurrency` keep-alive connections, each sending its next request when the last one ends,
 * after one warm-up request per connection (connection set-up and JIT stay out, as in the harness).
 *
 * This file imports only node built-ins so it can be transpiled alone, like the scripted server.
 */
import net from "node:net";
import { measureMonotonicOffsetMs } from "./scripted-server.js";

export interface ReferenceReaderOptions {
  /** Base URL of the scripted server, ending in /v1 (plain http). */
  url: string;
  /** Keep-alive connections, each sending one request at a time. */
  concurrency: number;
  /** Measured requests in all. */
  requests: number;
  /** max_tokens of each request. */
  maxTokens: number;
  /** Unmeasured requests first, in all (default: one per connection). */
  warmup?: number;
  /** Words in the prompt (default 16). */
  promptWords?: number;
  /** More fields for the request body (e.g. `scripted`, a per-request script for the scripted server). */
  extra?: Record<string, unknown>;
  /** Give up on everything still running after this many milliseconds (default 300,000). */
  timeoutMs?: number;
}

export interface ReferenceResult {
  /** Measured requests that ended with a complete stream. */
  completed: number;
  /**
   * Measured requests that did not (HTTP status, connection lost, no stamps, timeout). A failure drops its
   * connection and that connection sends nothing more, so `completed + failed` may fall short of `requests`.
   */
  failed: number;
  /** Output tokens of the completed measured requests (from `x_tokens`). */
  tokens: number;
  /** |arrival - x_sent| of each measured request's first chunk, in ms: the floor of a harness's TTFT error. */
  ttftErrorsMs: number[];
  /**
   * Per token after the first chunk, |arrival interval - send interval| / tokens in the chunk, in ms: the floor
   * of a harness's per-token ITL error (a chunk's interval spread over its tokens, as the harness does).
   */
  itlErrorsMs: number[];
  /** Milliseconds from the first measured request to the last one's end. */
  wallMs: number;
  /** The reader process's CPU time over the measured part (ms, user + system, the whole process). */
  cpuMs: number;
}

const CRLF = "\r\n";
const stampKey = '"x_sent":';
const tokensKey = '"x_tokens":';

/** Read the number after `key` in `line` from `from` on, or NaN. */
function readNumberAfter(line: string, key: string, from = 0): number {
  const at = line.indexOf(key, from);
  if (at === -1) return NaN;
  let end = at + key.length;
  while (end < line.length) {
    const c = line.charCodeAt(end);
    if (c !== 0x2e && (c < 0x30 || c > 0x39)) break;
    end++;
  }
  return Number(line.slice(at + key.length, end));
}

/**
 * Stream `requests` completions from the scripted server at `concurrency`, and return the errors a perfect
 * harness would see on this machine at this moment.
 */
export async function runReferenceReader(options: ReferenceReaderOptions): Promise<ReferenceResult> {
  const url = new URL(options.url);
  if (url.protocol !== "http:") throw new Error(`reference reader: only http URLs, got ${options.url}`);
  const host = url.hostname;
  const port = Number(url.port || 80);
  const basePath = url.pathname.replace(/\/$/u, "");
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const warmup = options.warmup ?? concurrency;
  const total = warmup + options.requests;
  const prompt = Array.from({ length: options.promptWords ?? 16 }, (_, i) => `w${i}`).join(" ");
  const body = JSON.stringify({
    model: "scripted-model",
    prompt,
    max_tokens: options.maxTokens,
    stream: true,
    stream_options: { include_usage: true, continuous_usage_stats: true },
    ignore_eos: true,
    ...options.extra,
  });
  const request =
    `POST ${basePath}/completions HTTP/1.1${CRLF}host: ${url.host}${CRLF}content-type: application/json${CRLF}` +
    `accept: text/event-stream${CRLF}content-length: ${Buffer.byteLength(body)}${CRLF}${CRLF}${body}`;
  // The x_sent stamps are on the machine-wide monotonic clock (process.hrtime); arrivals on performance.now().
  const offset = measureMonotonicOffsetMs();

  const result: ReferenceResult = {
    completed: 0,
    failed: 0,
    tokens: 0,
    ttftErrorsMs: [],
    itlErrorsMs: [],
    wallMs: 0,
    cpuMs: 0,
  };
  let next = 0;
  let measureStart: number | undefined;
  let cpuStart: NodeJS.CpuUsage | undefined;
  const sockets = new Set<net.Socket>();

  const runConnection = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host, port, noDelay: true });
      sockets.add(socket);
      let inFlight = false;
      let measured = false;
      // Response state: the head, then chunked-encoding frames, then SSE lines inside the frames.
      let state: "head" | "size" | "data" | "data-end" | "trailer" = "head";
      let pending = "";
      let frameLeft = 0;
      let lines = "";
      let prevArrival = NaN;
      let prevSent = NaN;
      let chunks = 0;
      let tokens = 0;

      const sendNext = (): void => {
        if (next >= total) {
          socket.end();
          return;
        }
        measured = next++ >= warmup;
        if (measured && measureStart === undefined) {
          measureStart = performance.now();
          cpuStart = process.cpuUsage();
        }
        inFlight = true;
        state = "head";
        lines = "";
        chunks = 0;
        tokens = 0;
        socket.write(request);
      };

      const onLine = (line: string, at: number): void => {
        if (!line.startsWith("data: {")) return;
        const sent = readNumberAfter(line, stampKey);
        if (Number.isNaN(sent)) return; // the usage-only chunk carries no stamp
        const n = Math.max(1, readNumberAfter(line, tokensKey) || 1);
        if (measured) {
          if (chunks === 0) result.ttftErrorsMs.push(Math.abs(at + offset - sent));
          else {
            const error = Math.abs(at - prevArrival - (sent - prevSent)) / n;
            for (let k = 0; k < n; k++) result.itlErrorsMs.push(error);
          }
        }
        chunks++;
        tokens += n;
        prevArrival = at;
        prevSent = sent;
      };

      const endResponse = (): void => {
        inFlight = false;
        if (measured) {
          if (chunks > 0) {
            result.completed++;
            result.tokens += tokens;
          } else result.failed++;
          result.wallMs = performance.now() - (measureStart ?? 0);
        }
        sendNext();
      };

      /** Consume what `pending` holds from `i` on; returns where it stopped (the rest waits for more bytes). */
      const consume = (at: number): number => {
        let i = 0;
        while (i < pending.length) {
          if (state === "head") {
            const end = pending.indexOf(CRLF + CRLF, i);
            if (end === -1) return i;
            const head = pending.slice(i, end);
            if (!head.startsWith("HTTP/1.1 200") || !/\r\ntransfer-encoding: *chunked/iu.test(head)) {
              // Not a stream this reader understands: the request fails and the connection is dropped.
              socket.destroy();
              return pending.length;
            }
            i = end + 4;
            state = "size";
          } else if (state === "size" || state === "trailer") {
            const end = pending.indexOf(CRLF, i);
            if (end === -1) return i;
            if (state === "size") {
              frameLeft = parseInt(pending.slice(i, end), 16);
              state = frameLeft === 0 ? "trailer" : "data";
            } else if (end === i) {
              // The empty line after the last frame: the response is complete.
              i = end + 2;
              endResponse();
              continue;
            }
            i = end + 2;
          } else if (state === "data") {
            const take = Math.min(frameLeft, pending.length - i);
            lines += pending.slice(i, i + take);
            i += take;
            frameLeft -= take;
            if (frameLeft === 0) state = "data-end";
            let from = 0;
            for (let nl = lines.indexOf("\n"); nl !== -1; nl = lines.indexOf("\n", from)) {
              onLine(lines.slice(from, nl), at);
              from = nl + 1;
            }
            if (from > 0) lines = lines.slice(from);
          } else {
            if (pending.length - i < 2) return i;
            i += 2; // the CRLF after a frame's data
            state = "size";
          }
        }
        return i;
      };

      socket.setEncoding("latin1");
      socket.on("connect", sendNext);
      socket.on("data", (data: string) => {
        const at = performance.now();
        pending += data;
        pending = pending.slice(consume(at));
      });
      socket.on("error", () => socket.destroy());
      socket.on("close", () => {
        sockets.delete(socket);
        // A connection lost mid-response fails that request; the others' connections take the rest.
        if (inFlight && measured) result.failed++;
        resolve();
      });
    });

  const timer = setTimeout(() => {
    for (const s of sockets) s.destroy();
  }, options.timeoutMs ?? 300_000);
  const connections: Promise<void>[] = [];
  for (let c = 0; c < concurrency; c++) connections.push(runConnection());
  await Promise.all(connections);
  clearTimeout(timer);
  if (cpuStart !== undefined) {
    const cpu = process.cpuUsage(cpuStart);
    result.cpuMs = (cpu.user + cpu.system) / 1000;
  }
  return result;
}
