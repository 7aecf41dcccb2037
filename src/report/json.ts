/** JSON writers for results: whole documents (atomically replaced) and JSON Lines appended record by record. */
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ServelabError } from "../core/errors.js";

/** Serialize with two-space indentation; non-finite numbers become null (JSON has none). */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Write a JSON document: to a temporary file first, then renamed over the target, so readers never see half. */
export function writeJsonFile(path: string, value: unknown): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, formatJson(value));
    renameSync(tmp, path);
  } catch (err) {
    throw new ServelabError("IO_FAILED", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export interface JsonLinesWriterOptions {
  /** Start the file empty instead of appending to what is there. Default false. */
  truncate?: boolean;
}

/**
 * An append-only JSON Lines file written synchronously line by line, so a crash or Ctrl-C loses nothing that
 * was already written.
 */
export class JsonLinesWriter {
  private fd: number | undefined;
  lines = 0;

  constructor(
    readonly path: string,
    options: JsonLinesWriterOptions = {},
  ) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, options.truncate === true ? "w" : "a");
    } catch (err) {
      throw new ServelabError("IO_FAILED", `cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  write(value: unknown): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, `${JSON.stringify(value)}\n`);
    this.lines++;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
