#!/usr/bin/env node
/**
 * The least an HTTP gateway in Node can do, for `bench:gateway --minimal`: node:http in, undici's dispatch
 * out, the upstream's SSE split in the bytes (servelab's own decoder), each chunk parsed and its text framed
 * again, one write per turn of the event loop. No framework, routing, validation, model profile, metrics or
 * error handling: not a server for anything but measuring. Between the byte-copying relay (tcp-relay.mjs)
 * and servelab's gateway, it says how much of the gateway's cost is Node's HTTP stack and undici, and how
 * much is servelab's own.
 *
 *   node scripts/minimal-gateway.mjs --to http://127.0.0.1:8000/v1 [--port 0]   # prints its port first
 * Needs `npm run build` (dist/engines/upstream/sse.js).
 */
import http from "node:http";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { SseDataDecoder } from "../dist/engines/upstream/sse.js";

const { values } = parseArgs({ options: { to: { type: "string" }, port: { type: "string", default: "0" } } });
if (values.to === undefined) {
  console.error("usage: node scripts/minimal-gateway.mjs --to http://HOST:PORT/v1 [--port PORT]");
  process.exit(2);
}
const upstream = new URL(values.to);
const basePath = upstream.pathname.replace(/\/$/, "");
const pool = new Pool(upstream.origin, { connections: 1024, keepAliveTimeout: 60_000 });
const headers = { "content-type": "application/json", accept: "text/event-stream" };
let served = 0;

function stream(body, res) {
  const parsed = JSON.parse(body);
  const request = {
    model: parsed.model,
    messages: parsed.messages,
    max_tokens: parsed.max_tokens,
    ignore_eos: parsed.ignore_eos,
    stream: true,
  };
  const head = `data: {"id":"chatcmpl-${++served}","object":"chat.completion.chunk","created":0,"model":${JSON.stringify(parsed.model ?? "")},"choices":[{"index":0,`;
  let pending = "";
  const flush = () => {
    const out = pending;
    pending = "";
    if (out !== "") res.write(out);
  };
  const decoder = new SseDataDecoder((data) => {
    if (data === "[DONE]") return;
    const choice = JSON.parse(data).choices?.[0];
    if (choice === undefined) return;
    const text = choice.delta?.content;
    let event = "";
    if (typeof text === "string" && text !== "")
      event = `${head}"delta":{"content":${JSON.stringify(text)}},"finish_reason":null}]}\n\n`;
    else if (typeof choice.finish_reason === "string")
      event = `${head}"delta":{},"finish_reason":${JSON.stringify(choice.finish_reason)}}]}\n\n`;
    if (event === "") return;
    if (pending === "") process.nextTick(flush);
    pending += event;
  });
  pool.dispatch(
    {
      origin: upstream.origin,
      path: `${basePath}/chat/completions`,
      method: "POST",
      headers,
      body: JSON.stringify(request),
    },
    {
      onRequestStart() {},
      onResponseStart(_controller, status) {
        res.writeHead(status, { "content-type": "text/event-stream" });
      },
      onResponseData(_controller, chunk) {
        decoder.push(chunk);
      },
      onResponseEnd() {
        decoder.end();
        flush();
        res.end("data: [DONE]\n\n");
      },
      onResponseError(_controller, err) {
        res.destroy(err);
      },
    },
  );
}

// Every GET answers the upstream's model list as it was at start: enough for readiness and model lookup.
const models = await (await fetch(`${values.to}/models`)).text();
const server = http.createServer((req, res) => {
  if (req.method === "GET") {
    res.setHeader("content-type", "application/json");
    res.end(models);
    return;
  }
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => stream(body, res));
});
server.listen(Number(values.port), "127.0.0.1", () => console.log(server.address().port));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
