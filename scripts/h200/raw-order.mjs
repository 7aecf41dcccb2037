// node-llama-cpp alone: N sequences step together, one token each a step, and queue their decodes
// in a chosen order of sequence ids. A context's sequences have separate KV streams
// (node-llama-cpp never makes them unified), and llama.cpp then splits a batch into ubatches of
// consecutive, increasing sequence ids (llama_batch_allocr::split_equal, sequential): each ubatch
// is one more pass over the weights. Prints, per level and order, the step time, the time inside
// decodeBatch (llama_decode + synchronize), the latency of one sampleToken call, and how long each
// call holds the main thread before it returns its promise.
//   [RAW_THREADS=N] node scripts/h200/raw-order.mjs MODEL.gguf cuda 1,4,16,32 sorted,reversed,shuffled [fa]
import { getLlama } from "node-llama-cpp";

const [modelPath, gpu = "cuda", levelsArg = "1,32", ordersArg = "sorted,shuffled", fa = ""] =
  process.argv.slice(2);
const levels = levelsArg.split(",").map(Number);
const orders = ordersArg.split(",");
const llama = await getLlama({ gpu, build: "never" });
const model = await llama.loadModel({ modelPath, gpuLayers: "max" });
const prompt = model.tokenize("The quick brown fox jumps over the lazy dog. ".repeat(20)).slice(0, 128);
const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, yieldEogToken: true };
const maxN = Math.max(...levels);
const context = await model.createContext({
  sequences: maxN,
  contextSize: 512,
  ...(process.env.RAW_THREADS === undefined ? {} : { threads: Number(process.env.RAW_THREADS) }),
  ...(fa === "fa" ? { flashAttention: true } : {}),
});
const seqs = Array.from({ length: maxN }, () => context.getSequence());

// Time the two native calls of a step. The addon's methods are read-only: the context's handle to
// it (an internal field; this is a probe, not an API) is swapped for a proxy that times them.
const t = { decodes: 0, decodeMs: 0, samples: 0, sampleMs: 0, decodesSync: 0, samplesSync: 0 };
const timed =
  (fn, count, ms) =>
  async (...args) => {
    const t0 = performance.now();
    try {
      const pending = fn(...args);
      // the synchronous part of the native call (argument parsing, queueing the worker) blocks the main thread
      t[`${count}Sync`] += performance.now() - t0;
      return await pending;
    } finally {
      t[count]++;
      t[ms] += performance.now() - t0;
    }
  };
const addon = context._ctx;
const decodeBatch = timed(addon.decodeBatch.bind(addon), "decodes", "decodeMs");
const sampleToken = timed(addon.sampleToken.bind(addon), "samples", "sampleMs");
context._ctx = new Proxy(addon, {
  get(target, key) {
    if (key === "decodeBatch") return decodeBatch;
    if (key === "sampleToken") return sampleToken;
    const value = target[key];
    return typeof value === "function" ? value.bind(target) : value;
  },
});

const orderOf = (order, n) => {
  const ids = Array.from({ length: n }, (_, i) => i);
  if (order === "reversed") return ids.reverse();
  if (order === "shuffled") {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
  }
  return ids;
};

const steps = Number(process.env.RAW_STEPS ?? 64);
for (const n of levels) {
  for (const order of orders) {
    const use = seqs.slice(0, n);
    for (const seq of use) await seq.clearHistory();
    const iterators = use.map((seq) => seq.evaluate(prompt, sampling)[Symbol.asyncIterator]());
    await Promise.all(iterators.map((it) => it.next())); // the prompts, and the first tokens
    for (let i = 0; i < 8; i++) await Promise.all(orderOf(order, n).map((k) => iterators[k].next()));
    Object.assign(t, { decodes: 0, decodeMs: 0, samples: 0, sampleMs: 0, decodesSync: 0, samplesSync: 0 });
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await Promise.all(orderOf(order, n).map((k) => iterators[k].next()));
    const stepMs = (performance.now() - t0) / steps;
    await Promise.all(iterators.map((it) => it.return(undefined)));
    console.log(
      `order n=${String(n).padStart(2)} ${order.padEnd(8)}${fa ? " fa" : ""}` +
        `${process.env.RAW_THREADS ? ` threads=${process.env.RAW_THREADS}` : ""}: ` +
        `${((n * 1000) / stepMs).toFixed(1)} tok/s, step ${stepMs.toFixed(2)} ms, ` +
        `decodeBatch ${(t.decodeMs / t.decodes).toFixed(2)} ms (${(t.decodes / steps).toFixed(2)} a step), ` +
        `sampleToken ${(t.sampleMs / t.samples).toFixed(2)} ms each; ` +
        `main thread in the calls: decodeBatch ${(t.decodesSync / t.decodes).toFixed(3)} ms, ` +
        `sampleToken ${(t.samplesSync / t.samples).toFixed(3)} ms` +
        `${process.env.UV_THREADPOOL_SIZE ? ` uv=${process.env.UV_THREADPOOL_SIZE}` : ""}` +
        `${process.env.NODE_LLAMA_CPP_SERIAL_SAMPLING === "1" ? " serial" : ""}`,
    );
  }
}
await context.dispose();
await model.dispose();
await llama.dispose();
