import { describe, expect, it } from "vitest";
import { isSecretName, redactArgv, redactSecretValues } from "../../../src/core/redact.js";

describe("redactArgv", () => {
  it("hides the values of secret flags and of secret NAME=VALUE options, nothing else", () => {
    expect(
      redactArgv([
        "compare",
        "--serve-option",
        "api-key=s3cret",
        "--serve-option=api-key=s3cret",
        "--serve-option",
        "ctx-size=2048",
        "--api-key",
        "s3cret",
        "--api-key=s3cret",
        "--upstream-api-key",
        "s3cret",
        "--api-key-file",
        "/run/key",
        "--model",
        "m.gguf",
      ]),
    ).toEqual([
      "compare",
      "--serve-option",
      "api-key=(redacted)",
      "--serve-option=api-key=(redacted)",
      "--serve-option",
      "ctx-size=2048",
      "--api-key",
      "(redacted)",
      "--api-key=(redacted)",
      "--upstream-api-key",
      "(redacted)",
      "--api-key-file",
      "/run/key",
      "--model",
      "m.gguf",
    ]);
  });

  it("knows secret names and scrubs given values from any text", () => {
    expect(["api-key", "--upstream-api-key", "OPENAI_API_KEY", "token", "password"].every(isSecretName)).toBe(
      true,
    );
    expect(["api-key-file", "ctx-size", "model", "tokens"].some(isSecretName)).toBe(false);
    expect(redactSecretValues("curl -H 'Bearer abc123' x abc123", ["abc123", ""])).toBe(
      "curl -H 'Bearer (redacted)' x (redacted)",
    );
  });
});
