/**
 * `servelab serve --engine url:... --workers N`: the gateway in N processes that share one port
 * (node:cluster), for when one core cannot carry the upstream's tokens (a gateway costs tens of
 * microseconds of CPU per streamed token; see docs/benchmarks.md "Gateway overhead").
 *
 * The primary process serves nothing itself. It starts worker 1 and waits until it is ready (a wrong
 * flag or an unreachable upstream fails there, said once), then the others; it prints the banner once
 * all of them serve, sums the workers' metrics for whichever worker answers /metrics, stops them all
 * gracefully on SIGINT or SIGTERM, and starts a new worker in place of one that died. A worker whose
 * primary is gone (killed) stops by itself: no orphans.
 *
 * Limits (--max-concurrent-per-client, --max-queue) are each worker's own.
 */
import cluster, { type Worker } from "node:cluster";
import { formatMs } from "../core/format.js";

/** Messages between the primary and its workers; `servelab` tells them from anything else on the channel. */
type WorkerMessage =
  | { servelab: "ready"; lines: string[] }
  | { servelab: "stopped"; drained: number; aborted: number }
  | { servelab: "stop"; reason: string }
  | { servelab: "metrics?"; id: number }
  | { servelab: "local-metrics?"; id: number }
  | { servelab: "local-metrics"; id: number; text: string }
  | { servelab: "metrics"; id: number; text: string };

const isMessage = (value: unknown): value is WorkerMessage =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { servelab?: unknown }).servelab === "string";

/** This process is a worker of `serve --workers`. */
export const isServeWorker = (): boolean => cluster.isWorker;

/** Longest wait for the other workers' metrics; a worker that does not answer in time is left out. */
const metricsTimeoutMs = 2_000;

export interface PrimaryOptions {
  workers: number;
  shutdownGraceMs: number;
  /** Also stop when standard input ends (SERVELAB_STOP_WITH_PARENT: a parent that holds it open). */
  stopWithParent: boolean;
  log?: (line: string) => void;
  /** Where the banner goes (default stdout). */
  out?: (text: string) => void;
}

/**
 * Runs the primary: forks the workers (each runs this same command line), and resolves with the exit
 * code once they stopped. Rejects nothing: failures are reported and become the code.
 */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const out = options.out ?? ((text: string) => process.stdout.write(text));
  const ready = new Set<Worker>();
  let stopping = false;
  /** The first worker's banner lines, printed once every worker is ready. */
  let banner: string[] | undefined;
  let announced = false;
  let totals = { drained: 0, aborted: 0 };
  let failedCode = 0;
  /** Replacements in the last minute: a worker that keeps dying is not restarted for ever. */
  const deaths: number[] = [];
  let nextMetricsId = 1;
  const gathering = new Map<number, { texts: string[]; waiting: Set<Worker>; done: () => void }>();

  return new Promise<number>((resolve) => {
    /** Workers not yet exited (cluster.workers keeps one until its channel closed too). */
    const running = new Set<Worker>();
    const fork = (): Worker => {
      const worker = cluster.fork();
      running.add(worker);
      worker.on("message", (message: unknown) => onMessage(worker, message));
      worker.on("exit", (code, signal) => onExit(worker, code, signal));
      return worker;
    };

    const finishIfDone = (): void => {
      if (running.size > 0) return;
      if (stopping && failedCode === 0)
        log(`stopped: ${totals.drained} requests finished, ${totals.aborted} aborted`);
      resolve(failedCode);
    };

    const stopAll = (reason: string): void => {
      for (const worker of running) if (worker.isConnected()) worker.send({ servelab: "stop", reason });
    };

    const onMessage = (worker: Worker, message: unknown): void => {
      if (!isMessage(message)) return;
      switch (message.servelab) {
        case "ready":
          ready.add(worker);
          // Asked to stop while it started (before it listened for messages): tell it again.
          if (stopping) {
            worker.send({ servelab: "stop", reason: "stopping" });
            return;
          }
          if (banner === undefined) {
            // The first: the others start now; the banner once all of them serve.
            banner = message.lines;
            for (let i = 1; i < options.workers; i++) fork();
          }
          if (!announced && ready.size === options.workers) {
            announced = true;
            out(`${banner.join("\n")}\nworkers    ${options.workers} processes (node:cluster, one port)\n`);
          }
          return;
        case "stopped":
          totals = {
            drained: totals.drained + message.drained,
            aborted: totals.aborted + message.aborted,
          };
          return;
        case "metrics?":
          gatherMetrics(worker, message.id);
          return;
        case "local-metrics": {
          const gather = gathering.get(message.id);
          if (gather === undefined) return;
          gather.texts.push(message.text);
          gather.waiting.delete(worker);
          if (gather.waiting.size === 0) gather.done();
          return;
        }
        default:
          return;
      }
    };

    /** Asks every ready worker for its metrics and answers `asker` with their sum. */
    const gatherMetrics = (asker: Worker, askerId: number): void => {
      const id = nextMetricsId++;
      const targets = [...ready].filter((w) => w.isConnected());
      const done = (): void => {
        clearTimeout(timer);
        const gather = gathering.get(id);
        gathering.delete(id);
        if (asker.isConnected())
          asker.send({ servelab: "metrics", id: askerId, text: mergeMetricsText(gather?.texts ?? []) });
      };
      gathering.set(id, { texts: [], waiting: new Set(targets), done });
      const timer = setTimeout(done, metricsTimeoutMs);
      for (const worker of targets) worker.send({ servelab: "local-metrics?", id });
      if (targets.length === 0) done();
    };

    const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
      running.delete(worker);
      const wasReady = ready.delete(worker);
      for (const gather of gathering.values())
        if (gather.waiting.delete(worker) && gather.waiting.size === 0) gather.done();
      if (stopping) return finishIfDone();
      if (!wasReady && !announced) {
        // One of the first failed to start (it said why): the others cannot do better.
        failedCode = code === null || code === 0 ? 1 : code;
        stopping = true;
        stopAll("a worker failed to start");
        return finishIfDone();
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && (deaths[0] as number) < now - 60_000) deaths.shift();
      const how = signal === null ? `code ${code}` : signal;
      if (deaths.length > options.workers) {
        log(`worker ${worker.process.pid} exited (${how}); workers keep dying, stopping`);
        failedCode = 1;
        stopping = true;
        stopAll("workers keep dying");
        return finishIfDone();
      }
      log(`worker ${worker.process.pid} exited (${how}); starting another`);
      fork();
    };

    const stop = (reason: string): void => {
      if (stopping) {
        log(`${reason} again: exiting now`);
        for (const worker of running) worker.process.kill("SIGKILL");
        process.exit(1);
      }
      stopping = true;
      log(
        `\n${reason}: stopping ${running.size} workers; in-flight requests get ${formatMs(options.shutdownGraceMs)} (send it again to exit now)`,
      );
      stopAll(reason);
      finishIfDone();
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
    if (options.stopWithParent) {
      process.stdin.on("end", () => stop("parent gone"));
      process.stdin.on("error", () => stop("parent gone"));
      process.stdin.resume();
    }
    fork();
  });
}

