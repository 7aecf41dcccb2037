/** Small HTTP helpers for the reliability tests: raw requests, OpenAI error checks, /metrics gauges. */
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from "node:http";
import { expect } from "vitest";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request through node:http, so bodies can be any bytes and methods and headers anything. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      // A fresh connection unless told otherwise: a keep-alive socket the server closed after an
      // error (413 closes it) must not be reused by the next case.
      { method: options.method ?? "POST", headers: options.headers ?? {}, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Asserts `text` is OpenAI's error body: exactly message, type, param, code, with sane types. */
export function expectOpenAiErrorBody(text: string): {
  message: string;
  type: string;
  param: unknown;
  code: unknown;
} {
  const body = JSON.parse(text) as { error?: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(["error"]);
  const error = body.error!;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(typeof error.message).toBe("string");
  expect((error.message as string).length).toBeGreaterThan(0);
  expect(typeof error.type).toBe("string");
  expect(error.param === null || typeof error.param === "string").toBe(true);
  expect(error.code === null || typeof error.code === "string").toBe(true);
  return error as { message: string; type: string; param: unknown; code: unknown };
}

/** The value of a series in Prometheus text, e.g. `servelab_requests_running` or `x{reason="abort"}`. */
export function metricValue(text: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** The data payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .map((e) => e.trim())
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice("data: ".length));
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
