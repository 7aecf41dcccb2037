/**
 * `servelab serve` as a real child process (the built CLI, dist/): binding, API keys (flag, env,
 * file), CORS, the audit log, and graceful shutdown on SIGTERM and SIGINT.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cliPath as cli, spawnCli } from "../helpers/cli.js";
import { expectOpenAiErrorBody, rawRequest, sseData } from "../helpers/http.js";
import { tinyModel } from "../helpers/models.js";

// Long and never repeating (the R1 profile's repetition guard would cut a repeated text short).
const longScript = Array.from({ length: 300 }, (_, i) => `n${(i * 7919) % 10007}`).join(" ");
const dir = mkdtempSync(join(tmpdir(), "servelab-reliability-"));
let model: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  model = await tinyModel({ script: longScript });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const started = spawnCli(
    ["serve", "-m", model, "--port", "0", "--parallel", "2", "--threads", "1", "--ctx-size", "1024", ...args],
    { SERVELAB_API_KEY: "", ...env },
  );
  children.push(started.child);
  return { ...started, url: await started.listening };
}

/** Starts a streamed completion and resolves once its first event arrived; `rest` has the whole body. */
async function startStream(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ prompt: "Count", stream: true, max_tokens: 900 }),
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);
  const rest = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
    return text;
  })();
  return { rest };
}

function streamedText(body: string): string {
  return sseData(body)
    .filter((d) => d !== "[DONE]")
    .map((d) => (JSON.parse(d) as { choices?: { text: string }[] }).choices?.[0]?.text ?? "")
    .join("");
}

