import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  applySamplingDefaults,
  ensurePromptSuffix,
  getProfile,
  prepareMessages,
  profileNames,
  promptClosesReasoning,
  resolveProfile,
} from "../../../src/models/profiles.js";
import { renderChatTemplate } from "../../../src/models/chat-template.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";
import type { ChatMessage } from "../../../src/engines/engine.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/templates/${name}`, import.meta.url), "utf8");
const r1Template = fixture("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
const phiTemplate = fixture("microsoft-Phi-3.5-mini-instruct.jinja");
const r1 = getProfile("deepseek-r1-distill");
const phi = getProfile("phi-3");
const generic = getProfile("generic");

describe("resolveProfile", () => {
  it("detects R1-distill from its chat template, even with a Qwen architecture and a bland name", () => {
    expect(resolveProfile({ chatTemplate: r1Template, architecture: "qwen2", name: "model.gguf" }).name).toBe(
      "deepseek-r1-distill",
    );
  });
  it("detects Phi-3 from its template, name or architecture", () => {
    expect(resolveProfile({ chatTemplate: phiTemplate }).name).toBe("phi-3");
    expect(resolveProfile({ name: "Phi-3-mini-4k-instruct-q4.gguf" }).name).toBe("phi-3");
    expect(resolveProfile({ architecture: "phi3" }).name).toBe("phi-3");
  });
  it("detects R1-distill from the name", () => {
    expect(
      resolveProfile({ name: "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf", architecture: "qwen2" }).name,
    ).toBe("deepseek-r1-distill");
  });
  it("falls back to generic (a plain Qwen2 is not R1)", () => {
    expect(resolveProfile({ architecture: "qwen2", name: "Qwen2.5-0.5B-Instruct" }).name).toBe("generic");
    expect(resolveProfile({}).name).toBe("generic");
    // a DeepSeek chat template without <think> is not R1
    expect(resolveProfile({ chatTemplate: "{{'<｜Assistant｜>'}}" }).name).toBe("generic");
  });
  it("the override wins, case-insensitively; auto detects", () => {
    expect(resolveProfile({ chatTemplate: r1Template, override: "generic" }).name).toBe("generic");
    expect(resolveProfile({ name: "phi-3", override: "DeepSeek-R1-Distill" }).name).toBe(
      "deepseek-r1-distill",
    );
    expect(resolveProfile({ name: "phi-3", override: "auto" }).name).toBe("phi-3");
  });
  it("a bad override throws InvalidArgumentError listing the valid names", () => {
    expect(() => resolveProfile({ override: "llama" })).toThrow(InvalidArgumentError);
    expect(() => resolveProfile({ override: "llama" })).toThrow(/deepseek-r1-distill, phi-3, generic/);
    expect(profileNames).toEqual(["deepseek-r1-distill", "phi-3", "generic"]);
  });
});

describe("applySamplingDefaults", () => {
  it("fills R1's temperature 0.6 and top_p 0.95 when unset", () => {
    expect(applySamplingDefaults(r1, {})).toEqual({ temperature: 0.6, topP: 0.95 });
    expect(applySamplingDefaults(r1, { seed: 3 })).toEqual({ temperature: 0.6, topP: 0.95, seed: 3 });
  });
  it("an explicit request value always wins, including 0", () => {
    expect(applySamplingDefaults(r1, { temperature: 0, topP: 1 })).toEqual({ temperature: 0, topP: 1 });
    fc.assert(
      fc.property(fc.double({ min: 0, max: 2, noNaN: true }), (t) => {
        expect(applySamplingDefaults(r1, { temperature: t }).temperature).toBe(t);
      }),
    );
  });
  it("generic adds nothing", () => {
    expect(applySamplingDefaults(generic, { topK: 40 })).toEqual({ topK: 40 });
  });
});

describe("prepareMessages", () => {
  const conversation: ChatMessage[] = [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "Let me add.\n</think>\n\n4" },
    { role: "user", content: "And 3+3?" },
  ];
  it("R1: folds the system message into the first user turn and strips old reasoning", () => {
    expect(prepareMessages(r1, conversation)).toEqual([
      { role: "user", content: "Answer briefly.\n\nWhat is 2+2?" },
      { role: "assistant", content: "4" },
      { role: "user", content: "And 3+3?" },
    ]);
    // the input is left alone
    expect(conversation[0]?.role).toBe("system");
  });
  it("R1: a lone system message becomes a user turn; developer counts as system", () => {
    expect(prepareMessages(r1, [{ role: "developer", content: "Be terse." }])).toEqual([
      { role: "user", content: "Be terse." },
    ]);
  });
  it("Phi-3 and generic keep system messages and assistant text", () => {
    expect(prepareMessages(phi, conversation)).toEqual(conversation);
    expect(prepareMessages(generic, conversation)).toEqual(conversation);
  });
  it("the rendered R1 prompt has no system text after BOS and no old reasoning", () => {
    const prompt = renderChatTemplate(
      { chatTemplate: r1Template, bosToken: "<｜begin▁of▁sentence｜>", eosToken: "<｜end▁of▁sentence｜>" },
      prepareMessages(r1, conversation),
    );
    expect(prompt.startsWith("<｜begin▁of▁sentence｜><｜User｜>Answer briefly.\n\nWhat is 2+2?")).toBe(true);
    expect(prompt).not.toContain("Let me add");
  });
});

