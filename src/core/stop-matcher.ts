/**
 * Finds stop strings in streamed text. Text that could be the start of a stop string is held back
 * until it is known not to be one, so a stop string split across chunks never leaks out.
 */
export interface StopMatcher {
  /** Adds text; returns what can be released now, and the stop string when one was found
   * (text from the stop string on is dropped). */
  push(text: string): { emit: string; stopped: string | undefined };
  /** Ends the stream: releases held text (plus `tail`), cut at a stop string if one appears. */
  flush(tail?: string): string;
}

export function createStopMatcher(stops: readonly string[]): StopMatcher {
  const list = stops.filter((s) => s.length > 0);
  const longest = list.reduce((n, s) => Math.max(n, s.length), 0);
  let held = "";

  function find(text: string): { index: number; stop: string } | undefined {
    let best: { index: number; stop: string } | undefined;
    for (const stop of list) {
      const index = text.indexOf(stop);
      if (index >= 0 && (best === undefined || index < best.index)) best = { index, stop };
    }
    return best;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  function partialSuffix(text: string): number {
    const max = Math.min(text.length, longest - 1);
    for (let n = max; n > 0; n--) {
      const suffix = text.slice(text.length - n);
      if (list.some((s) => s.startsWith(suffix))) return n;
    }
    return 0;
  }

  return {
    push(text) {
      if (list.length === 0) return { emit: text, stopped: undefined };
      const buffer = held + text;
      const hit = find(buffer);
      if (hit !== undefined) {
        held = "";
        return { emit: buffer.slice(0, hit.index), stopped: hit.stop };
      }
      const keep = partialSuffix(buffer);
      held = buffer.slice(buffer.length - keep);
      return { emit: buffer.slice(0, buffer.length - keep), stopped: undefined };
    },
    flush(tail = "") {
      const buffer = held + tail;
      held = "";
      const hit = find(buffer);
      return hit === undefined ? buffer : buffer.slice(0, hit.index);
    },
  };
}
