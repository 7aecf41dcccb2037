/**
 * End to end: the client SDK against the real servelab server (src/server) on 127.0.0.1, in front of a
 * scripted Engine that renders prompts with the real DeepSeek-R1-Distill / Phi-3.5 templates and emits
 * scripted text. Checks that profiles, the reasoning split, truncation, the repetition guard and the math
 * instruction behave as the client promises.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, type StreamEvent } from "../../src/client/index.js";
import type {
  ChatMessage,
  Engine,
  EngineInfo,
  EngineState,
  EngineStats,
  FinishReason,
  GenerateEvent,
  GenerateRequest,
} from "../../src/engines/engine.js";
import { renderChatTemplate } from "../../src/models/chat-template.js";
import type { ProfileOverrides } from "../../src/models/profile-options.js";
import { startServer } from "../../src/server/index.js";

const template = (name: string) =>
  readFileSync(new URL(`../fixtures/templates/${name}`, import.meta.url), "utf8");
const r1Info = {
  chatTemplate: template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"),
  bosToken: "<｜begin▁of▁sentence｜>",
  eosToken: "<｜end▁of▁sentence｜>",
};
const phiInfo = {
  chatTemplate: template("microsoft-Phi-3.5-mini-instruct.jinja"),
  bosToken: "<s>",
  eosToken: "<|endoftext|>",
};

interface Script {
  /** Text pieces, one per token. */
  pieces: string[];
  finishReason?: FinishReason;
}

/** An Engine whose output is scripted; it records the requests it gets. */
class ScriptedEngine implements Engine {
  state: EngineState = "created";
  readonly requests: GenerateRequest[] = [];
  readonly prompts: string[] = [];
  aborted = 0;
  constructor(
    private readonly templateInfo: Pick<EngineInfo, "chatTemplate" | "bosToken" | "eosToken">,
    private readonly script: (prompt: string) => Script,
    private readonly modelId = "scripted",
  ) {}
  info(): EngineInfo {
    return {
      kind: "llama-cpp",
      modelId: this.modelId,
      source: "scripted",
      precision: "f16",
      device: "cpu",
      contextSize: 4096,
      parallel: 2,
      ...this.templateInfo,
    };
  }
  stats(): EngineStats {
    return { loadTimeMs: 0, ramBytes: undefined, vramBytes: undefined, running: 0, waiting: 0 };
  }
  async load(): Promise<void> {
    this.state = "ready";
  }
  async countTokens(text: string): Promise<number> {
    return Math.ceil(text.length / 4);
  }
  async renderChat(
    messages: readonly ChatMessage[],
    options: { variables?: Readonly<Record<string, unknown>> } = {},
  ): Promise<string> {
    return renderChatTemplate(
      this.templateInfo,
      messages,
      options.variables === undefined ? {} : { variables: options.variables },
    );
  }
  async *generate(request: GenerateRequest): AsyncGenerator<GenerateEvent> {
    this.requests.push(request);
    const prompt =
      request.input.type === "text" ? request.input.text : JSON.stringify(request.input.messages);
    this.prompts.push(prompt);
    const script = this.script(prompt);
    let { pieces } = script;
    let finishReason = script.finishReason ?? "stop";
    // stop strings, as engines apply them: generation ends before the first one
    const whole = pieces.join("");
    const cuts = (request.stop ?? []).map((s) => whole.indexOf(s)).filter((i) => i >= 0);
    if (cuts.length > 0) {
      const end = Math.min(...cuts);
      const kept: string[] = [];
      let length = 0;
      for (const piece of pieces) {
        if (length + piece.length > end) {
          if (end > length) kept.push(piece.slice(0, end - length));
          break;
        }
        kept.push(piece);
        length += piece.length;
      }
      pieces = kept;
      finishReason = "stop";
    }
    yield { type: "start", promptTokens: 10, cachedPromptTokens: 0, time: performance.now() };
    let tokens = 0;
    let completed = false;
    try {
      for (const piece of pieces.slice(0, request.maxTokens)) {
        if (request.signal?.aborted) return; // counted as aborted in finally
        tokens++;
        yield { type: "text", text: piece, tokens: 1, time: performance.now() };
        await new Promise((r) => setImmediate(r));
      }
      completed = true;
      const reason: FinishReason = pieces.length > request.maxTokens ? "length" : finishReason;
      yield {
        type: "done",
        finishReason: reason,
        promptTokens: 10,
        completionTokens: tokens,
        time: performance.now(),
      };
    } finally {
      if (!completed) this.aborted++;
    }
  }
  async dispose(): Promise<void> {
    this.state = "disposed";
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Cuts text into pieces of `size` characters (so tags are split across tokens). */
const chop = (text: string, size = 3): string[] => {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
};

let closeServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeServer?.();
  closeServer = undefined;
});

