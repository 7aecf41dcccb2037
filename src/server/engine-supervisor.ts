/**
 * Watches the engine while the server runs. A failure while serving is logged in one line and
 * counted in /metrics; an engine that can be restarted (one with `restart()`: the embedded engine,
 * a supervised vLLM) is restarted, the first attempt at once and the next ones after a backoff,
 * a bounded number of times in a row, each attempt logged in one line. /health shows where it is.
 */
import { errorMessage } from "../core/errors.js";
import type { Engine } from "../engines/engine.js";
import type { ServerMetrics } from "./metrics.js";

export interface RestartPolicy {
  /** Restart attempts in a row before giving up (the engine stays failed, /health 503); 0 never
   * restarts. Default 3. */
  attempts?: number;
  /** Wait before the second attempt (the first is at once), doubling after each failed one up to
   * 30 s. Default 1000. */
  delayMs?: number;
  /** An engine that served this long after a restart starts a new count of attempts when it fails
   * again; one that fails sooner goes on with the old count, so a crash loop ends. Default 60 000. */
  stableMs?: number;
}

/** Where recovery from a failure stands (shown in /health). */
export interface RestartStatus {
  /** Why the engine failed. */
  reason: string;
  /** Restart attempts made for this failure so far. */
  attempt: number;
  /** Attempts allowed. */
  attempts: number;
  /** Waiting for the next attempt, restarting now, given up, or never restarting (policy 0 or an
   * engine without restart()). */
  phase: "waiting" | "restarting" | "gave-up" | "off";
  /** The last failed attempt's error. */
  lastError?: string;
}

export interface EngineSupervisorOptions {
  /** Restart a failed engine. Default false: failures are only logged and counted. */
  restart: boolean;
  policy?: RestartPolicy;
  metrics: ServerMetrics;
  /** One line per failure and per restart attempt. */
  log?: ((line: string) => void) | undefined;
  /** Watching starts once the first load succeeded: a model that never loaded is a configuration
   * error, not a failure to recover from. */
  ready: Promise<void>;
}

export interface EngineSupervisor {
  /** Undefined while the engine serves (or has not failed yet). */
  readonly status: RestartStatus | undefined;
  stop(): void;
}

const pollMs = 200;
const maxDelayMs = 30_000;

export function superviseEngine(engine: Engine, options: EngineSupervisorOptions): EngineSupervisor {
  const attempts = options.policy?.attempts ?? 3;
  const delayMs = options.policy?.delayMs ?? 1000;
  const stableMs = options.policy?.stableMs ?? 60_000;
  const canRestart = options.restart && attempts > 0 && typeof engine.restart === "function";
  const log = (line: string) => options.log?.(line);
  const controller = new AbortController();
  const signal = controller.signal;
  let status: RestartStatus | undefined;
  let attempt = 0;
  let recoveredAt = -Infinity;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });

  /** Restarts until the engine serves again or the attempts run out. */
  async function recover(reason: string): Promise<void> {
    if (performance.now() - recoveredAt > stableMs) attempt = 0;
    if (!canRestart) {
      status = { reason, attempt: 0, attempts, phase: "off" };
      log(`${reason}; not restarting it (/health answers 503 until the server is restarted)`);
      return;
    }
    // `status` is read by /health at any time; every change is a new object.
    const set = (change: Partial<RestartStatus>) =>
      (status = { reason, attempt, attempts, phase: "waiting", ...status, ...change });
    status = undefined;
    set({});
    log(`${reason}; restarting it (attempt ${attempt + 1} of ${attempts})`);
    while (!signal.aborted) {
      if (attempt >= attempts) {
        set({ phase: "gave-up" });
        log(
          `engine restart: gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}; /health answers 503 until the server is restarted`,
        );
        return;
      }
      if (attempt > 0) await sleep(Math.min(delayMs * 2 ** (attempt - 1), maxDelayMs));
      if (signal.aborted) return;
      attempt++;
      set({ attempt, phase: "restarting" });
      const started = performance.now();
      try {
        await engine.restart!(signal);
        options.metrics.countEngineRestart(true);
        recoveredAt = performance.now();
        status = undefined;
        log(
          `engine restart: ready again in ${((recoveredAt - started) / 1000).toFixed(1)} s (attempt ${attempt} of ${attempts})`,
        );
        return;
      } catch (err) {
        if (signal.aborted) return;
        options.metrics.countEngineRestart(false);
        const lastError = errorMessage(err);
        const next = attempt < attempts ? Math.min(delayMs * 2 ** (attempt - 1), maxDelayMs) : undefined;
        set({ phase: "waiting", lastError });
        log(
          `engine restart: attempt ${attempt} of ${attempts} failed: ${lastError}` +
            (next === undefined ? "" : `; next in ${(next / 1000).toFixed(1)} s`),
        );
      }
    }
  }

  async function watch(): Promise<void> {
    try {
      await options.ready;
    } catch {
      return;
    }
    // `handled`: this failure was dealt with (given up, or not restarting); wait until the engine
    // serves again (someone called restart()) before watching for the next one.
    let handled = false;
    while (!signal.aborted) {
      if (engine.state === "ready") {
        handled = false;
        status = undefined;
      } else if (engine.state === "failed" && !handled) {
        options.metrics.countEngineFailure();
        await recover(engine.failure?.message ?? "unknown failure (see the server log)");
        handled = status !== undefined;
      }
      await sleep(pollMs);
    }
  }
  void watch();

  return {
    get status() {
      return status;
    },
    stop() {
      controller.abort();
    },
  };
}
