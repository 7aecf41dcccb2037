/**
 * DeepSeek-R1 handling on the real path: a `servelab synth --script` model in the embedded engine, the
 * servelab server, the official `openai` client. The script has no opening <think> (as R1 answers when
 * the prompt already ends with it), and its tags reach the server cut into several tokens.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { startServer } from "../../src/server/index.js";
import { metricValue } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

const script = "Let me compute 4*4.\n</think>\n\nThe answer is \\boxed{16}.";

describe("R1 reasoning on the embedded engine, without the opening tag", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let engine: ReturnType<typeof createLlamaCppEngine>;
  let client: OpenAI;

  beforeAll(async () => {
    engine = createLlamaCppEngine({
      model: await tinyModel({ script }),
      modelId: "r1",
      parallel: 1,
      contextSize: 256,
    });
    server = await startServer({ engine, port: 0 });
    await server.ready;
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
  });

  it("splits a whole message: everything before </think> is reasoning", async () => {
    const res = await client.chat.completions.create({
      model: "r1",
      messages: [{ role: "user", content: "What is 4*4?" }],
    });
    const message = res.choices[0]!.message as { content: string | null; reasoning_content?: string };
    expect(message.reasoning_content).toBe("Let me compute 4*4.\n");
    expect(message.content).toBe("The answer is \\boxed{16}.");
  });

  it("splits a stream the same way, no tag piece leaking into either part", async () => {
    const stream = await client.chat.completions.create({
      model: "r1",
      messages: [{ role: "user", content: "What is 4*4?" }],
      stream: true,
    });
    let reasoning = "";
    let content = "";
    let chunks = 0;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as
        { content?: string | null; reasoning_content?: string } | undefined;
      reasoning += delta?.reasoning_content ?? "";
      content += delta?.content ?? "";
      chunks++;
    }
    expect(chunks).toBeGreaterThan(8);
    expect(reasoning).toBe("Let me compute 4*4.\n");
    expect(content).toBe("The answer is \\boxed{16}.");
  });

  it("folds a system message into the first user turn and ends the prompt with <think>\\n", async () => {
    const res = await client.chat.completions.create({
      model: "r1",
      messages: [
        { role: "system", content: "You are terse" },
        { role: "user", content: "What is 4*4?" },
      ],
    });
    const bos = "<｜begin▁of▁sentence｜>";
    const folded = `${bos}<｜User｜>You are terse\n\nWhat is 4*4?<｜Assistant｜><think>\n`;
    const unfolded = `${bos}You are terse<｜User｜>What is 4*4?<｜Assistant｜><think>\n`;
    const noForcedThink = `${bos}<｜User｜>You are terse\n\nWhat is 4*4?<｜Assistant｜>`;
    const count = (text: string) => engine.countTokens(text);
    expect(res.usage?.prompt_tokens).toBe(await count(folded));
    expect(await count(unfolded)).not.toBe(await count(folded));
    expect(await count(noForcedThink)).toBe((await count(folded)) - 2);
  });
});

describe("the repetition guard on the embedded engine: a short 'Wait, ' loop, counted in /metrics", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let engine: ReturnType<typeof createLlamaCppEngine>;
  let client: OpenAI;

  beforeAll(async () => {
    engine = createLlamaCppEngine({
      model: await tinyModel({ script: `Let me see. ${"Wait, ".repeat(40)}</think>\n\n4` }),
      modelId: "r1-loop",
      parallel: 1,
      contextSize: 256,
      threads: 1,
    });
    server = await startServer({ engine, port: 0 });
    await server.ready;
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
  });

  it("stops the loop with finish reason repetition and counts it in servelab_repetition_stops_total", async () => {
    const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();
    expect(metricValue(metricsBefore, "servelab_repetition_stops_total")).toBe(0);
    const res = await client.chat.completions.create({
      model: "r1-loop",
      messages: [{ role: "user", content: "What is 2+2?" }],
    });
    const choice = res.choices[0]!;
    expect(choice.finish_reason as string).toBe("repetition");
    const reasoning = (choice.message as { reasoning_content?: string }).reasoning_content ?? "";
    // stopped inside the loop, well before its 40 repeats (240 characters) ran out
    expect(reasoning.startsWith("Let me see. Wait, Wait, ")).toBe(true);
    expect(reasoning.length).toBeLessThan(12 + 200);
    expect(choice.message.content).toBe("");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metricValue(metrics, "servelab_repetition_stops_total")).toBe(1);
    expect(metricValue(metrics, 'servelab_finished_total{reason="repetition"}')).toBe(1);
  });
});