async function serve(engine: Engine, profile?: string, profileOptions?: ProfileOverrides) {
  const server = await startServer({
    engine,
    host: "127.0.0.1",
    port: 0,
    ...(profile === undefined ? {} : { profile }),
    ...(profileOptions === undefined ? {} : { profileOptions }),
  });
  closeServer = () => server.close();
  await server.ready;
  return { server, client: createClient({ baseURL: `${server.url}/v1`, maxRetries: 0 }) };
}

async function collect(events: AsyncIterable<StreamEvent>) {
  let reasoning = "";
  let content = "";
  let finish: StreamEvent | undefined;
  for await (const event of events) {
    if (event.type === "reasoning") reasoning += event.text;
    else if (event.type === "content") content += event.text;
    else if (event.type === "finish") finish = event;
  }
  return { reasoning, content, finish };
}

const r1Output = "Okay, 2+2 means adding two and two.\nThat is 4.\n</think>\n\nThe answer is $\\boxed{4}$.";

describe("client ⇄ servelab server with the deepseek-r1-distill profile", () => {
  it("detects the profile, forces <think>\\n, folds the system prompt, applies sampling defaults, splits reasoning", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Output) }));
    const { server, client } = await serve(engine);
    expect(server.profile()?.name).toBe("deepseek-r1-distill");

    const streamed = await collect(
      client.stream([
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is 2+2?" },
      ]),
    );
    expect(streamed.reasoning).toBe("Okay, 2+2 means adding two and two.\nThat is 4.\n");
    expect(streamed.content).toBe("The answer is $\\boxed{4}$.");
    expect(streamed.finish).toMatchObject({ reason: "stop", reasoningTruncated: false });
    expect(engine.prompts.at(-1)).toBe(
      "<｜begin▁of▁sentence｜><｜User｜>Be brief.\n\nWhat is 2+2?<｜Assistant｜><think>\n",
    );
    expect(engine.requests.at(-1)?.sampling).toMatchObject({ temperature: 0.6, topP: 0.95 });

    const whole = await client.chat([{ role: "user", content: "What is 2+2?" }], { temperature: 0.1 });
    expect(whole.content).toBe("The answer is $\\boxed{4}$.");
    expect(whole.reasoning).toContain("That is 4.");
    expect(engine.requests.at(-1)?.sampling).toMatchObject({ temperature: 0.1, topP: 0.95 });
  });

  it("sends earlier answers back without their reasoning", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Output) }));
    const { client } = await serve(engine);
    await client.chat([
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: "Thinking hard.</think>\n\nIt is 4." },
      { role: "user", content: "Sure?" },
    ]);
    const prompt = engine.prompts.at(-1) ?? "";
    expect(prompt).toContain("<｜Assistant｜>It is 4.<｜end▁of▁sentence｜><｜User｜>Sure?");
    expect(prompt).not.toContain("Thinking hard");
  });

  it("reports truncated reasoning (finish length before </think>) with no answer", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Output) }));
    const { client } = await serve(engine);
    const streamed = await collect(client.stream([{ role: "user", content: "2+2?" }], { maxTokens: 5 }));
    expect(streamed.finish).toEqual({ type: "finish", reason: "length", reasoningTruncated: true });
    expect(streamed.content).toBe("");
    expect(streamed.reasoning).toBe("Okay, 2+2 means");
    const answer = await client.answer("2+2?", { maxTokens: 5 });
    expect(answer.answer).toBeUndefined();
    expect(answer.finishReason).toBe("length");
  });

  it("stops a looping generation with finish reason repetition", async () => {
    const loop = "Wait, let me recompute that sum. ";
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop("First idea. " + loop.repeat(200), 4) }));
    const { client } = await serve(engine);
    const result = await client.chat([{ role: "user", content: "2+2?" }], { maxTokens: 3000 });
    expect(result.finishReason).toBe("repetition");
    expect(result.content).toBe("");
    // stopped early: far fewer tokens than the scripted 1600+
    expect(result.usage?.completionTokens ?? Infinity).toBeLessThan(200);
    expect(engine.aborted).toBeGreaterThanOrEqual(1);
  });

  it("answer() sends the math instruction and reads the boxed answer", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Output) }));
    const { client } = await serve(engine);
    const result = await client.answer("What is 2+2?");
    expect(result.answer).toBe("4");
    expect(engine.prompts.at(-1)).toContain(
      "What is 2+2?\n\nPlease reason step by step, and put your final answer within \\boxed{}.<｜Assistant｜><think>\n",
    );
  });

  it("a breaking client stops the engine's generation", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop("thinking ".repeat(3000), 1) }));
    const { client } = await serve(engine, "generic");
    let n = 0;
    for await (const event of client.stream([{ role: "user", content: "go" }], { maxTokens: 30_000 })) {
      if (event.type === "content" && ++n === 5) break;
    }
    const deadline = Date.now() + 3000;
    while (engine.aborted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(engine.aborted).toBe(1);
  });
});

