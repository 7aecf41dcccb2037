// node-llama-cpp alone, no HTTP server: N sequences each evaluate a 128-token prompt and generate
// 128 tokens together; prints aggregate tok/s and per-step time. Separates the library's own
// per-token cost from servelab's engine and server.
//   [RAW_THREADS=N] node scripts/h200/raw-decode.mjs MODEL.gguf cuda|vulkan 1,4,32 [greedy|sample] [fa]
import { getLlama } from "node-llama-cpp";

const [modelPath, gpu = "cuda", levels = "1,32", mode = "sample", fa = ""] = process.argv.slice(2);
const llama = await getLlama({ gpu, build: "never" });
const model = await llama.loadModel({ modelPath, gpuLayers: "max" });
const prompt = model.tokenize("The quick brown fox jumps over the lazy dog. ".repeat(20)).slice(0, 128);
const sampling =
  mode === "greedy" ? { temperature: 0 } : { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 };
const threads = process.env.RAW_THREADS === undefined ? {} : { threads: Number(process.env.RAW_THREADS) };
for (const n of levels.split(",").map(Number)) {
  const context = await model.createContext({
    sequences: n,
    contextSize: 512,
    ...threads,
    ...(fa === "fa" ? { flashAttention: true } : {}),
  });
  // dispose() gives a sequence id back asynchronously: take the sequences once, clear them between runs.
  const seqs = Array.from({ length: n }, () => context.getSequence());
  const run = async () => {
    for (const seq of seqs) await seq.clearHistory();
    let firstTokenAt = 0;
    const t0 = performance.now();
    await Promise.all(
      seqs.map(async (seq) => {
        let count = 0;
        for await (const _token of seq.evaluate(prompt, { ...sampling, yieldEogToken: true })) {
          if (firstTokenAt === 0) firstTokenAt = performance.now();
          if (++count >= 128) break;
        }
      }),
    );
    const t1 = performance.now();
    return { total: t1 - t0, decode: t1 - firstTokenAt };
  };
  let total, decode;
  try {
    await run(); // warm-up
    ({ total, decode } = await run());
  } catch (err) {
    console.log(`raw ${gpu} n=${n}: failed: ${err?.stack ?? err}`);
    await context.dispose();
    continue;
  }
  console.log(
    `raw ${gpu} n=${n} ${mode}${fa ? " fa" : ""}${process.env.RAW_THREADS ? ` threads=${process.env.RAW_THREADS}` : ""}: ${((n * 128) / (total / 1000)).toFixed(1)} tok/s overall, ` +
      `${((n * 127) / (decode / 1000)).toFixed(1)} tok/s after first token, step ${(decode / 127).toFixed(2)} ms`,
  );
  await context.dispose();
}
await model.dispose();
await llama.dispose();
