import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
// SERVELAB_TEST_CLI: another entry point exposing the same commands (to test while the tree is mid-edit)
const cli = process.env.SERVELAB_TEST_CLI ?? join(root, "dist/cli/index.js");
const run = promisify(execFile);

let dir: string;
beforeAll(async () => {
  // build first; type errors elsewhere in the tree still emit, so only the output matters here
  spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    timeout: 110_000,
  });
  dir = await mkdtemp(join(tmpdir(), "servelab-synth-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function servelab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      timeout: 60_000,
      env: { ...process.env, SERVELAB_CACHE: dir },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("servelab synth and inspect", () => {
  it("writes a model whose size is what --dry-run said, refuses to overwrite, and inspects it", async () => {
    const out = join(dir, "tiny.gguf");
    const dry = await servelab("synth", "tiny-phi-3", "--type", "q8_0", "-o", out, "--dry-run", "--json");
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      fileSize: number;
      parameters: number;
      tensors: { name: string; type: string }[];
    };
    expect(plan.tensors.find((t) => t.name === "blk.0.attn_qkv.weight")?.type).toBe("Q8_0");

    const made = await servelab("synth", "tiny-phi-3", "--type", "q8_0", "-o", out, "--seed", "3");
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(`wrote ${out}`);
    expect((await stat(out)).size).toBe(plan.fileSize);

    const again = await servelab("synth", "tiny-phi-3", "--type", "q8_0", "-o", out);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; pass --force/);

    const info = await servelab("inspect", out, "--json");
    expect(info.code).toBe(0);
    const x = JSON.parse(info.stdout) as {
      summary: {
        architecture: string;
        precision: string;
        parameters: number;
        contextLength: number;
        chatTemplate: string;
      };
      metadata: Record<string, unknown>;
      byType: Record<string, { tensors: number }>;
    };
    expect(x.summary).toMatchObject({
      architecture: "phi3",
      precision: "q8_0",
      parameters: plan.parameters,
      contextLength: 4096,
    });
    expect(x.summary.chatTemplate).toContain("<|assistant|>");
    expect(x.metadata["tokenizer.ggml.tokens"]).toMatchObject({ type: "string", length: 32064 });
    expect(x.byType.F32?.tensors).toBe(5); // 2 norms per layer + output_norm

    const text = await servelab("inspect", out);
    expect(text.stdout).toMatch(/phi3, q8_0, 4\.2 M parameters, 15 tensors/);
    expect(text.stdout).toMatch(/blk\.1\.ffn_up\.weight\s+Q8_0\s+\[64, 256\]/);
  });

  it("writes a scripted model to the cache folder by default", async () => {
    const r = await servelab(
      "synth",
      "tiny-deepseek-r1-distill-qwen",
      "--type",
      "q4_0",
      "--script",
      "Hi there, hi there.",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`wrote ${dir}/models/tiny-deepseek-r1-distill-qwen-q4_0-[0-9a-f]{12}\\.gguf`),
    );
    expect(r.stdout).toMatch(/script of \d+ tokens/);
  });

  it("--tokenizer builtin makes a tiny scripted model of a few hundred kB, named apart from the real-vocabulary one", async () => {
    const r = await servelab(
      "synth",
      "tiny-deepseek-r1-distill-qwen",
      "--tokenizer",
      "builtin",
      "--script",
      "<think>\nhm\n</think>\n\nThe answer is \\boxed{4}.",
      "--json",
    );
    expect(r.code, r.stderr).toBe(0);
    const made = JSON.parse(r.stdout) as { path: string; bytes: number; vocabSize: number };
    expect(made.path).toMatch(/tiny-deepseek-r1-distill-qwen-f16-builtin-bpe-[0-9a-f]{12}\.gguf$/);
    expect((await stat(made.path)).size).toBe(made.bytes);
    expect(made.bytes).toBeLessThan(1_000_000);
    expect(made.vocabSize).toBeLessThan(600);

    const list = await servelab("synth", "--list", "--json");
    const rows = JSON.parse(list.stdout) as {
      id: string;
      sizes: Record<string, number>;
      builtinTokenizerSizes: Record<string, number>;
    }[];
    for (const row of rows.filter((x) => x.id.startsWith("tiny-"))) {
      expect(row.sizes.f16).toBeGreaterThan(4_000_000);
      expect(row.builtinTokenizerSizes.f32).toBeLessThan(1_000_000);
    }
    expect((await servelab("synth", "--list")).stdout).toMatch(/with --tokenizer builtin: f32 \d+(\.\d)? kB/);
    expect((await servelab("synth", "--help")).stdout).toMatch(/--tokenizer builtin/);
  });

  it("--vocab-from without R1's tokens gets them and R1's template, and says so", async () => {
    const out = join(dir, "r1-qwen2-vocab.gguf");
    const vocab = join(root, "assets/tokenizers/ggml-vocab-qwen2.gguf");
    const r = await servelab(
      "synth",
      "tiny-deepseek-r1-distill-qwen",
      "--type",
      "q4_0",
      "--vocab-from",
      vocab,
      "-o",
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("lacked <｜begin▁of▁sentence｜> (151646), <|EOT|> (151647), <think> (151648)");
    const info = await servelab("inspect", out, "--json", "--no-tensors");
    const x = JSON.parse(info.stdout) as {
      summary: { chatTemplate: string };
      metadata: Record<string, unknown>;
    };
    expect(x.summary.chatTemplate).toContain("{{'<｜Assistant｜><think>\\n'}}");
    expect(x.summary.chatTemplate).not.toContain("<|im_start|>");
    expect(x.metadata["tokenizer.ggml.bos_token_id"]).toBe(151646);
    expect(x.metadata["tokenizer.ggml.eos_token_id"]).toBe(151650);
  });

  it("reports bad input in one line with a fix-it message", async () => {
    const bad = await servelab("synth", "nope");
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/unknown preset 'nope'; presets: /);
    const type = await servelab("synth", "tiny-phi-3", "--type", "q2_k", "--dry-run");
    expect(type.stderr).toMatch(/--type must be one of f32, f16, bf16, q8_0, q4_0, got 'q2_k'/);
    const tokenizer = await servelab("synth", "tiny-phi-3", "--tokenizer", "sentencepiece", "--dry-run");
    expect(tokenizer.stderr).toMatch(/--tokenizer must be one of real, builtin, got 'sentencepiece'/);
    const notGguf = await servelab("inspect", join(root, "package.json"));
    expect(notGguf.code).toBe(4);
    expect(notGguf.stderr).toMatch(/not a GGUF file/);
  });
});
