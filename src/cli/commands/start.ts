/**
 * `servelab start` (what `npm start` runs): the default comparison — DeepSeek-R1-Distill-Qwen-1.5B in F32
 * against Q8_0 on the embedded engine, quick profile. Real GGUFs come from --model or SERVELAB_MODEL;
 * without them the real-shape synthetic models are made once into the cache folder.
 */
import type { Command } from "commander";
import { addCompareOptions, runCompareCommand } from "./compare.js";

/** Register `servelab start`. */
export function registerStartCommand(program: Command): void {
  addCompareOptions(
    program
      .command("start")
      .description(
        "the default run: DeepSeek-R1-Distill-Qwen-1.5B F32 against Q8_0, quick profile (servelab compare)",
      ),
  )
    .addHelpText(
      "after",
      `
Examples:
  npm start                                        # synthetic models when none is given
  SERVELAB_MODEL=r1-f32.gguf,r1-q8_0.gguf npm start
  servelab start --profile full

Same flags as servelab compare (see servelab compare --help).`,
    )
    .action(async (flags: Parameters<typeof runCompareCommand>[0]) => {
      await runCompareCommand(
        flags,
        "servelab: DeepSeek-R1-Distill-Qwen-1.5B, F32 against Q8_0 (INT8), embedded llama.cpp engine",
      );
    });
}
