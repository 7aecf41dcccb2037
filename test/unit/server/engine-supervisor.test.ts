/**
 * The restart policy of the engine supervisor, on a stand-in engine whose restart can be made to
 * fail or to fail again at once (the real engine's failures and restarts are in
 * test/integration/reliability-engine-faults.test.ts).
 */
import { describe, expect, it } from "vitest";
import { EngineFailedError, type ServelabError } from "../../../src/core/errors.js";
import type { Engine, EngineState } from "../../../src/engines/engine.js";
import { superviseEngine } from "../../../src/server/engine-supervisor.js";
import { ServerMetrics } from "../../../src/server/metrics.js";

interface StandIn extends Engine {
  restarts: number;
  fail(reason: string): void;
}

/** `onRestart` decides what a restart does: the state it leaves, or an error it throws. */
function standIn(onRestart: (n: number) => EngineState | Error): StandIn {
  let state: EngineState = "ready";
  let failure: ServelabError | undefined;
  const engine = {
    restarts: 0,
    get state() {
      return state;
    },
    get failure() {
      return failure;
    },
    fail(reason: string) {
      state = "failed";
      failure = new EngineFailedError(reason);
    },
    async restart() {
      const result = onRestart(++engine.restarts);
      if (result instanceof Error) {
        state = "failed";
        failure = undefined;
        throw result;
      }
      state = result;
      failure = result === "failed" ? new EngineFailedError("failed again at once") : undefined;
    },
  };
  return engine as unknown as StandIn;
}

const metrics = () => new ServerMetrics({ running: () => 0, waiting: () => 0 });

async function until(what: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("superviseEngine", () => {
  it("restarts a failed engine at once and logs one line for the failure and one for the restart", async () => {
    const engine = standIn(() => "ready");
    const lines: string[] = [];
    const m = metrics();
    const supervisor = superviseEngine(engine, {
      restart: true,
      metrics: m,
      log: (l) => lines.push(l),
      ready: Promise.resolve(),
    });
    try {
      engine.fail("the engine failed: boom");
      await until(() => lines.length === 2);
      expect(engine.restarts).toBe(1);
      expect(lines[0]).toBe("the engine failed: boom; restarting it (attempt 1 of 3)");
      expect(lines[1]).toMatch(/^engine restart: ready again in \d+\.\d s \(attempt 1 of 3\)$/);
      expect(supervisor.status).toBeUndefined();
      expect(m.render()).toContain('servelab_engine_restarts_total{result="ok"} 1');
      expect(m.render()).toContain("servelab_engine_failures_total 1");
    } finally {
      supervisor.stop();
    }
  });

  it("backs off between failed attempts and gives up after the last one", async () => {
    const engine = standIn(() => new Error("model file not found"));
    const lines: string[] = [];
    const supervisor = superviseEngine(engine, {
      restart: true,
      policy: { attempts: 3, delayMs: 50 },
      metrics: metrics(),
      log: (l) => lines.push(l),
      ready: Promise.resolve(),
    });
    try {
      const started = performance.now();
      engine.fail("boom");
      await until(() => supervisor.status?.phase === "gave-up");
      // Immediately, then after 50 ms and 100 ms.
      expect(performance.now() - started).toBeGreaterThanOrEqual(150);
      expect(engine.restarts).toBe(3);
      expect(supervisor.status).toEqual({
        reason: "boom",
        attempt: 3,
        attempts: 3,
        phase: "gave-up",
        lastError: "model file not found",
      });
      expect(lines).toEqual([
        "boom; restarting it (attempt 1 of 3)",
        "engine restart: attempt 1 of 3 failed: model file not found; next in 0.1 s",
        "engine restart: attempt 2 of 3 failed: model file not found; next in 0.1 s",
        "engine restart: attempt 3 of 3 failed: model file not found",
        "engine restart: gave up after 3 attempts; /health answers 503 until the server is restarted",
      ]);
      await new Promise((r) => setTimeout(r, 300));
      expect(engine.restarts).toBe(3);
    } finally {
      supervisor.stop();
    }
  });

  it("ends a crash loop: a failure soon after a restart goes on with the same count", async () => {
    // Every restart succeeds, and the engine fails again right away.
    const engine = standIn(() => "failed");
    const supervisor = superviseEngine(engine, {
      restart: true,
      policy: { attempts: 3, delayMs: 10, stableMs: 60_000 },
      metrics: metrics(),
      ready: Promise.resolve(),
    });
    try {
      engine.fail("boom");
      await until(() => supervisor.status?.phase === "gave-up");
      expect(engine.restarts).toBe(3);
    } finally {
      supervisor.stop();
    }
  });

  it("only logs and counts when restarting is off, and watches again once the engine serves", async () => {
    const engine = standIn(() => "ready");
    const lines: string[] = [];
    const m = metrics();
    const supervisor = superviseEngine(engine, {
      restart: false,
      metrics: m,
      log: (l) => lines.push(l),
      ready: Promise.resolve(),
    });
    try {
      engine.fail("boom");
      await until(() => supervisor.status?.phase === "off");
      expect(lines).toEqual(["boom; not restarting it (/health answers 503 until the server is restarted)"]);
      await engine.restart!();
      await until(() => supervisor.status === undefined);
      engine.fail("boom again");
      await until(() => lines.length === 2);
      expect(engine.restarts).toBe(1);
      expect(m.render()).toContain("servelab_engine_failures_total 2");
    } finally {
      supervisor.stop();
    }
  });

  it("does not watch an engine whose first load failed", async () => {
    const engine = standIn(() => "ready");
    engine.fail("could not load");
    const supervisor = superviseEngine(engine, {
      restart: true,
      metrics: metrics(),
      ready: Promise.reject(new Error("could not load")),
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(engine.restarts).toBe(0);
    expect(supervisor.status).toBeUndefined();
    supervisor.stop();
  });
});
