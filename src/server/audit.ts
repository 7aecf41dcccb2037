/**
 * The opt-in audit log: one JSON line per generation request (time, client, model, token counts,
 * latency, and the prompt and answer text only when asked for), with API keys redacted.
 */
import { createWriteStream, type WriteStream } from "node:fs";

export interface AuditEntry {
  time: string;
  client: string;
  route: string;
  status: number;
  model: string | undefined;
  prompt_tokens: number | undefined;
  completion_tokens: number | undefined;
  finish_reason: string | undefined;
  latency_ms: number;
  /** Only with `includeText`. */
  prompt?: unknown;
  /** Only with `includeText`. */
  answer?: { reasoning: string; content: string };
}

export interface AuditLogOptions {
  /** Where each JSON line goes (a file stream, or a test's array). */
  write: (line: string) => void;
  /** Also record the prompt and the answer text. Default false. */
  includeText?: boolean;
  /** Secrets (the server's API keys) replaced by `[REDACTED]` wherever they appear. */
  secrets?: readonly string[];
}

export interface AuditLog {
  record(entry: AuditEntry): void;
}

const redacted = "[REDACTED]";
/** Bearer tokens and OpenAI-style keys that a user may paste into a prompt. */
const keyPatterns = [/\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, /\bsk-[A-Za-z0-9_-]{8,}/g];

/** Replaces the given secrets, Bearer tokens and `sk-...` keys in `text`. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(redacted);
  out = out.replace(keyPatterns[0]!, `$1${redacted}`);
  return out.replace(keyPatterns[1]!, redacted);
}

function redactDeep(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === "string") return redactSecrets(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, secrets)]));
  return value;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const secrets = options.secrets ?? [];
  return {
    record(entry) {
      const { prompt, answer, ...rest } = entry;
      const line: Record<string, unknown> = { ...rest };
      if (options.includeText) {
        if (prompt !== undefined) line.prompt = prompt;
        if (answer !== undefined) line.answer = answer;
      }
      // Every field, not only the text: a key can hide in a model name or a client label too.
      options.write(`${JSON.stringify(redactDeep(line, secrets))}\n`);
    },
  };
}

/** An audit log appending to a file; `close()` flushes it. */
export function createFileAuditLog(
  path: string,
  options: Omit<AuditLogOptions, "write"> = {},
): AuditLog & { close(): Promise<void> } {
  const stream: WriteStream = createWriteStream(path, { flags: "a", mode: 0o600 });
  const log = createAuditLog({ ...options, write: (line) => stream.write(line) });
  return {
    ...log,
    close: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}
