/**
 * Runs the scripted-timing server as its own process:
 *   node dist/bench/testing/scripted-server-main.js --port 0 --ttft 50 --itl 10 --tokens-per-chunk 1
 *   (--ttft-jitter 10 adds a random 0-10 ms to each request's TTFT)
 * Any script field can also be set per request with a `scripted` object in the body (see ScriptedScript).
 * The first line on stdout is the base URL (ending in /v1). Stops on SIGTERM/SIGINT, and with
 * --exit-on-stdin-close also when stdin closes (so a parent that dies takes it along).
 */
import { parseArgs } from "node:util";
import { startScriptedServer } from "./scripted-server.js";
import type { ScriptedErrorMode, ScriptedServerOptions, ScriptedUsageMode } from "./scripted-server.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    ttft: { type: "string" },
    "ttft-jitter": { type: "string" },
    itl: { type: "string" },
    "tokens-per-chunk": { type: "string" },
    "reasoning-tokens": { type: "string" },
    "reasoning-field": { type: "string" },
    "output-tokens": { type: "string" },
    "eos-after": { type: "string" },
    "no-ignore-eos": { type: "boolean" },
    usage: { type: "string" },
    error: { type: "string" },
    "error-status": { type: "string" },
    "error-after": { type: "string" },
    "error-every": { type: "string" },
    model: { type: "string" },
    "exit-on-stdin-close": { type: "boolean" },
  },
});

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const options: ScriptedServerOptions = { port: Number(values.port) };
const set = <K extends keyof ScriptedServerOptions>(
  key: K,
  value: ScriptedServerOptions[K] | undefined,
): void => {
  if (value !== undefined) options[key] = value;
};
set("ttftMs", num(values.ttft));
set("ttftJitterMs", num(values["ttft-jitter"]));
set("itlMs", num(values.itl));
set("tokensPerChunk", num(values["tokens-per-chunk"]));
set("reasoningTokens", num(values["reasoning-tokens"]));
set("reasoningField", values["reasoning-field"] as ScriptedServerOptions["reasoningField"]);
set("outputTokens", num(values["output-tokens"]));
set("eosAfter", num(values["eos-after"]));
if (values["no-ignore-eos"] === true) options.honourIgnoreEos = false;
set("usage", values.usage as ScriptedUsageMode | undefined);
set("error", values.error as ScriptedErrorMode | undefined);
set("errorStatus", num(values["error-status"]));
set("errorAfterTokens", num(values["error-after"]));
set("errorEvery", num(values["error-every"]));
set("modelId", values.model);

const server = await startScriptedServer(options);
process.stdout.write(`${server.url}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (values["exit-on-stdin-close"] === true) {
  process.stdin.on("end", stop);
  process.stdin.resume();
}
