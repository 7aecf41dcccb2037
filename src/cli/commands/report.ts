/** `servelab report`: re-render a compare results.json as a table, Markdown, HTML or JSON. */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { readComparisonResult } from "../../compare/run-compare.js";
import { renderComparison, reportFormats, type ReportFormat } from "../../compare/report.js";
import { createStyles } from "../ui/ansi.js";

interface ReportFlags {
  format: ReportFormat;
  out?: string;
}

/** Register `servelab report`. */
export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description("render a compare results.json again: terminal table, Markdown, HTML or JSON")
    .argument("<results.json>", "results.json written by servelab compare")
    .addOption(
      new Option("-f, --format <format>", "output format").choices([...reportFormats]).default("table"),
    )
    .option("-o, --out <file>", "write to this file instead of stdout")
    .addHelpText(
      "after",
      `
Examples:
  servelab report results/2026-11-21T10-00-00-compare/results.json
  servelab report results.json --format html --out report.html
  servelab report results.json --format markdown >> docs/benchmarks.md`,
    )
    .action((path: string, flags: ReportFlags) => {
      const result = readComparisonResult(path);
      const color = flags.out === undefined && createStyles(process.stdout).enabled;
      const text = renderComparison(result, flags.format, { color });
      if (flags.out === undefined) process.stdout.write(text);
      else {
        writeFileSync(flags.out, text);
        process.stderr.write(`wrote ${flags.out}\n`);
      }
    });
}
