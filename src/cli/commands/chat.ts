/** `servelab chat`: an interactive terminal chat with a server (--url) or an embedded model (--model). */
import type { Command } from "commander";
import { InvalidArgumentError } from "../../core/errors.js";
import { createClient } from "../../client/index.js";
import { parseProfileOptions, profileOptionsHelp } from "../../models/profile-options.js";
import { parseProfileOption } from "../options.js";
import { runChatSession, type ChatSettings } from "../ui/chat-session.js";

/** Flags of `servelab chat`. */
export interface ChatFlags {
  /** OpenAI-compatible base URL. Default http://127.0.0.1:8000/v1 (env SERVELAB_URL). */
  url?: string;
  /** A GGUF file to load in this process instead of --url. */
  model?: string;
  /** The model name to request. Default: the first the server lists. */
  modelId?: string;
  /** Bearer key (env SERVELAB_API_KEY). */
  apiKey?: string;
  /** Model profile for the embedded model. Default: from the model. */
  profile?: string;
  /** `key=value` changes to the embedded model's profile (see `servelab serve --help`). */
  profileOption: string[];
  /** CPU threads of the embedded model. Default: the available cores. */
  threads?: number;
  /** Context tokens of the embedded model. Default: min(the model's, 4096). */
  ctxSize?: number;
  system?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  hideThinking?: boolean;
  math?: boolean;
}

function parseNumberIn(flag: string, min: number, max: number, integer = false): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (
      value.trim() === "" ||
      !Number.isFinite(n) ||
      n < min ||
      n > max ||
      (integer && !Number.isInteger(n))
    ) {
      const kind = integer ? "an integer" : "a number";
      throw new InvalidArgumentError(`${flag} must be ${kind} from ${min} to ${max}, got "${value}"`, {
        param: flag,
      });
    }
    return n;
  };
}

export function registerChatCommand(program: Command): void {
  program
    .command("chat")
    .description("chat in the terminal with a server (--url) or a GGUF model loaded here (--model)")
    .option("--url <url>", "OpenAI-compatible base URL (env SERVELAB_URL)", process.env.SERVELAB_URL)
    .option("-m, --model <file.gguf>", "load this model in-process instead of connecting to --url")
    .option("--model-id <name>", "model name to request (default: the first the server lists)")
    // No commander default from the environment: --help would print the secret.
    .option("--api-key <key>", "bearer key for the server (env SERVELAB_API_KEY)")
    .option(
      "--profile <name>",
      "model profile for --model: deepseek-r1-distill, phi-3 or generic",
      parseProfileOption,
    )
    .option(
      "--profile-option <key=value>",
      "change one profile behaviour for --model (repeatable; keys below)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option("--threads <n>", "CPU threads for --model", parseNumberIn("--threads", 1, 1024, true))
    .option("--ctx-size <n>", "context tokens for --model", parseNumberIn("--ctx-size", 16, 1_048_576, true))
    .option("--system <text>", "system prompt")
    .option(
      "--temperature <t>",
      "sampling temperature (default: the server's / profile's)",
      parseNumberIn("--temperature", 0, 2),
    )
    .option(
      "--top-p <p>",
      "nucleus sampling (default: the server's / profile's)",
      parseNumberIn("--top-p", 0, 1),
    )
    .option("--max-tokens <n>", "most tokens per reply", parseNumberIn("--max-tokens", 1, 1_000_000, true))
    .option("--hide-thinking", "do not print the reasoning, only the answer")
    .option("--math", "ask for step-by-step reasoning and a \\boxed{} answer")
    .addHelpText(
      "after",
      `
Examples:
  servelab chat                                   # the server at http://127.0.0.1:8000/v1
  servelab chat --url http://127.0.0.1:8080/v1 --hide-thinking
  servelab chat -m DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf --math`,
    )
    .addHelpText("after", `\n${profileOptionsHelp()}`)
    .action(async (flags: ChatFlags) => {
      await runChat(flags);
    });
}

async function runChat(flags: ChatFlags): Promise<void> {
  if (flags.url !== undefined && flags.model !== undefined) {
    throw new InvalidArgumentError(
      "use either --url (a running server) or --model (load a GGUF here), not both",
    );
  }
  const settings: ChatSettings = {
    ...(flags.temperature === undefined ? {} : { temperature: flags.temperature }),
    ...(flags.topP === undefined ? {} : { top_p: flags.topP }),
    ...(flags.maxTokens === undefined ? {} : { max_tokens: flags.maxTokens }),
  };
  const profileOptions = parseProfileOptions(flags.profileOption);
  const modelOnly = [
    ["--profile", flags.profile !== undefined],
    ["--profile-option", flags.profileOption.length > 0],
    ["--threads", flags.threads !== undefined],
    ["--ctx-size", flags.ctxSize !== undefined],
  ].find(([, given]) => given);
  if (flags.model === undefined && modelOnly !== undefined)
    throw new InvalidArgumentError(`${String(modelOnly[0])} applies to --model; a server has its own`);
  let baseURL = flags.url;
  let label = flags.url ?? "http://127.0.0.1:8000/v1";
  let cleanup: (() => Promise<void>) | undefined;
  if (flags.model !== undefined) {
    // loaded on demand so URL mode never pulls in llama.cpp
    const { createEngineFromSpec } = await import("../../engines/create-engine.js");
    const { startServer } = await import("../../server/index.js");
    process.stderr.write(`loading ${flags.model} ...\n`);
    // one reply at a time: one sequence
    const engine = await createEngineFromSpec({
      engine: "embedded",
      model: flags.model,
      parallel: 1,
      ...(flags.threads === undefined ? {} : { threads: flags.threads }),
      ...(flags.ctxSize === undefined ? {} : { ctxSize: flags.ctxSize }),
    });
    const server = await startServer({
      engine,
      host: "127.0.0.1",
      port: 0,
      ...(flags.profile === undefined ? {} : { profile: flags.profile }),
      profileOptions,
    });
    cleanup = async () => {
      await server.close();
      await engine.dispose();
    };
    try {
      await server.ready;
    } catch (err) {
      await cleanup();
      throw err;
    }
    baseURL = `${server.url.replace(/\/+$/, "")}/v1`;
    label = `${engine.info().modelId} (embedded, profile ${server.profile()?.name ?? "generic"})`;
  }
  const apiKey = flags.apiKey ?? (process.env.SERVELAB_API_KEY || undefined);
  const client = createClient({
    ...(baseURL === undefined ? {} : { baseURL }),
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(flags.modelId === undefined ? {} : { model: flags.modelId }),
  });
  try {
    await runChatSession({
      client,
      label,
      settings,
      hideThinking: flags.hideThinking === true,
      math: flags.math === true,
      ...(flags.system === undefined ? {} : { system: flags.system }),
    });
  } finally {
    await cleanup?.();
  }
}
