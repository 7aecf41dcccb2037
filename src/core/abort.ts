/**
 * Following several abort signals with one, without AbortSignal.any().
 *
 * In Node 20, a signal made by AbortSignal.any() that gets an "abort" listener joins a process-wide set
 * (gcPersistentSignals) and stays there until that listener is removed: whoever consumes the signal
 * (node-llama-cpp, undici) adds one and rarely removes it, so every request left its combined signal
 * behind. The 30-minute soak of 2026-12-02 grew by about 1.3 KB of heap a request (52,000 signals kept
 * after 65,000 requests); nodejs/node#54614, #55351. A signal from a plain AbortController is not in
 * that set, and the listeners here are removed by dispose().
 */

export interface FollowedSignal {
  /** Aborts, with the source's reason, when any source aborts (or the timeout passes). */
  readonly signal: AbortSignal;
  /** Removes the listeners on the sources and clears the timer; call it when the work is done. */
  dispose(): void;
}

/** A signal that aborts when any of `sources` aborts, or after `timeoutMs` (a TimeoutError, as AbortSignal.timeout). */
export function followSignals(
  sources: readonly (AbortSignal | undefined)[],
  timeoutMs?: number,
): FollowedSignal {
  const controller = new AbortController();
  const unlinks: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const dispose = (): void => {
    for (const unlink of unlinks.splice(0)) unlink();
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  for (const source of sources) {
    if (source === undefined) continue;
    if (source.aborted) {
      controller.abort(source.reason);
      dispose();
      return { signal: controller.signal, dispose };
    }
    const onAbort = (): void => {
      controller.abort(source.reason);
      dispose();
    };
    source.addEventListener("abort", onAbort, { once: true });
    unlinks.push(() => source.removeEventListener("abort", onAbort));
  }
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
      dispose();
    }, timeoutMs);
    timer.unref();
  }
  return { signal: controller.signal, dispose };
}