describe("ensurePromptSuffix", () => {
  it("undoes the real template's </think> so the model reasons", () => {
    const rendered = renderChatTemplate(
      { chatTemplate: r1Template, bosToken: "<｜begin▁of▁sentence｜>", eosToken: "<｜end▁of▁sentence｜>" },
      [{ role: "user", content: "Hi" }],
    );
    // the template as shipped skips thinking when enable_thinking is unset
    expect(rendered.endsWith("<｜Assistant｜><think>\n</think>")).toBe(true);
    const fixed = ensurePromptSuffix(r1, rendered);
    expect(fixed).toBe("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n");
  });
  it("adds the suffix or its newline when missing, and is idempotent", () => {
    expect(ensurePromptSuffix(r1, "<｜User｜>Hi<｜Assistant｜>")).toBe(
      "<｜User｜>Hi<｜Assistant｜><think>\n",
    );
    expect(ensurePromptSuffix(r1, "<｜User｜>Hi<｜Assistant｜><think>")).toBe(
      "<｜User｜>Hi<｜Assistant｜><think>\n",
    );
    expect(ensurePromptSuffix(r1, "A<think>\n\n</think>\n\n")).toBe("A<think>\n");
    fc.assert(
      fc.property(fc.string(), (s) => {
        const once = ensurePromptSuffix(r1, s);
        expect(once.endsWith("<think>\n")).toBe(true);
        expect(ensurePromptSuffix(r1, once)).toBe(once);
      }),
    );
  });
  it("per request: thinking=false closes the reasoning, thinking=true opens it without a profile suffix", () => {
    const rendered = renderChatTemplate(
      { chatTemplate: r1Template, bosToken: "<｜begin▁of▁sentence｜>", eosToken: "<｜end▁of▁sentence｜>" },
      [{ role: "user", content: "Hi" }],
      { variables: { enable_thinking: false } },
    );
    const closed = "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n</think>";
    expect(ensurePromptSuffix(r1, rendered, { thinking: false })).toBe(closed);
    // a template that knows no enable_thinking gets the same closed block
    expect(ensurePromptSuffix(r1, "<｜User｜>Hi<｜Assistant｜><think>\n", { thinking: false })).toBe(
      "<｜User｜>Hi<｜Assistant｜><think>\n</think>",
    );
    expect(promptClosesReasoning(r1, closed)).toBe(true);
    expect(promptClosesReasoning(r1, ensurePromptSuffix(r1, closed))).toBe(false);
    const unforced = { ...r1 };
    delete unforced.promptSuffix;
    expect(ensurePromptSuffix(unforced, closed)).toBe(closed);
    expect(ensurePromptSuffix(unforced, closed, { thinking: true })).toBe(
      "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n",
    );
    // profiles without reasoning tags ignore it
    expect(ensurePromptSuffix(phi, "<|assistant|>\n", { thinking: false })).toBe("<|assistant|>\n");
    expect(promptClosesReasoning(phi, "</think>")).toBe(false);
  });
  it("leaves prompts of profiles without a suffix alone", () => {
    expect(ensurePromptSuffix(phi, "<|user|>\nHi<|end|>\n<|assistant|>\n")).toBe(
      "<|user|>\nHi<|end|>\n<|assistant|>\n",
    );
  });
});

describe("profile data", () => {
  it("Phi-3 stops at <|end|> and <|endoftext|>; R1 has the guard on, generic off", () => {
    expect(phi.stop).toEqual(expect.arrayContaining(["<|end|>", "<|endoftext|>"]));
    expect(r1.repetitionGuard).toBeDefined();
    expect(generic.repetitionGuard).toBeUndefined();
    expect(phi.reasoning.kind).toBe("none");
    expect(r1.reasoning).toMatchObject({ kind: "think-tags", implicitOpen: true });
  });
});