export interface WorkerHooks {
  /** The primary asked this worker to stop (or is gone): run the same graceful stop as on SIGTERM. */
  onStop(reason: string): void;
  /** This worker's own metrics, for the sum another worker asked for. */
  localMetrics(): string;
}

/**
 * In a worker: answers the primary's questions and stops with it. Returns what the server and the serve
 * command call: `ready(lines)` once listening and loaded (the primary prints the lines once),
 * `stopped(...)` once drained, and `collectMetrics(local)`, the sum over all workers for /metrics.
 */
export function joinPrimary(hooks: WorkerHooks): {
  ready(lines: string[]): void;
  /** Resolves once the primary has the message (the worker may exit then). */
  stopped(result: { drained: number; aborted: number }): Promise<void>;
  collectMetrics(local: string): Promise<string>;
} {
  let nextId = 1;
  const pending = new Map<number, (text: string) => void>();
  const send = (message: WorkerMessage): void => {
    if (process.connected) process.send?.(message);
  };
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.servelab === "stop") hooks.onStop(message.reason);
    else if (message.servelab === "local-metrics?")
      send({ servelab: "local-metrics", id: message.id, text: hooks.localMetrics() });
    else if (message.servelab === "metrics") {
      pending.get(message.id)?.(message.text);
      pending.delete(message.id);
    }
  });
  // The primary was killed (SIGKILL leaves no time to tell anyone): stop rather than serve on alone.
  process.on("disconnect", () => hooks.onStop("primary gone"));
  return {
    ready: (lines) => send({ servelab: "ready", lines }),
    stopped: (result) =>
      new Promise<void>((resolve) => {
        if (!process.connected || process.send === undefined) return resolve();
        process.send({ servelab: "stopped", ...result } satisfies WorkerMessage, () => resolve());
      }),
    collectMetrics(local) {
      if (!process.connected) return Promise.resolve(local);
      const id = nextId++;
      return new Promise<string>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(local);
        }, metricsTimeoutMs + 500);
        pending.set(id, (text) => {
          clearTimeout(timer);
          resolve(text);
        });
        send({ servelab: "metrics?", id });
      });
    },
  };
}

/** Metrics that are a state of the whole server rather than a count: the lowest worker's value holds. */
const lowestOfWorkers = new Set(["servelab_engine_up"]);

/**
 * Sums Prometheus text expositions sample by sample (same name and labels), keeping each family's
 * `# HELP`/`# TYPE` lines and the order in which families and samples first appear. Counters, histogram
 * buckets, sums and counts, and the running/waiting gauges add up across processes; `servelab_engine_up`
 * takes the lowest value (the server is up when every worker's engine is).
 */
export function mergeMetricsText(texts: readonly string[]): string {
  interface Family {
    comments: string[];
    samples: Map<string, number>;
  }
  const families = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { comments: [], samples: new Map() };
      families.set(name, family);
    }
    return family;
  };
  /** Which exposition gave a family its comment lines: the first that had any. */
  const describedBy = new Map<Family, number>();
  texts.forEach((text, index) => {
    let current: Family | undefined;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (line.startsWith("#")) {
        const name = /^#\s*(?:HELP|TYPE)\s+(\S+)/.exec(line)?.[1];
        if (name === undefined) continue;
        current = familyOf(name);
        if ((describedBy.get(current) ?? index) !== index) continue;
        describedBy.set(current, index);
        current.comments.push(line);
        continue;
      }
      const space = line.lastIndexOf(" ");
      if (space <= 0) continue;
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (!Number.isFinite(value)) continue;
      const name = key.replace(/\{.*$/, "");
      const family = current ?? familyOf(name);
      const before = family.samples.get(key);
      family.samples.set(
        key,
        before === undefined ? value : lowestOfWorkers.has(name) ? Math.min(before, value) : before + value,
      );
    }
  });
  let out = "";
  for (const family of families.values()) {
    for (const comment of family.comments) out += `${comment}\n`;
    for (const [key, value] of family.samples) out += `${key} ${value}\n`;
  }
  return out;
}
