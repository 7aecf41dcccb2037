/**
 * The interactive loop of `servelab chat`: reads lines with node:readline, streams replies through the
 * client (reasoning dimmed under a "Thinking" header, then the answer, then TTFT and tokens/s), handles
 * slash commands, and turns Ctrl-C into "stop this reply" (twice at an empty prompt: exit).
 */
import { createInterface, type Interface } from "node:readline";
import type { ChatMessage } from "../../engines/engine.js";
import { ClientAbortedError, type ChatOptions, type ServelabClient, type Usage } from "../../client/index.js";
import { errorMessage } from "../../core/errors.js";
import { createStyles, type Styles } from "./ansi.js";

/** Sampling the user can change with /set; unset fields are left to the server. */
export interface ChatSettings {
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
}

export interface ChatSessionOptions {
  client: ServelabClient;
  /** Shown in the banner. */
  label: string;
  system?: string;
  settings: ChatSettings;
  hideThinking: boolean;
  math: boolean;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WriteStream;
}

const help = `commands:
  /reset                 forget the conversation (the system prompt stays)
  /set                   show the settings
  /set temperature 0.7   also top_p, max_tokens; "default" leaves it to the server
  /system TEXT           set the system prompt (/system alone clears it)
  /help                  this list
  /exit                  quit (or Ctrl-C twice at an empty prompt, or Ctrl-D)
Ctrl-C while a reply streams stops the reply.`;

const settingLimits: Record<keyof ChatSettings, { min: number; max: number; integer: boolean }> = {
  temperature: { min: 0, max: 2, integer: false },
  top_p: { min: 0, max: 1, integer: false },
  max_tokens: { min: 1, max: 1_000_000, integer: true },
};

function formatRate(tokens: number, ms: number): string {
  return ms > 0 ? `${((tokens * 1000) / ms).toFixed(1)} tokens/s` : "n/a tokens/s";
}

