/** The live progress line on stderr: redrawn in place on a TTY, else one line every few seconds. */
import type { BenchProgress } from "./index.js";

/** Format one progress line. */
export function formatProgress(p: BenchProgress): string {
  const total = p.total === undefined ? "" : `/${p.total}`;
  const remaining = p.remainingS === undefined ? "" : `, ~${p.remainingS.toFixed(0)}s left`;
  return `${p.level} run ${p.run}/${p.runs} ${p.phase}: ${p.done}${total} done, ${p.errors} errors, ${p.tokensPerSecond.toFixed(0)} tok/s, ${p.elapsedS.toFixed(1)}s${remaining}`;
}

export interface ProgressReporterOptions {
  /** Seconds between lines when the stream is not a TTY (default 5). */
  plainIntervalS?: number;
}

/** A progress hook bound to a stream, and `clear()` to erase the line before printing results. */
export function createProgressReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  options: ProgressReporterOptions = {},
): { onProgress(p: BenchProgress): void; clear(): void } {
  const tty = stream.isTTY === true;
  let lastPlain = 0;
  let drawn = false;
  return {
    onProgress(p) {
      if (tty) {
        stream.write(`\r\x1b[2K${formatProgress(p)}`);
        drawn = true;
        return;
      }
      const now = performance.now();
      if (now - lastPlain >= (options.plainIntervalS ?? 5) * 1000) {
        lastPlain = now;
        stream.write(`${formatProgress(p)}\n`);
      }
    },
    clear() {
      if (tty && drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
