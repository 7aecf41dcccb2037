/**
 * `servelab serve --profile-option` as a real child process (the built CLI, dist/) on a scripted R1 model
 * that loops: the option reaches the server, and a bad one stops serve with one line before it loads.
 * A served model takes a while to load in a fresh process on a busy machine: one load only.
 */
import type { ChildProcess } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawnCli } from "../helpers/cli.js";
import { tinyModel } from "../helpers/models.js";

let model: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  model = await tinyModel({ script: `Let me see. ${"Wait, ".repeat(40)}</think>\n\n4` });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function serve(args: string[]) {
  const started = spawnCli(
    ["serve", "-m", model, "--port", "0", "--parallel", "1", "--threads", "1", "--ctx-size", "256", ...args],
    { SERVELAB_API_KEY: "" },
  );
  children.push(started.child);
  return { url: started.listening, exited: started.exited, stderr: started.stderr };
}

async function ask(url: string) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "2+2?" }] }),
  });
  return (await res.json()) as {
    choices: { finish_reason: string; message: { content: string; reasoning_content?: string } }[];
  };
}

describe("servelab serve --profile-option", () => {
  it("turns the repetition guard off and the reasoning split off, comma-separated in one value", async () => {
    // (without the options this model's reply stops with finish reason repetition and its text is
    // reasoning: see reasoning-real-engine.test.ts)
    const s = serve(["--profile-option", "repetition-guard=false,reasoning-split=false"]);
    const choice = (await ask(await s.url)).choices[0]!;
    expect(choice.finish_reason).toBe("stop");
    expect(choice.message.reasoning_content).toBeUndefined();
    expect(choice.message.content).toBe(`Let me see. ${"Wait, ".repeat(40)}</think>\n\n4`);
  });

  it("a bad option fails with one line and exit code 2 before the model loads", async () => {
    const bad = serve(["--profile-option", "temprature=0.3"]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/unknown key "temprature"/);
    expect(bad.stderr()).not.toMatch(/loading/);

    const impossible = serve(["--profile", "phi-3", "--profile-option", "force-think=true"]);
    expect(await impossible.exited).toBe(2);
    expect(impossible.stderr()).toMatch(/force-think: the phi-3 profile has no reasoning tags/);
  });
});
