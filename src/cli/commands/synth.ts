import type { Command } from "commander";
import { InvalidArgumentError } from "../../core/errors.js";
import {
  PRESETS,
  SYNTH_TYPES,
  countPresetParameters,
  VOCAB_SIZES,
  type SynthType,
} from "../../models/presets.js";
import {
  planModel,
  synthesizeModel,
  defaultModelPath,
  TOKENIZER_KINDS,
  type SynthesizeOptions,
  type TokenizerKind,
} from "../../models/synthesize.js";
import { formatBytes, formatParameters } from "../../models/gguf/inspect.js";
import { formatGgmlType } from "../../models/gguf/types.js";

interface SynthFlags {
  type: string;
  output?: string;
  seed: string;
  script?: string;
  vocabFrom?: string;
  tokenizer: string;
  force?: boolean;
  dryRun?: boolean;
  list?: boolean;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ servelab synth --list
  $ servelab synth deepseek-r1-distill-qwen-1.5b --type q8_0
  $ servelab synth deepseek-r1-distill-qwen-1.5b --type f32 --dry-run
  $ servelab synth tiny-deepseek-r1-distill-qwen -o tiny.gguf --script $'<think>\\nLet me compute 4*4.\\n</think>\\n\\nThe answer is \\\\boxed{16}.'
  $ servelab synth tiny-phi-3 --type q4_0 --seed 7 -o tiny-phi.gguf --force
  $ servelab synth tiny-deepseek-r1-distill-qwen --tokenizer builtin --script 'The answer is \boxed{4}.'
  $ servelab synth deepseek-r1-distill-qwen-1.5b --type q8_0 --vocab-from other-model.gguf

Weights are seeded random numbers (std 0.02) with the exact architecture, so a synthetic model costs
what the real one costs. A --script model continues any prompt with TEXT and then ends the sequence.
The tiny-* presets keep the real vocabularies by default (tiny R1 21-84 MB, tiny Phi-3 4-18 MB, nearly
all of it embedding and output rows for 151,936 or 32,064 tokens); --tokenizer builtin, servelab's byte-level
BPE of 512 tokens plus the preset's special tokens and chat template, makes one of 114-608 kB (see --list).
--vocab-from adds the preset's special tokens and chat template when the file lacks them.
Default output: $SERVELAB_CACHE/models or ~/.cache/servelab/models/<preset>-<type>[-<script hash>].gguf`;

function parseSeed(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n > 0xffffffff)
    throw new InvalidArgumentError(`--seed must be an integer from 0 to 4294967295, got '${s}'`, {
      param: "seed",
    });
  return n;
}

async function printList(json: boolean): Promise<void> {
  const rows = [];
  for (const p of PRESETS) {
    const sizes: Record<string, number> = {};
    const builtinTokenizerSizes: Record<string, number> = {};
    for (const type of SYNTH_TYPES) {
      sizes[type] = (await planModel({ preset: p, type })).fileSize;
      builtinTokenizerSizes[type] = (await planModel({ preset: p, type, tokenizer: "builtin" })).fileSize;
    }
    rows.push({
      ...p,
      parameters: countPresetParameters(p, VOCAB_SIZES[p.vocabulary]),
      sizes,
      builtinTokenizerSizes,
    });
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  for (const r of rows) {
    process.stdout.write(
      `${r.id}\n  ${r.description}\n  ${r.architecture}, hidden ${r.hidden}, ${r.layers} layers, ffn ${r.ffn}, ${r.heads} heads / ${r.kvHeads} kv, ` +
        `vocab ${VOCAB_SIZES[r.vocabulary]}, context ${r.contextLength}, ${formatParameters(r.parameters)} parameters\n  ` +
        SYNTH_TYPES.map((t) => `${t} ${formatBytes(r.sizes[t] ?? 0)}`).join(", ") +
        "\n  with --tokenizer builtin: " +
        SYNTH_TYPES.map((t) => `${t} ${formatBytes(r.builtinTokenizerSizes[t] ?? 0)}`).join(", ") +
        "\n",
    );
  }
}

function listTokens(tokens: readonly { id: number; text: string }[]): string {
  return tokens.map((t) => `${t.text} (${t.id})`).join(", ");
}

function progressPrinter(): (p: { bytesWritten: number; totalBytes: number }) => void {
  let last = 0;
  return ({ bytesWritten, totalBytes }) => {
    if (totalBytes < 64e6) return;
    const now = Date.now();
    if (now - last < 500 && bytesWritten < totalBytes) return;
    last = now;
    const pct = ((100 * bytesWritten) / totalBytes).toFixed(1);
    process.stderr.write(`\rwriting ${formatBytes(bytesWritten)} / ${formatBytes(totalBytes)} (${pct}%)`);
    if (bytesWritten >= totalBytes) process.stderr.write("\n");
  };
}

export function registerSynthCommand(program: Command): void {
  program
    .command("synth")
    .description(
      "write a synthetic GGUF model with a real model's exact shape (seeded random or scripted weights)",
    )
    .argument("[preset]", `one of: ${PRESETS.map((p) => p.id).join(", ")}`)
    .option("-t, --type <type>", `tensor type: ${SYNTH_TYPES.join(", ")}`, "f16")
    .option("-o, --output <file>", "output file (default: the cache folder)")
    .option("--seed <n>", "seed of the random weights", "0")
    .option("--script <text>", "make a scripted model that continues any prompt with TEXT, then stops")
    .option(
      "--vocab-from <file>",
      "copy every tokenizer.* key (vocabulary, template) from this GGUF; the preset's special tokens and template are added when it lacks them",
    )
    .option(
      "--tokenizer <kind>",
      "real: the preset's real vocabulary; builtin: servelab's small byte-level BPE with the preset's special tokens (a tiny model of a few hundred KB)",
      "real",
    )
    .option("--force", "overwrite an existing file")
    .option("--dry-run", "print the tensor table and the exact file size; write nothing")
    .option("--list", "list the presets with their parameters and file sizes per type")
    .option("--json", "print machine-readable JSON")
    .addHelpText("after", EXAMPLES)
    .action(async (preset: string | undefined, flags: SynthFlags) => {
      if (flags.list) return printList(flags.json === true);
      if (preset === undefined)
        throw new InvalidArgumentError(
          `name a preset (${PRESETS.map((p) => p.id).join(", ")}) or pass --list`,
        );
      if (!(TOKENIZER_KINDS as readonly string[]).includes(flags.tokenizer)) {
        throw new InvalidArgumentError(
          `--tokenizer must be one of ${TOKENIZER_KINDS.join(", ")}, got '${flags.tokenizer}'`,
          { param: "tokenizer" },
        );
      }
      const options: SynthesizeOptions = {
        preset,
        type: flags.type as SynthType,
        seed: parseSeed(flags.seed),
        force: flags.force === true,
        tokenizer: flags.tokenizer as TokenizerKind,
        ...(flags.output !== undefined ? { outputPath: flags.output } : {}),
        ...(flags.script !== undefined ? { script: flags.script } : {}),
        ...(flags.vocabFrom !== undefined ? { vocabFrom: flags.vocabFrom } : {}),
      };
      if (flags.dryRun) {
        const plan = await planModel(options);
        const path = flags.output ?? defaultModelPath(plan.preset.id, plan.type, options);
        if (flags.json) {
          const tensors = plan.tensors.map((t) => ({
            name: t.name,
            type: formatGgmlType(t.type),
            shape: t.shape,
          }));
          process.stdout.write(
            `${JSON.stringify({ path, preset: plan.preset.id, type: plan.type, fileSize: plan.fileSize, parameters: plan.parameters, vocabSize: plan.vocabSize, scriptTokens: plan.scriptTokens, tensors }, null, 2)}\n`,
          );
          return;
        }
        for (const t of plan.tensors)
          process.stdout.write(
            `${t.name.padEnd(28)} ${formatGgmlType(t.type).padEnd(5)} [${t.shape.join(", ")}]\n`,
          );
        process.stdout.write(
          `\n${plan.preset.id} ${plan.type}: ${plan.tensors.length} tensors, ${formatParameters(plan.parameters)} parameters (${plan.parameters}), ` +
            `${formatBytes(plan.fileSize)} (${plan.fileSize} bytes)${plan.scriptTokens === undefined ? "" : `, script of ${plan.scriptTokens} tokens`}\nwould write ${path}\n`,
        );
        return;
      }
      const started = performance.now();
      const result = await synthesizeModel({ ...options, onProgress: progressPrinter() });
      const seconds = (performance.now() - started) / 1000;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...result, seconds }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `wrote ${result.path}\n  ${result.preset} ${result.type}, ${formatParameters(result.parameters)} parameters, ${formatBytes(result.bytes)} (${result.bytes} bytes) in ${seconds.toFixed(1)} s` +
          `${result.scriptTokens === undefined ? "" : `, script of ${result.scriptTokens} tokens`}\n`,
      );
      if (result.addedSpecialTokens.length > 0)
        process.stdout.write(
          `  ${flags.vocabFrom ?? "the vocabulary"} lacked ${listTokens(result.addedSpecialTokens)}: added, with ${result.preset}'s chat template\n`,
        );
    });
}
