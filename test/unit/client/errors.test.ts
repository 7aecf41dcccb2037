import { describe, expect, it } from "vitest";
import {
  ClientConnectionError,
  ClientError,
  ClientHttpError,
  ClientTimeoutError,
  createClient,
} from "../../../src/client/index.js";
import { InvalidArgumentError, ServelabError, exitCodeFor } from "../../../src/core/errors.js";

describe("client errors", () => {
  it("map HTTP statuses to stable codes", () => {
    const code = (status: number) => new ClientHttpError("http://h/v1", status, "m", {}).code;
    expect(code(401)).toBe("UNAUTHORIZED");
    expect(code(404)).toBe("NOT_FOUND");
    expect(code(429)).toBe("QUEUE_FULL");
    expect(code(400)).toBe("INVALID_REQUEST");
    expect(code(504)).toBe("TIMEOUT");
    expect(code(500)).toBe("UPSTREAM_FAILED");
  });
  it("are ServelabErrors with one-line messages the CLI can map to exit codes", () => {
    const errors = [
      new ClientConnectionError("http://127.0.0.1:1/v1", "ECONNREFUSED"),
      new ClientTimeoutError("http://127.0.0.1:1/v1", 50),
      new ClientHttpError("http://127.0.0.1:1/v1", 400, "bad", { message: "bad" }),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(ClientError);
      expect(error).toBeInstanceOf(ServelabError);
      expect(error.message).not.toContain("\n");
      expect(exitCodeFor[error.code]).toBeGreaterThan(0);
      expect(error.name).toBe(error.constructor.name);
    }
    expect(errors[0]?.message).toContain("--url");
  });
});

describe("createClient options", () => {
  it("rejects a malformed URL and bad numbers with InvalidArgumentError", () => {
    expect(() => createClient({ baseURL: "not a url" })).toThrow(InvalidArgumentError);
    expect(() => createClient({ maxRetries: -1 })).toThrow(/maxRetries/);
    expect(() => createClient({ timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });
  it("defaults to a local servelab server and strips a trailing slash", () => {
    expect(createClient().baseURL).toBe("http://127.0.0.1:8000/v1");
    expect(createClient({ baseURL: "http://127.0.0.1:9/v1/" }).baseURL).toBe("http://127.0.0.1:9/v1");
  });
});
