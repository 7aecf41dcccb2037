// An engine change under test, laid over a built dist/engines/llama-cpp.js (the source is not
// changed): the step barrier releases its sequences in the order of their sequence ids, so that
// node-llama-cpp queues their decodes, and llama.cpp splits the batch, in that order (one ubatch
// for consecutive ids instead of up to one per sequence; see raw-order.mjs).
// The slots' sequences are taken in order from a fresh context, so slot.index is the sequence id.
//   node scripts/h200/patch-step-order.mjs DIST_DIR
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const file = path.join(process.argv[2] ?? "dist", "engines/llama-cpp.js");
let js = readFileSync(file, "utf8");
const edits = [
  [
    "const released = new Promise((resolve) => this.#stepWaiters.push(resolve));",
    "const released = new Promise((resolve) => this.#stepWaiters.push(Object.assign(resolve, { index: slot.index })));",
  ],
  [
    "const waiters = this.#stepWaiters.splice(0);",
    "const waiters = this.#stepWaiters.splice(0).sort((a, b) => a.index - b.index);",
  ],
];
for (const [from, to] of edits) {
  if (!js.includes(from)) throw new Error(`patch-step-order: not found in ${file}: ${from}`);
  js = js.replace(from, to);
}
writeFileSync(file, js);
console.log(`patched ${file}: step barrier releases in sequence-id order`);
