#!/usr/bin/env node
/**
 * A TCP relay that copies bytes both ways and does nothing else: `bench:gateway --relay` puts it in front
 * of the upstream to measure what any process in the path costs on this machine (two more loopback hops
 * and a process to wake per read), the floor under the gateway's added latency.
 *
 *   node scripts/tcp-relay.mjs --to 127.0.0.1:8000 [--port 0]   # prints its port on the first line
 */
import net from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { to: { type: "string" }, port: { type: "string", default: "0" } } });
const match = /^(.+):(\d+)$/.exec(values.to ?? "");
if (match === null) {
  console.error("usage: node scripts/tcp-relay.mjs --to HOST:PORT [--port PORT]");
  process.exit(2);
}
const [, host, port] = match;
const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host, port: Number(port), noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.on("close", close);
  upstream.on("close", close);
});
server.listen(Number(values.port), "127.0.0.1", () => console.log(server.address().port));
process.on("SIGTERM", () => process.exit(0));
