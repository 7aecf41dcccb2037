import { DisposedError } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { ContextLengthExceededError, EngineError } from "../../../src/core/errors.js";
import { isFatalNativeError } from "../../../src/engines/llama-cpp.js";

describe("isFatalNativeError", () => {
  it.each([
    ["node-llama-cpp's DisposedError", new DisposedError()],
    ["the addon's disposed context", new Error("Context is disposed")],
    ["the addon's disposed model", new Error("Model is disposed")],
    ["a failed llama_decode", new Error("Eval has failed")],
    ["an exception out of llama_decode", new Error('Unknown error when calling "llama_decode"')],
    [
      "an allocation failure",
      new Error("ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer"),
    ],
    ["memory exhausted", new Error("CUDA error: out of memory")],
    ["a failed ggml assertion", new Error("GGML_ASSERT(n_tokens_all <= cparams.n_batch) failed")],
  ])("fails the engine on %s", (_what, err) => {
    expect(isFatalNativeError(err)).toBe(true);
  });

  it.each([
    [
      "a batch with no KV slot",
      new Error(
        "could not find a KV slot for the batch (try reducing the size of the batch or increase the context)",
      ),
    ],
    ["a token that could not be sampled", new Error("Failed to sample next token")],
    ["a prompt too long (the request's error)", new ContextLengthExceededError(600, 512)],
    ["a servelab error, whatever its message", new EngineError("the engine is restarting: is disposed")],
    ["something unrecognised", new Error("something odd")],
    ["a thrown string", "boom"],
  ])("does not fail the engine on %s", (_what, err) => {
    expect(isFatalNativeError(err)).toBe(false);
  });
});
