/**
 * The tokens agreement counts the first differing position in: the reference model's own, from its GGUF
 * vocabulary or from a url: server's /tokenize; words only when neither can be reached.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAgreementTokenizer } from "../../src/compare/agreement-tokenizer.js";
import { compareAgreement } from "../../src/compare/quality/agreement.js";
import type { QualityItemResult } from "../../src/compare/quality/runner.js";
import { tinyModel } from "../helpers/models.js";

const right = "<think>\nFour times four.\n\n</think>\n\nThe answer is \\boxed{16}.";
const wrong = "<think>\nFour times four.\n\n</think>\n\nThe answer is \\boxed{15}.";

function item(text: string): QualityItemResult {
  return {
    id: "p1",
    kind: "arithmetic",
    question: "What is 4 * 4?",
    expected: "16",
    correct: false,
    truncated: false,
    completionTokens: 1,
    text,
    reasoning: "",
    content: text,
    latencyMs: 1,
  };
}

describe("openAgreementTokenizer", () => {
  let server: Server;
  let root: string;
  const seen: Array<{ authorization: string | undefined; body: unknown }> = [];

  beforeAll(async () => {
    // A vLLM-style /tokenize behind a key: one token per character.
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString()));
      req.on("end", () => {
        const body = JSON.parse(text) as { prompt?: string };
        seen.push({ authorization: req.headers.authorization, body });
        if (req.headers.authorization !== "Bearer s3cret") {
          res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"message":"no"}}');
          return;
        }
        const tokens = [...(body.prompt ?? "")].map((c) => c.codePointAt(0));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ tokens }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("counts in the tokens of the reference's GGUF vocabulary (special tokens parsed)", async () => {
    const model = await tinyModel();
    const tokenizer = await openAgreementTokenizer({
      configuration: { name: "right", engine: "embedded", model },
    });
    if (tokenizer === undefined) throw new Error("no tokenizer for a GGUF on disk");
    try {
      expect(tokenizer.name).toMatch(/^model tokens \(right: tiny-deepseek-r1-distill-qwen-.*\.gguf\)$/u);
      expect(await tokenizer.tokenize(right)).toHaveLength(17);
      const summary = await compareAgreement([item(right)], [item(wrong)], {
        tokenize: tokenizer.tokenize,
        tokenizerName: tokenizer.name,
      });
      // "<think>" "\n" "Four" " times" " four" ".\n\n" "</think>" "\n\n" "The" " answer" " is" " \\" "boxed"
      // "{" "1" | "6" against "5"; in words and punctuation it would be 17.
      expect(summary.firstDifferingToken?.p50).toBe(15);
      expect(summary.tokenizer).toBe(tokenizer.name);
      const words = await compareAgreement([item(right)], [item(wrong)]);
      expect(words.firstDifferingToken?.p50).toBe(17);
      expect(words.tokenizer).toBe("words-and-punctuation");
    } finally {
      await tokenizer.dispose();
    }
  });

  it("uses a url: server's /tokenize with the configuration's key, and nothing when it refuses", async () => {
    const configuration = { name: "remote", engine: `url:${root}/v1`, model: "m" };
    const tokenizer = await openAgreementTokenizer({ configuration, apiKey: "s3cret" });
    expect(tokenizer?.name).toBe("model tokens (remote, from its /tokenize)");
    expect(await tokenizer?.tokenize("abc")).toEqual([97, 98, 99]);
    expect(seen.at(-1)).toEqual({
      authorization: "Bearer s3cret",
      body: { model: "m", prompt: "abc", add_special_tokens: false },
    });
    expect(await openAgreementTokenizer({ configuration })).toBeUndefined();
  });

  it("has none for a vLLM configuration (its server is gone) or a model file that is not there", async () => {
    expect(
      await openAgreementTokenizer({ configuration: { name: "v", engine: "vllm", model: "org/model" } }),
    ).toBeUndefined();
    expect(
      await openAgreementTokenizer({
        configuration: { name: "e", engine: "embedded", model: "/no/such/model.gguf" },
      }),
    ).toBeUndefined();
  });
});