/** Runs the chat until /exit, Ctrl-D or a double Ctrl-C. */
export async function runChatSession(options: ChatSessionOptions): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const style = createStyles(output);
  const settings: ChatSettings = { ...options.settings };
  let system = options.system;
  let history: ChatMessage[] = [];
  let current: AbortController | undefined;
  let interruptedAtEmptyPrompt = false;
  let closed = false;
  let pendingLine: ((line: string | undefined) => void) | undefined;

  const rl: Interface = createInterface({
    input,
    output,
    terminal: (output as { isTTY?: boolean }).isTTY === true && (input as { isTTY?: boolean }).isTTY === true,
    historySize: 100,
  });
  const write = (text: string) => output.write(text);

  const onInterrupt = (): void => {
    if (current !== undefined) {
      current.abort();
      return;
    }
    if (rl.line.length > 0) {
      // like a shell: drop the half-typed line
      rl.write(null, { ctrl: true, name: "u" });
      interruptedAtEmptyPrompt = false;
      return;
    }
    if (interruptedAtEmptyPrompt) {
      write("\n");
      rl.close();
      return;
    }
    interruptedAtEmptyPrompt = true;
    write(`\n${style.dim("(Ctrl-C again or /exit to quit)")}\n`);
    rl.prompt();
  };
  rl.on("SIGINT", onInterrupt);
  // without a terminal (piped input) Ctrl-C arrives as a signal
  const onSignal = (): void => onInterrupt();
  process.on("SIGINT", onSignal);
  rl.on("line", (line) => {
    const resolve = pendingLine;
    pendingLine = undefined;
    resolve?.(line);
  });
  rl.on("close", () => {
    closed = true;
    current?.abort();
    const resolve = pendingLine;
    pendingLine = undefined;
    resolve?.(undefined);
  });
  const nextLine = (): Promise<string | undefined> =>
    closed ? Promise.resolve(undefined) : new Promise((resolve) => (pendingLine = resolve));

  write(
    `${style.bold("servelab chat")} ${style.dim(`· ${options.label} · /help for commands · Ctrl-C stops a reply`)}\n`,
  );
  rl.setPrompt(style.cyan("> "));
  try {
    for (;;) {
      rl.prompt();
      const line = await nextLine();
      if (line === undefined) break;
      const text = line.trim();
      if (text.length === 0) continue;
      interruptedAtEmptyPrompt = false;
      if (text.startsWith("/")) {
        const done = runCommand(text);
        if (done) break;
        continue;
      }
      await reply(text);
    }
  } finally {
    process.off("SIGINT", onSignal);
    if (!closed) rl.close();
  }

  /** Handles a slash command; true to exit. */
  function runCommand(text: string): boolean {
    const [command = "", ...rest] = text.split(/\s+/);
    const argument = text.slice(command.length).trim();
    switch (command) {
      case "/exit":
      case "/quit":
        return true;
      case "/help":
        write(`${help}\n`);
        return false;
      case "/reset":
        history = [];
        write(`${style.dim("conversation cleared")}\n`);
        return false;
      case "/system":
        system = argument.length > 0 ? argument : undefined;
        write(`${style.dim(system === undefined ? "system prompt cleared" : "system prompt set")}\n`);
        return false;
      case "/set": {
        if (rest.length === 0) {
          const shown = (Object.keys(settingLimits) as (keyof ChatSettings)[])
            .map((k) => `${k} ${settings[k] ?? "default"}`)
            .join(", ");
          write(`${shown}${system === undefined ? "" : `, system "${system}"`}\n`);
          return false;
        }
        const [name = "", value = ""] = rest;
        if (!(name in settingLimits) || rest.length !== 2) {
          write(`${style.red("usage: /set temperature|top_p|max_tokens VALUE (or default)")}\n`);
          return false;
        }
        const key = name as keyof ChatSettings;
        if (value === "default") {
          delete settings[key];
          write(`${style.dim(`${key} left to the server`)}\n`);
          return false;
        }
        const limits = settingLimits[key];
        const number = Number(value);
        if (
          value.trim() === "" ||
          !Number.isFinite(number) ||
          number < limits.min ||
          number > limits.max ||
          (limits.integer && !Number.isInteger(number))
        ) {
          write(
            `${style.red(`${key} must be ${limits.integer ? "an integer" : "a number"} from ${limits.min} to ${limits.max}, got "${value}"`)}\n`,
          );
          return false;
        }
        settings[key] = number;
        write(`${style.dim(`${key} = ${number}`)}\n`);
        return false;
      }
      default:
        write(`${style.red(`unknown command ${command}: /help lists the commands`)}\n`);
        return false;
    }
  }

  async function reply(text: string): Promise<void> {
    const messages: ChatMessage[] = [
      ...(system === undefined ? [] : [{ role: "system" as const, content: system }]),
      ...history,
      { role: "user", content: text },
    ];
    const controller = new AbortController();
    current = controller;
    const chatOptions: ChatOptions = {
      signal: controller.signal,
      math: options.math,
      ...(settings.temperature === undefined ? {} : { temperature: settings.temperature }),
      ...(settings.top_p === undefined ? {} : { topP: settings.top_p }),
      ...(settings.max_tokens === undefined ? {} : { maxTokens: settings.max_tokens }),
    };
    const view = createReplyView(style, write, options.hideThinking);
    const started = performance.now();
    let firstAt: number | undefined;
    let chunks = 0;
    let content = "";
    let usage: Usage | undefined;
    try {
      for await (const event of options.client.stream(messages, chatOptions)) {
        if (event.type === "reasoning" || event.type === "content") {
          firstAt ??= performance.now();
          chunks++;
          if (event.type === "content") content += event.text;
          view.write(event.type, event.text);
        } else if (event.type === "usage") {
          usage = event.usage;
        } else {
          const ended = performance.now();
          view.end();
          const tokens = usage?.completionTokens ?? chunks;
          const approx = usage === undefined ? "~" : "";
          const parts = [
            `TTFT ${firstAt === undefined ? "n/a" : `${Math.round(firstAt - started)} ms`}`,
            `${approx}${formatRate(tokens, firstAt === undefined ? 0 : ended - firstAt)}`,
            `${approx}${tokens} tokens`,
          ];
          if (event.reason !== "stop") parts.push(`finish ${event.reason}`);
          write(`${style.dim(parts.join(" · "))}\n`);
          if (event.reasoningTruncated) {
            write(
              `${style.yellow("the reply ran out of tokens while thinking: there is no answer; raise the limit with /set max_tokens N")}\n`,
            );
          } else if (event.reason === "repetition") {
            write(`${style.yellow("stopped: the model kept repeating itself")}\n`);
          }
          history.push({ role: "user", content: text }, { role: "assistant", content });
        }
      }
    } catch (err) {
      view.end();
      if (err instanceof ClientAbortedError || controller.signal.aborted) {
        write(`${style.yellow("[stopped]")} ${style.dim("this turn is not kept")}\n`);
      } else {
        write(`${style.red(`error: ${errorMessage(err)}`)}\n`);
      }
    } finally {
      current = undefined;
    }
  }
}

/** Prints one reply: a dimmed "Thinking" section, then the answer. */
function createReplyView(
  style: Styles,
  write: (text: string) => void,
  hideThinking: boolean,
): { write(kind: "reasoning" | "content", text: string): void; end(): void } {
  let section: "none" | "reasoning" | "content" = "none";
  let lastChar = "\n";
  const emit = (text: string, styled: string) => {
    if (text.length === 0) return;
    write(styled);
    lastChar = text.at(-1) ?? lastChar;
  };
  return {
    write(kind, text) {
      if (kind === "reasoning") {
        if (section === "none") {
          emit("Thinking\n", `${style.dim(style.bold(hideThinking ? "Thinking…" : "Thinking"))}\n`);
          section = "reasoning";
        }
        if (!hideThinking && section === "reasoning") emit(text, style.dim(text));
        return;
      }
      if (section === "reasoning") emit("\n", lastChar === "\n" ? "\n" : "\n\n");
      section = "content";
      emit(text, text);
    },
    end() {
      if (lastChar !== "\n") emit("\n", "\n");
    },
  };
}