describe("client ⇄ servelab server with phi-3 and generic profiles", () => {
  it("phi-3: system prompt kept, <|end|> stops, no reasoning split", async () => {
    const engine = new ScriptedEngine(phiInfo, () => ({
      pieces: chop("Hello <think>there</think><|end|><|user|>more"),
    }));
    const { server, client } = await serve(engine);
    expect(server.profile()?.name).toBe("phi-3");
    const result = await client.chat([
      { role: "system", content: "Be nice." },
      { role: "user", content: "Hi" },
    ]);
    expect(result.content).toBe("Hello <think>there</think>");
    expect(result.reasoning).toBe("");
    expect(engine.prompts.at(-1)).toBe("<|system|>\nBe nice.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n");
    expect(engine.requests.at(-1)?.stop).toEqual(expect.arrayContaining(["<|end|>", "<|endoftext|>"]));
  });
  it("--profile generic overrides detection: the R1 template's prompt is left alone", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop("plain answer") }));
    const { server, client } = await serve(engine, "generic");
    expect(server.profile()?.name).toBe("generic");
    expect(await client.simple("Hi")).toBe("plain answer");
    expect(engine.prompts.at(-1)?.endsWith("<think>\n</think>")).toBe(true);
  });
});

describe("profile options (--profile-option) change each R1 behaviour", () => {
  const conversation: ChatMessage[] = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "2+2?" },
    { role: "assistant", content: "Adding.</think>\n\nIt is 4." },
    { role: "user", content: "Sure?" },
  ];

  it("all off: sampling defaults, system folding, forced <think>, split, history stripping, guard, stop", async () => {
    const loop = "Wait, ".repeat(120);
    // the Phi-3.5 template keeps what it is given, so the R1 profile's history stripping shows in the prompt
    const engine = new ScriptedEngine(phiInfo, () => ({
      pieces: chop(`${loop}</think>\n\n4<｜end▁of▁sentence｜>`),
    }));
    const { client } = await serve(engine, "deepseek-r1-distill", {
      temperature: 0.3,
      topP: null,
      foldSystem: false,
      forceThink: false,
      reasoningSplit: false,
      stripHistoryReasoning: false,
      repetitionGuard: false,
      turnEndStop: false,
    });
    const result = await client.chat(conversation, { maxTokens: 2000 });
    expect(engine.requests.at(-1)?.sampling).toEqual({ temperature: 0.3 });
    expect(engine.requests.at(-1)?.stop).toEqual([]);
    expect(engine.prompts.at(-1)).toBe(
      "<|system|>\nBe brief.<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\nAdding.</think>\n\nIt is 4.<|end|>\n<|user|>\nSure?<|end|>\n<|assistant|>\n",
    );
    // no split on the server: the tags stay in the content, the client's own split is off
    const raw = result.raw.choices[0]?.message as { content: string; reasoning_content?: string };
    expect(raw.reasoning_content).toBeUndefined();
    expect(raw.content).toBe(`${loop}</think>\n\n4<｜end▁of▁sentence｜>`);
    expect(result.finishReason).toBe("stop");
  });

  it("the defaults, for comparison: the same request is folded, forced, split, stripped, guarded", async () => {
    const engine = new ScriptedEngine(phiInfo, () => ({
      pieces: chop(`${"Wait, ".repeat(120)}</think>\n\n4`),
    }));
    const { client } = await serve(engine, "deepseek-r1-distill");
    const result = await client.chat(conversation, { maxTokens: 2000 });
    expect(engine.requests.at(-1)?.sampling).toEqual({ temperature: 0.6, topP: 0.95 });
    expect(engine.requests.at(-1)?.stop).toEqual(["<｜end▁of▁sentence｜>"]);
    expect(engine.prompts.at(-1)).toBe(
      "<|user|>\nBe brief.\n\n2+2?<|end|>\n<|assistant|>\nIt is 4.<|end|>\n<|user|>\nSure?<|end|>\n<|assistant|>\n<think>\n",
    );
    expect(result.finishReason).toBe("repetition");
  });

  it("guard thresholds: a higher minRepeats lets a ten-fold loop through; shortMinLength 0 lets 'Wait, ' through", async () => {
    const sentence = "Wait, let me recompute that sum. ";
    const engine = new ScriptedEngine(r1Info, (prompt) => ({
      pieces: chop(prompt.includes("short") ? "Wait, ".repeat(100) : sentence.repeat(15), 4),
    }));
    const { client } = await serve(engine, undefined, {
      repetitionMinRepeats: 20,
      repetitionShortMinLength: 0,
    });
    expect((await client.chat([{ role: "user", content: "long" }], { maxTokens: 2000 })).finishReason).toBe(
      "stop",
    );
    expect((await client.chat([{ role: "user", content: "short" }], { maxTokens: 2000 })).finishReason).toBe(
      "stop",
    );
    await closeServer?.();
    const { client: guarded } = await serve(engine);
    for (const question of ["long", "short"])
      expect(
        (await guarded.chat([{ role: "user", content: question }], { maxTokens: 2000 })).finishReason,
      ).toBe("repetition");
  });

  it("phi-3 turn-end-stop=false generates past <|end|>", async () => {
    const engine = new ScriptedEngine(phiInfo, () => ({ pieces: chop("Hello.<|end|>and more") }));
    const { client } = await serve(engine, undefined, { turnEndStop: false });
    expect(await client.simple("Hi")).toBe("Hello.<|end|>and more");
  });

  it("an option the profile cannot take fails the start (named profile) or the load (detected profile)", async () => {
    const engine = new ScriptedEngine(phiInfo, () => ({ pieces: ["x"] }));
    await expect(serve(engine, "phi-3", { forceThink: true })).rejects.toThrow(
      /force-think: the phi-3 profile has no reasoning tags/,
    );
    await expect(serve(engine, undefined, { forceThink: true })).rejects.toThrow(/force-think/);
  });
});

