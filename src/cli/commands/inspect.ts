import type { Command } from "commander";
import { readGguf } from "../../models/gguf/read.js";
import { formatInspection, inspectGguf } from "../../models/gguf/inspect.js";

export function registerInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("show a GGUF file's metadata, tensor table, parameter count and size by type")
    .argument("<file>", "a .gguf file")
    .option("--json", "print JSON")
    .option("--no-tensors", "leave the tensor table out")
    .option("--max-items <n>", "array items to show", "16")
    .addHelpText(
      "after",
      "\nExamples:\n  $ servelab inspect model.gguf\n  $ servelab inspect model.gguf --json --no-tensors",
    )
    .action(async (file: string, flags: { json?: boolean; tensors: boolean; maxItems: string }) => {
      const maxItems = Math.max(0, Number.parseInt(flags.maxItems, 10) || 0);
      const x = inspectGguf(await readGguf(file, { maxArrayItems: Math.max(maxItems, 64) }), maxItems);
      if (flags.json) {
        const out = flags.tensors ? x : { ...x, tensors: undefined };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatInspection(x, { tensors: flags.tensors })}\n`);
    });
}
