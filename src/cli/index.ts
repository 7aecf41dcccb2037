#!/usr/bin/env node
/** The servelab command line: one file per command under ./commands, each thin. */
import cluster from "node:cluster";
import { Command, CommanderError } from "commander";
import { exitCodeFor, isServelabError, errorMessage } from "../core/errors.js";
import { commands } from "./commands/index.js";
import { version } from "../core/version.js";

export function createProgram(): Command {
  const program = new Command("servelab")
    .description(
      "Serve, call and measure small reasoning LLMs (DeepSeek-R1-Distill, Phi-3) behind an OpenAI-compatible API.",
    )
    .version(version)
    .option("--verbose", "print stack traces and engine logs")
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true });
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  program.exitOverride();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message or the help text
      return err.exitCode;
    }
    const verbose = argv.includes("--verbose");
    if (isServelabError(err)) {
      process.stderr.write(`servelab: ${err.message}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return exitCodeFor[err.code];
    }
    process.stderr.write(`servelab: unexpected error: ${errorMessage(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write("run again with --verbose for the stack trace\n");
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Let streams flush; commands that keep servers running never return here. A command that succeeded may
// still have set an exit code of its own (bench interrupted: 130; compare with a failed configuration: 1).
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
// A worker of `serve --workers` that failed to start: its channel to the primary would keep it running.
if (cluster.isWorker && code !== 0) process.stderr.write("", () => process.exit(code));
