/**
 * `runCompare` on url: configurations (servers it does not start), in process: a scripted
 * OpenAI-compatible server behind a proxy that wants an API key.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScriptedServer, type ScriptedServer } from "../../src/bench/testing/scripted-server.js";
import { compareProfiles, type ComparePlan } from "../../src/compare/config.js";
import { runCompare } from "../../src/compare/run-compare.js";

interface AuthProxy {
  url: string;
  /** Requests let through, per key. */
  byKey: Map<string, number>;
  refused: number;
  close(): Promise<void>;
}

/** A proxy in front of `target` that answers 401 unless `Authorization: Bearer <one of keys>`. */
async function startAuthProxy(target: string, keys: readonly string[]): Promise<AuthProxy> {
  const byKey = new Map<string, number>();
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const key = /^Bearer (.+)$/u.exec(req.headers.authorization ?? "")?.[1];
    if (key === undefined || !keys.includes(key)) {
      refused++;
      req.resume();
      res.writeHead(401, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: {
            message: "incorrect API key provided",
            type: "authentication_error",
            param: null,
            code: null,
          },
        }),
      );
      return;
    }
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    const upstream = request(
      `${target}${req.url ?? "/"}`,
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    byKey,
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every file the run wrote, as text. */
async function readOutputs(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of await readdir(dir)) files.set(name, await readFile(join(dir, name), "utf8"));
  return files;
}

const profile = { ...compareProfiles.smoke, qualityProblems: 2, qualityMaxTokens: 8 };

describe("compare on url: servers", () => {
  let scripted: ScriptedServer;
  let proxy: AuthProxy;
  let dir: string;
  const envKey = "env-key-7f3a9c";
  const literalKey = "sk-literal-51d2e8";

  beforeAll(async () => {
    scripted = await startScriptedServer({ ttftMs: 5, itlMs: 2 });
    proxy = await startAuthProxy(scripted.url.replace(/\/v1$/u, ""), [envKey, literalKey]);
    dir = await mkdtemp(join(tmpdir(), "servelab-compare-url-"));
  });

  afterAll(async () => {
    await proxy?.close();
    await scripted?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("sends each configuration's API key to client and bench, and writes it nowhere", async () => {
    process.env.SERVELAB_TEST_COMPARE_KEY = envKey;
    const engine = `url:${proxy.url}/v1`;
    const plan: ComparePlan = {
      configurations: [
        { name: "from-env", engine, model: "scripted-model", apiKeyEnv: "SERVELAB_TEST_COMPARE_KEY" },
        { name: "literal", engine, model: "scripted-model", apiKey: literalKey },
        { name: "keyless", engine, model: "scripted-model" },
      ],
      reference: "from-env",
      profile,
      slo: "itl=50ms",
    };
    const out = join(dir, "keys");
    let result;
    try {
      result = await runCompare({
        plan,
        outDir: out,
        command: `servelab compare --config c.yaml --note ${literalKey}`,
      });
    } finally {
      delete process.env.SERVELAB_TEST_COMPARE_KEY;
    }
    expect(result.configurations.map((c) => [c.name, c.status])).toEqual([
      ["from-env", "ok"],
      ["literal", "ok"],
      ["keyless", "failed"],
    ]);
    expect(result.configurations[2]?.error).toMatch(/401|API key/iu);
    // every measured request went with its key: no quality request failed, the bench counted tokens
    for (const c of result.configurations.slice(0, 2)) {
      expect(c.quality?.n).toBe(2);
      expect(c.quality?.errors).toBe(0);
      expect(c.throughput?.outputTokensPerSecond).toBeGreaterThan(0);
    }
    expect(proxy.byKey.get(envKey)).toBeGreaterThan(10);
    expect(proxy.byKey.get(literalKey)).toBeGreaterThan(10);
    // nothing compare wrote holds a key; plan.json keeps the variable's name for --resume
    const files = await readOutputs(out);
    expect([...files.keys()].sort()).toEqual(
      expect.arrayContaining(["measurements.jsonl", "plan.json", "requests.jsonl", "results.json"]),
    );
    for (const [name, text] of files) {
      expect(text, name).not.toContain(envKey);
      expect(text, name).not.toContain(literalKey);
    }
    const stored = JSON.parse(files.get("plan.json") ?? "{}") as ComparePlan;
    expect(stored.configurations.map((c) => [c.apiKey, c.apiKeyEnv])).toEqual([
      [undefined, "SERVELAB_TEST_COMPARE_KEY"],
      ["(redacted)", undefined],
      [undefined, undefined],
    ]);
    expect(result.command).toBe("servelab compare --config c.yaml --note (redacted)");
  });

  it("resumes a configuration that stopped during quality with its own answers only", async () => {
    const engine = `url:${scripted.url}`;
    const plan: ComparePlan = {
      configurations: [
        { name: "a", engine, model: "scripted-model" },
        { name: "b", engine, model: "scripted-model" },
      ],
      reference: "a",
      profile: { ...profile, qualityProblems: 4, qualityConcurrency: 1 },
      slo: "itl=50ms",
    };
    const out = join(dir, "resume");
    const controller = new AbortController();
    const first = await runCompare(
      { plan, outDir: out, command: "servelab compare", signal: controller.signal },
      {
        onProgress: (event) => {
          // Ctrl-C once b has written its first answer.
          if (event.configuration === "b" && event.phase === "quality" && event.detail === "1/4")
            controller.abort();
        },
      },
    );
    expect(first.configurations.map((c) => [c.name, c.status, c.error])).toEqual([
      ["a", "ok", undefined],
      ["b", "failed", "interrupted during quality"],
    ]);
    const partial = (await readFile(join(out, "quality-b.jsonl"), "utf8")).trim().split("\n");
    expect(partial.length).toBeGreaterThanOrEqual(1);
    expect(partial.length).toBeLessThan(4);

    const resumed = await runCompare({
      plan,
      outDir: out,
      command: "servelab compare --resume",
      resume: true,
    });
    expect(resumed.configurations.map((c) => [c.name, c.status])).toEqual([
      ["a", "ok"],
      ["b", "ok"],
    ]);
    const ids = (await readFile(join(out, "quality-b.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    // agreement pairs b's answers with a's by problem: stale lines would have counted twice
    expect(resumed.configurations[1]?.quality?.agreement?.n).toBe(4);
  });
});
