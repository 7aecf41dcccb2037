/**
 * `servelab chat` in a real pseudo-terminal (util-linux `script`), against the scripted fake OpenAI
 * server. The chat command's sources are transpiled (no type check) into .cache/ and run with node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  startFakeOpenAiServer,
  type FakeOpenAiServer,
  type FakeScript,
} from "../helpers/fake-openai-server.js";
import { tinyModel } from "../helpers/models.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const outDir = join(root, ".cache", `chat-test-${process.pid}`);
let entry = "";

function transpileTree(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) {
      transpileTree(source, join(to, name));
      continue;
    }
    if (!name.endsWith(".ts")) continue;
    const out = ts.transpileModule(readFileSync(source, "utf8"), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
      fileName: source,
    });
    mkdirSync(to, { recursive: true });
    writeFileSync(join(to, name.replace(/\.ts$/, ".js")), out.outputText);
  }
}

beforeAll(() => {
  transpileTree(join(root, "src"), join(outDir, "src"));
  writeFileSync(join(outDir, "package.json"), '{"type":"module"}');
  // the chat command alone, with the CLI's one-line error reporting
  entry = join(outDir, "chat-main.js");
  writeFileSync(
    entry,
    `import { Command } from "commander";
import { registerChatCommand } from "./src/cli/commands/chat.js";
const program = new Command("servelab");
registerChatCommand(program);
try {
  await program.parseAsync(["chat", ...process.argv.slice(2)], { from: "user" });
} catch (err) {
  process.stderr.write("servelab: " + err.message + "\\n");
  process.exitCode = err.code === "INVALID_ARGUMENT" ? 2 : 1;
}
`,
  );
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

let server: FakeOpenAiServer | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
  child = undefined;
  await server?.close();
  server = undefined;
});

// eslint-disable-next-line no-control-regex -- matching ANSI escapes is the point
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");

interface Terminal {
  /** Everything the program printed so far (raw, with ANSI codes). */
  raw(): string;
  screen(): string;
  type(text: string): void;
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Runs the chat command in a pseudo-terminal. */
function startTerminal(args: string[], env: Record<string, string> = {}): Terminal {
  const command = [process.execPath, relative(root, entry), ...args]
    .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    .join(" ");
  const proc = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: root,
    env: { ...process.env, TERM: "xterm", NO_COLOR: "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child = proc;
  let output = "";
  proc.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
  proc.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    raw: () => output,
    screen: () => stripAnsi(output),
    type: (text) => proc.stdin.write(text),
    async waitFor(pattern, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      const matches = () =>
        typeof pattern === "string" ? stripAnsi(output).includes(pattern) : pattern.test(stripAnsi(output));
      while (!matches()) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${String(pattern)}; screen:\n${stripAnsi(output)}`);
        if (proc.exitCode !== null)
          throw new Error(`chat exited (${proc.exitCode}) before ${String(pattern)}:\n${stripAnsi(output)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    exited,
  };
}

const r1Reply: FakeScript = (request) => {
  const messages = request.body?.messages as { role: string; content: string }[];
  const last = messages.at(-1)?.content ?? "";
  return {
    deltas: [
      { reasoning_content: "The user asks " },
      { reasoning_content: `"${last}". Two plus two is four.` },
      { content: "\n\nThe answer is **4**." },
    ],
    usage: { prompt_tokens: 9, completion_tokens: 12 },
    delayMs: 5,
  };
};

describe("servelab chat (pseudo-terminal)", () => {
  it("streams the Thinking section dimmed, the answer and a stats line; /reset forgets the conversation", async () => {
    server = await startFakeOpenAiServer(r1Reply);
    const term = startTerminal(["--url", server.url, "--temperature", "0.5"], {
      SERVELAB_API_KEY: "k-from-env-123",
    });
    await term.waitFor("servelab chat");
    term.type("What is 2+2?\r");
    await term.waitFor(/TTFT \d+ ms · [\d.]+ tokens\/s · 12 tokens/);
    // The key comes from the environment, read when the command runs (not as a --help default).
    expect(server.requests.at(-1)?.headers.authorization).toBe("Bearer k-from-env-123");
    const screen = term.screen();
    expect(screen).toMatch(
      /Thinking\nThe user asks "What is 2\+2\?"\. Two plus two is four\.\n\nThe answer is \*\*4\*\*\./,
    );
    // reasoning is dimmed on a TTY, the answer is not
    expect(term.raw()).toContain("\x1b[2mThe user asks \x1b[22m");
    expect(term.raw()).not.toContain("\x1b[2m\n\nThe answer");
    expect(server.requests.at(-1)?.body).toMatchObject({ temperature: 0.5, stream: true });

    term.type("And 3+3?\r");
    await term.waitFor(/"And 3\+3\?"[\s\S]*TTFT/);
    const second = server.requests.at(-1)?.body?.messages as { role: string; content: string }[];
    // the earlier answer is sent back without its reasoning
    expect(second).toEqual([
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: "The answer is **4**." },
      { role: "user", content: "And 3+3?" },
    ]);

    term.type("/reset\r");
    await term.waitFor("conversation cleared");
    term.type("/set max_tokens 64\r");
    await term.waitFor("max_tokens = 64");
    term.type("/set top_p 7\r");
    await term.waitFor(/top_p must be a number from 0 to 1/);
    term.type("Hi\r");
    await term.waitFor(/"Hi"[\s\S]*TTFT/);
    expect(server.requests.at(-1)?.body?.messages).toEqual([{ role: "user", content: "Hi" }]);
    expect(server.requests.at(-1)?.body).toMatchObject({ max_tokens: 64, temperature: 0.5 });
    expect(server.requests.at(-1)?.body?.top_p).toBeUndefined();

    term.type("/exit\r");
    expect(await term.exited).toBe(0);
  });

  it("Ctrl-C stops a slow reply (and its HTTP request) but not the program; twice at an empty prompt exits", async () => {
    server = await startFakeOpenAiServer((_req, i) =>
      i === 0
        ? { deltas: Array.from({ length: 400 }, (_, k) => ({ content: `word${k} ` })), delayMs: 25 }
        : { deltas: [{ content: "fast answer" }] },
    );
    const term = startTerminal(["--url", server.url, "--model-id", "m"]);
    await term.waitFor("servelab chat");
    term.type("Tell me a long story\r");
    await term.waitFor("word3 ");
    term.type("\x03");
    await term.waitFor("[stopped]");
    const request = server.requests.at(-1);
    await Promise.race([request?.finished, new Promise((r) => setTimeout(r, 3000))]);
    expect(request?.closedEarly).toBe(true);
    expect(term.screen()).not.toContain("word399");

    // still running: the next question is answered, without the stopped turn in the history
    term.type("Short one?\r");
    await term.waitFor("fast answer");
    expect(server.requests.at(-1)?.body?.messages).toEqual([{ role: "user", content: "Short one?" }]);
    await term.waitFor(/fast answer\n.*TTFT/);

    term.type("\x03");
    await term.waitFor("Ctrl-C again");
    term.type("\x03");
    expect(await term.exited).toBe(0);
  });

  it("--hide-thinking hides the reasoning; NO_COLOR turns colours off; /system and --math reach the request", async () => {
    server = await startFakeOpenAiServer(r1Reply);
    const term = startTerminal(["--url", server.url, "--hide-thinking", "--math"], { NO_COLOR: "1" });
    await term.waitFor("servelab chat");
    term.type("/system Be brief.\r");
    await term.waitFor("system prompt set");
    term.type("Q?\r");
    await term.waitFor("TTFT");
    expect(term.screen()).toContain("The answer is **4**.");
    expect(term.screen()).not.toContain("Two plus two");
    expect(term.raw()).not.toContain("\x1b[2m");
    const messages = server.requests.at(-1)?.body?.messages as { role: string; content: string }[];
    expect(messages[0]).toEqual({ role: "system", content: "Be brief." });
    expect(messages[1]?.content).toMatch(
      /^Q\?\n\nPlease reason step by step, and put your final answer within \\boxed\{\}\.$/,
    );
    term.type("\x04"); // Ctrl-D
    expect(await term.exited).toBe(0);
  });

  it("an unreachable server is reported in one line and the chat goes on", async () => {
    server = await startFakeOpenAiServer(r1Reply);
    const port = server.port;
    await server.close();
    server = undefined;
    const term = startTerminal(["--url", `http://127.0.0.1:${port}/v1`, "--model-id", "m"]);
    await term.waitFor("servelab chat");
    term.type("hello\r");
    await term.waitFor(
      /error: cannot connect to http:\/\/127\.0\.0\.1:\d+\/v1 \(connection refused\)/,
      15_000,
    );
    term.type("/exit\r");
    expect(await term.exited).toBe(0);
  });

  it("-m MODEL: an embedded scripted R1 model, loaded in-process, answers through the same screen", async () => {
    const model = await tinyModel({ script: "Let me compute 4*4.\n</think>\n\nThe answer is \\boxed{16}." });
    const term = startTerminal(["-m", model, "--threads", "1", "--ctx-size", "256"]);
    // loading a model in a fresh process takes a while on a busy machine
    await term.waitFor(/servelab chat/, 90_000);
    expect(term.screen()).toMatch(/\(embedded, profile deepseek-r1-distill\)/);
    term.type("What is 4*4?\r");
    await term.waitFor(/TTFT \d+ ms · [\d.]+ tokens\/s · \d+ tokens/, 30_000);
    expect(term.screen()).toMatch(/Thinking\nLet me compute 4\*4\.\n+The answer is \\boxed\{16\}\./);
    // the reasoning streams dimmed token by token; the answer is not dimmed
    expect(term.raw()).toContain("\x1b[2mLet \x1b[22m\x1b[2mme \x1b[22m");
    expect(term.raw()).not.toContain("\x1b[2mThe answer");
    expect(term.screen()).not.toContain("</think>");
    term.type("/exit\r");
    expect(await term.exited).toBe(0);
  });

  it("bad flags fail with one line and exit code 2", async () => {
    const term = startTerminal(["--temperature", "9"]);
    expect(await term.exited).toBe(2);
    expect(term.screen().trim()).toBe('servelab: --temperature must be a number from 0 to 2, got "9"');
    // embedded-model flags without --model are refused, not ignored
    const urlOnly = startTerminal(["--url", "http://127.0.0.1:9/v1", "--profile-option", "temperature=0.2"]);
    expect(await urlOnly.exited).toBe(2);
    expect(urlOnly.screen().trim()).toBe(
      "servelab: --profile-option applies to --model; a server has its own",
    );
    // A wrong profile fails while the flags are parsed, before the model (here: no file) is looked at.
    const profile = startTerminal(["--model", "/nonexistent.gguf", "--profile", "bogus"]);
    expect(await profile.exited).toBe(2);
    expect(profile.screen().trim()).toBe(
      'servelab: --profile must be one of deepseek-r1-distill, phi-3, generic or auto, got "bogus"',
    );
  });
});
