import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContextLengthExceededError } from "../../src/core/errors.js";
import { spawnSupervised } from "../../src/core/process.js";
import type { SupervisedProcess } from "../../src/core/process.js";
import type { GenerateEvent, GenerateRequest } from "../../src/engines/engine.js";
import { createUpstreamEngine, scrapeMetrics } from "../../src/engines/upstream.js";
import type { UpstreamEngine } from "../../src/engines/upstream.js";
import { findFreePort } from "../../src/engines/vllm.js";
import { fakeVllmPath, makeNodeOnlyDir, waitUntil } from "../helpers/fake-vllm.js";

// One stand-in vLLM for the file, started directly (not through the vLLM engine), with servelab attached.
const logDir = mkdtempSync(join(tmpdir(), "servelab-upstream-it-"));
let proc: SupervisedProcess | undefined;
let engine: UpstreamEngine | undefined;
let baseUrl = "";

beforeAll(async () => {
  const port = await findFreePort();
  const nodeDir = makeNodeOnlyDir();
  proc = await spawnSupervised({
    command: fakeVllmPath,
    args: [
      "serve",
      "microsoft/Phi-3-mini-4k-instruct",
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--max-model-len",
      "64",
      "--served-model-name",
      "phi3",
      "--reasoning-parser",
      "deepseek_r1",
    ],
    env: { PATH: nodeDir, FAKE_VLLM_READY_DELAY_MS: "100", FAKE_VLLM_TOKEN_DELAY_MS: "1" },
    logFile: join(logDir, "vllm.log"),
  });
  baseUrl = `http://127.0.0.1:${port}/v1`;
  await waitUntil(
    () => proc?.tail().some((l) => l.includes("Uvicorn running")) === true,
    10_000,
    "the stand-in",
  );
  engine = createUpstreamEngine({ baseUrl });
  await engine.load();
});

afterAll(async () => {
  await engine?.dispose();
  await proc?.stop({ graceMs: 2000 });
  rmSync(logDir, { recursive: true, force: true });
});

async function collect(events: AsyncIterable<GenerateEvent>): Promise<GenerateEvent[]> {
  const out: GenerateEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const texts = (events: GenerateEvent[]): string =>
  events.map((e) => (e.type === "text" && e.channel === undefined ? e.text : "")).join("");

describe("upstream engine attached to a vLLM-shaped server", () => {
  it("reads the served name, max_model_len and the vLLM flavor", () => {
    expect(engine?.flavor).toBe("vllm");
    expect(engine?.info()).toMatchObject({
      kind: "upstream",
      modelId: "phi3",
      contextSize: 64,
      source: baseUrl,
    });
  });

  it("takes tokens per event from continuous usage stats and the counts from usage", async () => {
    const events = await collect(
      engine!.generate({
        input: { type: "text", text: "Tell me" },
        maxTokens: 5,
        sampling: {},
      } satisfies GenerateRequest),
    );
    expect(events[0]).toMatchObject({ type: "start", promptTokens: 0 });
    expect(events[1]).toMatchObject({ type: "text", promptTokens: 2 });
    // Text completions are not split: the raw <think> text arrives as content.
    expect(texts(events)).toBe("<think>\nLet me think about");
    expect(events.at(-1)).toMatchObject({
      type: "done",
      finishReason: "length",
      promptTokens: 2,
      completionTokens: 5,
    });
  });

  it("reports the stop string that ended generation", async () => {
    const events = await collect(
      engine!.generate({
        input: { type: "chat", messages: [{ role: "user", content: "hi" }] },
        maxTokens: 30,
        sampling: {},
        stop: [" is"],
      }),
    );
    expect(texts(events)).toBe("The answer");
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "stop", stopSequence: " is" });
  });

  it("turns vLLM's context-length error into ContextLengthExceededError", async () => {
    const err = await collect(
      engine!.generate({
        input: { type: "chat", messages: [{ role: "user", content: "a b c d" }] },
        maxTokens: 100,
        sampling: {},
      }),
    ).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ContextLengthExceededError);
    expect(err).toMatchObject({ promptTokens: 8, contextSize: 64 });
  });

  it("counts tokens through vLLM's root /tokenize", async () => {
    expect(await engine!.countTokens("one two three four")).toBe(4);
  });

  it("scrapes vLLM's gauges", async () => {
    const metrics = await scrapeMetrics(baseUrl);
    expect(metrics.flavor).toBe("vllm");
    expect(metrics.running).toBe(0);
    expect(metrics.kvCacheUsage).toBe(0);
    expect(metrics.samples.some((s) => s.name === "vllm:prompt_tokens_total")).toBe(true);
  });

  it("passes many concurrent streams through", async () => {
    const runs = await Promise.all(
      Array.from({ length: 16 }, () =>
        collect(
          engine!.generate({
            input: { type: "chat", messages: [{ role: "user", content: "x" }] },
            maxTokens: 40,
            sampling: {},
          }),
        ),
      ),
    );
    for (const events of runs) expect(texts(events)).toBe("The answer is 4.");
    expect(engine?.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("rejects a model the server does not serve, naming the ones it does", async () => {
    const bad = createUpstreamEngine({ baseUrl, model: "nope" });
    const err = await bad.load().catch((x: unknown) => x);
    await bad.dispose();
    expect(err).toMatchObject({ code: "MODEL_NOT_FOUND" });
    expect((err as Error).message).toContain("it serves: phi3");
  });
});