describe("servelab serve: binding, keys, CORS, audit log", () => {
  it("binds 127.0.0.1 by default and warns when bound wider without a key", async () => {
    const local = await serve([]);
    expect(new URL(local.url).hostname).toBe("127.0.0.1");
    expect(local.stderr()).not.toMatch(/warning/);
    local.child.kill("SIGTERM");
    expect(await local.exited).toBe(0);

    // 127.0.0.2 is still loopback, but it is not the default: that counts as asking for more.
    const wide = await serve(["--host", "127.0.0.2"]);
    expect(new URL(wide.url).hostname).toBe("127.0.0.2");
    expect(wide.stderr()).toMatch(/warning: listening on 127\.0\.0\.2 without --api-key/);
    wide.child.kill("SIGTERM");
    expect(await wide.exited).toBe(0);
  });

  it("prints the address it bound: 0.0.0.0 with where to connect, the default as it was", async () => {
    const local = await serve([]);
    const { port } = new URL(local.url);
    expect(local.stdout()).toContain(`\nlistening on http://127.0.0.1:${port}\n`);
    local.child.kill("SIGTERM");
    expect(await local.exited).toBe(0);

    // With a key: a server open to the network, even for a test, should not be open to anyone.
    const all = await serve(["--host", "0.0.0.0", "--api-key", "k-0000"]);
    expect(all.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    const line = /listening on .*/.exec(all.stdout())?.[0];
    const hint = `http://127.0.0.1:${new URL(all.url).port}`;
    expect(line).toContain(`(every interface: from this machine ${hint}`);
    expect((await rawRequest(`${hint}/health`, { method: "GET" })).status).toBe(200);
    all.child.kill("SIGTERM");
    expect(await all.exited).toBe(0);
  });

  it("takes the key from SERVELAB_API_KEY, checks it on every route but /health, applies CORS and writes an audit log without text", async () => {
    const audit = join(dir, "audit.jsonl");
    const s = await serve(["--host", "127.0.0.2", "--cors", "https://app.example", "--audit-log", audit], {
      SERVELAB_API_KEY: "s3cret-key-123",
    });
    expect(s.stderr()).not.toMatch(/warning/);
    const body = JSON.stringify({ prompt: "Hello s3cret-key-123", max_tokens: 4 });
    const post = (headers: Record<string, string>) =>
      rawRequest(`${s.url}/v1/completions`, {
        headers: { "content-type": "application/json", ...headers },
        body,
      });

    let r = await post({});
    expect(r.status).toBe(401);
    expect(expectOpenAiErrorBody(r.text)).toMatchObject({
      type: "authentication_error",
      code: "invalid_api_key",
    });
    r = await post({ authorization: "Bearer wrong" });
    expect(r.status).toBe(401);
    r = await post({ authorization: "Basic czNjcmV0LWtleS0xMjM=" });
    expect(r.status).toBe(401);
    for (const path of ["/metrics", "/v1/models"])
      expect((await rawRequest(`${s.url}${path}`, { method: "GET" })).status).toBe(401);
    expect((await rawRequest(`${s.url}/health`, { method: "GET" })).status).toBe(200);

    r = await post({ authorization: "Bearer s3cret-key-123", origin: "https://app.example" });
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe("https://app.example");
    r = await post({ authorization: "Bearer s3cret-key-123", origin: "https://evil.example" });
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await rawRequest(`${s.url}/v1/completions`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-headers"]).toMatch(/authorization/);

    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    const lines = readFileSync(audit, "utf8").trim().split("\n");
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ok = entries.filter((e) => e.status === 200);
    expect(ok).toHaveLength(2);
    expect(ok[0]).toMatchObject({ client: "127.0.0.1", route: "/v1/completions", model: expect.any(String) });
    expect(ok[0]!.prompt_tokens).toBeGreaterThan(0);
    expect(ok[0]!.completion_tokens).toBe(4);
    expect(ok[0]!.latency_ms).toBeGreaterThan(0);
    expect(Object.keys(ok[0]!)).not.toContain("prompt");
    expect(Object.keys(ok[0]!)).not.toContain("answer");
    // No text, and never the key: not in the audit log, not on stderr.
    expect(readFileSync(audit, "utf8")).not.toMatch(/s3cret|Hello|one two/);
    expect(s.stderr()).not.toMatch(/s3cret|Hello|one two/);
  });

  it("reads the key from --api-key-file; --audit-log-text records text with keys redacted", async () => {
    const keyFile = join(dir, "key");
    writeFileSync(keyFile, "file-key-456789\n");
    const audit = join(dir, "audit-text.jsonl");
    const s = await serve([
      "--api-key-file",
      keyFile,
      "--audit-log",
      audit,
      "--audit-log-text",
      "--access-log",
    ]);
    const r = await rawRequest(`${s.url}/v1/chat/completions`, {
      headers: { "content-type": "application/json", authorization: "Bearer file-key-456789" },
      body: JSON.stringify({
        messages: [{ role: "user", content: "my keys: file-key-456789 and sk-abcdefghijklmnop, please" }],
        max_tokens: 3,
      }),
    });
    expect(r.status).toBe(200);
    s.child.kill("SIGINT");
    expect(await s.exited).toBe(0);
    const entry = JSON.parse(readFileSync(audit, "utf8").trim().split("\n").at(-1)!) as {
      prompt: { role: string; content: string }[];
      answer: { reasoning: string; content: string };
    };
    expect(entry.prompt[0]!.content).toBe("my keys: [REDACTED] and [REDACTED], please");
    const answer = entry.answer.reasoning + entry.answer.content;
    expect(answer.length).toBeGreaterThan(2);
    expect(longScript).toContain(answer.trim());
    expect(readFileSync(audit, "utf8")).not.toMatch(/file-key-456789|sk-abcdefghijklmnop/);
    // The access log has counts, never text.
    expect(s.stderr()).toMatch(/POST \/v1\/chat\/completions 200 .* prompt=\d+ completion=3/);
    expect(s.stderr()).not.toMatch(/my keys|one two/);
  });
});

describe("servelab serve: bad flags", () => {
  it("refuses an unknown --profile in one line, exit code 2, before loading the model", () => {
    const r = spawnSync(process.execPath, [cli, "serve", "-m", model, "--port", "0", "--profile", "bogus"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    // Before the fix the model loaded first ("loading ..."), then the profile failed.
    expect(r.stderr).toBe(
      'servelab: --profile must be one of deepseek-r1-distill, phi-3, generic or auto, got "bogus"\n',
    );
    expect(r.stdout).toBe("");
  });
});

describe("servelab serve and chat: secrets in help", () => {
  it("never print SERVELAB_API_KEY in --help", () => {
    const secret = "s3cret-in-env-456";
    for (const command of ["serve", "chat"]) {
      const help = spawnSync(process.execPath, [cli, command, "--help"], {
        env: { ...process.env, SERVELAB_API_KEY: secret },
        encoding: "utf8",
      });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/--api-key <key>[\s\S]*?env SERVELAB_API_KEY/);
      expect(`${help.stdout}${help.stderr}`).not.toContain(secret);
    }
  });
});

describe("servelab serve: graceful shutdown", () => {
  it("on SIGTERM stops accepting, lets the in-flight stream finish, and exits 0", async () => {
    const s = await serve(["--shutdown-grace", "20000"]);
    const { rest } = await startStream(s.url);
    s.child.kill("SIGTERM");
    const body = await rest;
    expect(sseData(body).at(-1)).toBe("[DONE]");
    // Ran to its natural end (the script's end-of-sequence), not cut by the shutdown.
    const last = JSON.parse(sseData(body).at(-2)!) as { choices: { finish_reason: string }[] };
    expect(last.choices[0]!.finish_reason).toBe("stop");
    expect(streamedText(body).length).toBeGreaterThan(100);
    expect(body).not.toMatch(/"error"/);
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toMatch(/SIGTERM: stopping/);
    expect(s.stderr()).toMatch(/stopped: 1 requests finished, 0 aborted/);
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });

  it("on SIGINT aborts what is still running when the grace period ends, and exits 0", async () => {
    const s = await serve(["--shutdown-grace", "0"]);
    const { rest } = await startStream(s.url);
    s.child.kill("SIGINT");
    const body = await rest;
    const events = sseData(body);
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { message: "the server is shutting down" } });
    expect(streamedText(body).length).toBeLessThan(longScript.length);
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toMatch(/stopped: 0 requests finished, 1 aborted/);
  });
});
