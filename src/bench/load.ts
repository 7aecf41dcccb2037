/**
 * Load patterns: closed-loop concurrency (N workers, each sending its next request when the last one ends)
 * and open-loop request rate (sends at drawn intended times, optionally capped in flight). For open-loop load
 * every request keeps its intended send time, so queueing in the client is measured, not hidden.
 */
import { createArrivalGaps } from "./arrivals.js";
import type { BenchClient, PreparedRequest } from "./http-client.js";
import type { LoadLevel } from "./options.js";
import type { RequestTiming } from "./types.js";

export interface LoadPhaseOptions {
  client: BenchClient;
  level: LoadLevel;
  /** Request number i (0-based within the phase) to send. */
  prepare(index: number): PreparedRequest;
  /** Stop after this many requests (undefined: only the duration limits). */
  requests: number | undefined;
  /** Send no new request after this many milliseconds. */
  durationMs: number | undefined;
  random: () => number;
  signal?: AbortSignal | undefined;
  /** Called as each request finishes, in completion order. */
  onDone(index: number, timing: RequestTiming): void;
}

/** Run one phase of load; resolves when every request sent has finished. */
export async function runLoadPhase(options: LoadPhaseOptions): Promise<{ start: number; sent: number }> {
  return options.level.mode === "concurrency"
    ? runClosedLoop(options, options.level.concurrency)
    : runOpenLoop(options);
}

async function runClosedLoop(
  options: LoadPhaseOptions,
  concurrency: number,
): Promise<{ start: number; sent: number }> {
  const { client, requests, durationMs, signal } = options;
  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (
      signal?.aborted !== true &&
      (requests === undefined || next < requests) &&
      performance.now() < deadline
    ) {
      const index = next++;
      const request = options.prepare(index);
      const intended = performance.now();
      const timing = await client.send(request, intended, signal);
      options.onDone(index, timing);
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < concurrency && (requests === undefined || i < requests); i++) workers.push(worker());
  await Promise.all(workers);
  return { start, sent: next };
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/**
 * Wait until performance.now() reaches `time`. Node's timers may fire up to a millisecond early (libuv caches
 * the loop time in whole milliseconds), which would send a request before its intended time: each wake-up
 * checks the clock again, and the last fraction of a millisecond is waited out with setImmediate.
 */
function sleepUntil(time: number, signal: AbortSignal | undefined): Promise<void> {
  if (time - performance.now() <= 0 || signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const check = (): void => {
      timer = undefined;
      if (finished) return;
      const delay = time - performance.now();
      if (delay <= 0 || signal?.aborted === true) done();
      else if (delay >= 1) timer = setTimeout(check, Math.floor(delay));
      else setImmediate(check);
    };
    signal?.addEventListener("abort", done, { once: true });
    check();
  });
}

async function runOpenLoop(options: LoadPhaseOptions): Promise<{ start: number; sent: number }> {
  const level = options.level;
  if (level.mode !== "rate") throw new Error("runOpenLoop needs a rate level");
  const { client, requests, durationMs, signal } = options;
  const gaps = createArrivalGaps(level, options.random);
  const cap = level.maxConcurrency ?? Infinity;
  const start = performance.now();
  let intended = start;
  let inFlight = 0;
  let sent = 0;
  const waiters: (() => void)[] = [];
  const pending = new Set<Promise<void>>();
  for (let index = 0; requests === undefined || index < requests; index++) {
    if (index > 0) intended += gaps();
    if (durationMs !== undefined && intended - start >= durationMs) break;
    await sleepUntil(intended, signal);
    if (signal?.aborted === true) break;
    // Over the cap the request waits here; its intended time stays, so the wait counts as latency.
    while (inFlight >= cap) await new Promise<void>((resolve) => waiters.push(resolve));
    if (isAborted(signal)) break;
    inFlight++;
    sent++;
    const request = options.prepare(index);
    const p = client.send(request, intended, signal).then((timing) => {
      inFlight--;
      pending.delete(p);
      options.onDone(index, timing);
      waiters.shift()?.();
    });
    pending.add(p);
  }
  while (pending.size > 0) await Promise.all([...pending]);
  return { start, sent };
}
