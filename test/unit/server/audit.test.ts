import { describe, expect, it } from "vitest";
import { createAuditLog, redactSecrets } from "../../../src/server/audit.js";

const entry = {
  time: "2026-01-01T00:00:00.000Z",
  client: "127.0.0.1",
  route: "/v1/chat/completions",
  status: 200,
  model: "m",
  prompt_tokens: 5,
  completion_tokens: 7,
  finish_reason: "stop",
  latency_ms: 12.5,
  prompt: [{ role: "user", content: "key=topsecret123 Bearer abcdefghijkl sk-proj-ABCDEFGH12345" }],
  answer: { reasoning: "", content: "ok topsecret123" },
};

describe("audit log", () => {
  it("leaves text out unless asked", () => {
    const lines: string[] = [];
    createAuditLog({ write: (l) => lines.push(l) }).record(entry);
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      client: "127.0.0.1",
      prompt_tokens: 5,
      completion_tokens: 7,
      latency_ms: 12.5,
    });
    expect(parsed).not.toHaveProperty("prompt");
    expect(parsed).not.toHaveProperty("answer");
    expect(lines[0]!.endsWith("\n")).toBe(true);
  });

  it("records text with the configured keys, Bearer tokens and sk- keys redacted", () => {
    const lines: string[] = [];
    createAuditLog({ write: (l) => lines.push(l), includeText: true, secrets: ["topsecret123"] }).record(
      entry,
    );
    expect(lines[0]).not.toMatch(/topsecret123|abcdefghijkl|ABCDEFGH12345/);
    const parsed = JSON.parse(lines[0]!) as typeof entry;
    expect(parsed.prompt[0]!.content).toBe("key=[REDACTED] Bearer [REDACTED] [REDACTED]");
    expect(parsed.answer.content).toBe("ok [REDACTED]");
  });

  it("redacts every occurrence and leaves other text alone", () => {
    expect(redactSecrets("a XkeyX b XkeyX", ["XkeyX"])).toBe("a [REDACTED] b [REDACTED]");
    expect(redactSecrets("nothing to see", ["XkeyX"])).toBe("nothing to see");
    expect(redactSecrets("sk-short")).toBe("sk-short");
  });
});
