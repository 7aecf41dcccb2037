/**
 * DeepSeek-R1 handling on the real path: a `servelab synth --script` model in the embedded engine, the
 * servelab server, the official `openai` client. The script has no opening <think> (as R1 answers when
 * the prompt already ends with it), and its tags reach the server cut into several tokens. Also a
 * Phi-3 model that writes `<|end|>` as plain text and goes on, and the repetition guard's metric.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppEngine } from "../../src/engines/llama-cpp.js";
import { startServer } from "../../src/server/index.js";
import { metricValue, sseData } from "../helpers/http.js";
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
      threads: 1, // two threads on a busy 2-core machine spin: ten times slower
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

  it("streamed truncation before </think>: finish length, the reasoning kept, no content, reasoning_truncated", async () => {
    const stream = await client.chat.completions.create({
      model: "r1",
      messages: [{ role: "user", content: "What is 4*4?" }],
      max_tokens: 4,
      stream: true,
    });
    let reasoning = "";
    let content = "";
    let finish: (Record<string, unknown> & { finish_reason: string | null }) | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      const delta = choice?.delta as { content?: string | null; reasoning_content?: string } | undefined;
      reasoning += delta?.reasoning_content ?? "";
      content += delta?.content ?? "";
      if (choice?.finish_reason) finish = choice as unknown as typeof finish;
    }
    expect(finish?.finish_reason).toBe("length");
    expect(finish?.reasoning_truncated).toBe(true);
    expect(reasoning).toBe("Let me compute ");
    expect(content).toBe("");
  });

  it("a </think> the engine emits cut across two SSE chunks never reaches the content", async () => {
    // the raw text (a completion: no reasoning split) shows where the engine's chunks cut the tag
    const raw = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "What is 4*4?", stream: true }),
    });
    const texts = sseData(await raw.text())
      .filter((d) => d !== "[DONE]")
      .map((d) => (JSON.parse(d) as { choices: { text: string }[] }).choices[0]?.text ?? "");
    expect(texts.join("")).toBe(script);
    const cut = texts.findIndex(
      (t, i) => !t.includes("</think>") && (t + (texts[i + 1] ?? "")).includes("</think>"),
    );
    expect(cut, JSON.stringify(texts)).toBeGreaterThanOrEqual(0);
    expect(texts[cut + 1]).not.toContain("</think>");

    // the same output as a chat stream: no chunk holds any piece of the tag
    const chat = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "What is 4*4?" }], stream: true }),
    });
    const deltas = sseData(await chat.text())
      .filter((d) => d !== "[DONE]")
      .map(
        (d) => (JSON.parse(d) as { choices: { delta: Record<string, string> }[] }).choices[0]?.delta ?? {},
      );
    for (const delta of deltas)
      for (const text of [delta.content ?? "", delta.reasoning_content ?? ""])
        expect(text, JSON.stringify(deltas)).not.toMatch(/[<>]|\/th|nk>/);
    expect(deltas.map((d) => d.content ?? "").join("")).toBe("The answer is \\boxed{16}.");
    expect(deltas.map((d) => d.reasoning_content ?? "").join("")).toBe("Let me compute 4*4.\n");
  });

  it("the math request option appends DeepSeek's instruction to the rendered prompt", async () => {
    const ask = (extra: Record<string, unknown>) =>
      client.chat.completions.create({
        model: "r1",
        messages: [{ role: "user", content: "What is 4*4?" }],
        max_tokens: 1,
        ...extra,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const bos = "<｜begin▁of▁sentence｜>";
    const instruction = "Please reason step by step, and put your final answer within \\boxed{}.";
    const withMath = `${bos}<｜User｜>What is 4*4?\n\n${instruction}<｜Assistant｜><think>\n`;
    const without = `${bos}<｜User｜>What is 4*4?<｜Assistant｜><think>\n`;
    expect((await ask({ math: true })).usage?.prompt_tokens).toBe(await engine.countTokens(withMath));
    expect((await ask({})).usage?.prompt_tokens).toBe(await engine.countTokens(without));
    expect(await engine.countTokens(withMath)).toBeGreaterThan(await engine.countTokens(without));
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

describe("Phi-3 on the embedded engine: <|end|> written as text mid-reply", () => {
  // "4.<|end|> " is one ordinary token of the script: the model file cannot mark it end-of-generation
  const phiScript = "The answer is 4.<|end|> And then more text after it.";
  let engine: ReturnType<typeof createLlamaCppEngine>;
  const servers: Awaited<ReturnType<typeof startServer>>[] = [];
  const clientOf = (server: Awaited<ReturnType<typeof startServer>>) =>
    new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });

  beforeAll(async () => {
    engine = createLlamaCppEngine({
      model: await tinyModel({ preset: "tiny-phi-3", script: phiScript }),
      modelId: "phi",
      parallel: 1,
      contextSize: 256,
      threads: 1,
    });
    for (const profileOptions of [{}, { turnEndStop: false }]) {
      const server = await startServer({ engine, port: 0, profileOptions });
      servers.push(server);
      await server.ready;
    }
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    await engine?.dispose();
  });

  it("the reply stops at <|end|> with finish reason stop, whole and streamed", async () => {
    expect(servers[0]!.profile()?.name).toBe("phi-3");
    const client = clientOf(servers[0]!);
    const messages = [{ role: "user" as const, content: "What is 2+2?" }];
    const res = await client.chat.completions.create({ model: "phi", messages });
    expect(res.choices[0]?.finish_reason).toBe("stop");
    expect(res.choices[0]?.message.content).toBe("The answer is 4.");
    let content = "";
    let finish: string | null | undefined;
    for await (const chunk of await client.chat.completions.create({
      model: "phi",
      messages,
      stream: true,
    })) {
      content += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ content, finish }).toEqual({ content: "The answer is 4.", finish: "stop" });
  });

  it("without the profile's stop (turn-end-stop=false) the model writes past it: only the profile stops it", async () => {
    const res = await clientOf(servers[1]!).chat.completions.create({
      model: "phi",
      messages: [{ role: "user", content: "What is 2+2?" }],
    });
    expect(res.choices[0]?.message.content).toBe(phiScript);
  });
});
