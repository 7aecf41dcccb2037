/**
 * Preloaded into a gateway by `bench:gateway --probe` (node --import): times the gateway's own work on the
 * path of a request's first token, inside the gateway process, from Node's and undici's diagnostics
 * channels. Per request, in ms:
 *
 *   inbound:  the request's head parsed (http.server.request.start) -> the upstream request written
 *             (undici:client:sendHeaders): routing, body parsing, hooks, the handler, undici's dispatch;
 *   outbound: the upstream's first body bytes read (undici:request:bodyChunkReceived) -> the socket write
 *             that carries the first token to the client (with the head, or after it, whichever the
 *             gateway does): SSE parsing, the generators, framing, Node's HTTP writer.
 *
 * What it leaves out is the rest of the added latency: waking the gateway process when bytes arrive and
 * the two more loopback hops. Requests are paired by order, so the figures are valid at concurrency 1 only.
 * One JSON line per request is appended to $SERVELAB_PROBE_FILE when its response finishes.
 */
import { appendFileSync } from "node:fs";
import diagnostics from "node:diagnostics_channel";

const file = process.env.SERVELAB_PROBE_FILE;
if (file === undefined) throw new Error("gateway-probe: set SERVELAB_PROBE_FILE");

/** A chat delta or completion text that is not empty: the first token. */
const token = /"delta":\{"(?:content|reasoning_content)":"[^"]|"text":"[^"]/;
const carries = (chunk) => token.test(typeof chunk === "string" ? chunk : chunk.toString("latin1"));

/** The request being served; at concurrency 1 there is one at a time. */
let current;
const wrapped = new WeakSet();

diagnostics.subscribe("http.server.request.start", ({ request, response, socket }) => {
  if (request.method !== "POST") return;
  const entry = { start: performance.now() };
  current = entry;
  socket.probeEntry = entry;
  if (!wrapped.has(socket)) {
    wrapped.add(socket);
    const seen = (chunks) => {
      const e = socket.probeEntry;
      if (e !== undefined && e.firstBytes !== undefined && e.firstToken === undefined && chunks.some(carries))
        e.firstToken = performance.now();
    };
    const write = socket._write;
    socket._write = function (chunk, encoding, cb) {
      seen([chunk]);
      return write.call(this, chunk, encoding, cb);
    };
    const writev = socket._writev;
    socket._writev = function (chunks, cb) {
      seen(chunks.map((c) => c.chunk));
      return writev.call(this, chunks, cb);
    };
  }
  response.once("finish", () => {
    if (entry.sent !== undefined && entry.firstBytes !== undefined && entry.firstToken !== undefined)
      appendFileSync(
        file,
        `${JSON.stringify({ inboundMs: entry.sent - entry.start, outboundMs: entry.firstToken - entry.firstBytes })}\n`,
      );
  });
});
diagnostics.subscribe("undici:client:sendHeaders", () => {
  if (current !== undefined && current.sent === undefined) current.sent = performance.now();
});
diagnostics.subscribe("undici:request:bodyChunkReceived", () => {
  if (current !== undefined && current.firstBytes === undefined) current.firstBytes = performance.now();
});