describe("per request: chat_template_kwargs", () => {
  const r1Answer = "The answer is 4.";
  const post = (url: string, body: Record<string, unknown>) =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "2+2?" }], ...body }),
    });

  it("enable_thinking=false closes the reasoning in the prompt: the whole output is the answer", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Answer) }));
    const { server, client } = await serve(engine);
    const off = await client.chat([{ role: "user", content: "2+2?" }], {
      extraBody: { chat_template_kwargs: { enable_thinking: false } },
    });
    expect(engine.prompts.at(-1)).toBe(
      "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n</think>",
    );
    expect(off).toMatchObject({ content: r1Answer, reasoning: "", reasoningTruncated: false });
    // streamed too
    const streamed = await collect(
      client.stream([{ role: "user", content: "2+2?" }], {
        extraBody: { chat_template_kwargs: { enable_thinking: false } },
      }),
    );
    expect(streamed).toMatchObject({ content: r1Answer, reasoning: "" });
    // without it the same output is (truncated) reasoning
    const on = await client.chat([{ role: "user", content: "2+2?" }]);
    expect(engine.prompts.at(-1)).toBe("<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n");
    expect(on).toMatchObject({ content: "", reasoning: r1Answer });
    expect((await post(server.url, { chat_template_kwargs: { enable_thinking: "no" } })).status).toBe(400);
  });

  it("enable_thinking=true forces the reasoning on where the profile option turned it off", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: chop(r1Output) }));
    const { client } = await serve(engine, undefined, { forceThink: false });
    await client.chat([{ role: "user", content: "2+2?" }]);
    // the template's own rendering: thinking skipped
    expect(engine.prompts.at(-1)).toBe(
      "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n</think>",
    );
    const result = await client.chat([{ role: "user", content: "2+2?" }], {
      extraBody: { chat_template_kwargs: { enable_thinking: true } },
    });
    expect(engine.prompts.at(-1)).toBe("<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n");
    expect(result.content).toBe("The answer is $\\boxed{4}$.");
  });

  it("other variables reach the template, as vLLM passes them; the server's own cannot be replaced", async () => {
    const custom = { chatTemplate: "{{ greeting }}:{% for m in messages %}{{ m.content }}{% endfor %}>" };
    const engine = new ScriptedEngine(custom, () => ({ pieces: ["ok"] }));
    const { server, client } = await serve(engine, "generic");
    await client.chat([{ role: "user", content: "hi" }], {
      extraBody: { chat_template_kwargs: { greeting: "Hey" } },
    });
    expect(engine.prompts.at(-1)).toBe("Hey:hi>");
    const reserved = await post(server.url, { chat_template_kwargs: { messages: [] } });
    expect(reserved.status).toBe(400);
    expect(await reserved.json()).toMatchObject({
      error: {
        param: "chat_template_kwargs.messages",
        message: "'chat_template_kwargs.messages' is set by the server",
      },
    });
  });

  it("an engine that does not render the template (a gateway) refuses them rather than ignoring them", async () => {
    const engine = new ScriptedEngine(r1Info, () => ({ pieces: ["ok"] }));
    Object.defineProperty(engine, "renderChat", { value: undefined });
    const { server } = await serve(engine);
    const res = await post(server.url, { chat_template_kwargs: { enable_thinking: false } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: "chat_template_kwargs" } });
    expect((await post(server.url, {})).status).toBe(200);
  });
});
