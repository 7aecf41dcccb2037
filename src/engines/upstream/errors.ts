/** Turning an upstream server's HTTP errors into servelab errors. */

import { ContextLengthExceededError, UpstreamError, errorMessage } from "../../core/errors.js";
import type { ServelabError } from "../../core/errors.js";

interface ErrorBody {
  message?: unknown;
  n_prompt_tokens?: unknown;
  n_ctx?: unknown;
}

/** The message (and llama-server's context numbers) of an OpenAI-, vLLM- or llama-server-shaped error body. */
function readErrorBody(text: string): ErrorBody {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown };
    if (typeof parsed.error === "object" && parsed.error !== null) return parsed.error as ErrorBody;
    if (typeof parsed.error === "string") return { message: parsed.error };
    if (typeof parsed.message === "string") return parsed as ErrorBody;
    if (parsed.detail !== undefined)
      return { message: typeof parsed.detail === "string" ? parsed.detail : JSON.stringify(parsed.detail) };
  } catch {
    /* not JSON */
  }
  return { message: text.trim().slice(0, 500) };
}

const num = (pattern: RegExp, text: string): number | undefined => {
  const match = pattern.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
};

/**
 * Maps an upstream error response: context-length errors whose numbers can be read become
 * {@link ContextLengthExceededError}; everything else an {@link UpstreamError} with the upstream status.
 */
export function mapUpstreamHttpError(
  status: number | undefined,
  bodyText: string,
  url: string,
): ServelabError {
  const body = readErrorBody(bodyText);
  const message =
    typeof body.message === "string" && body.message !== "" ? body.message : `HTTP ${status ?? "error"}`;
  if (typeof body.n_prompt_tokens === "number" && typeof body.n_ctx === "number") {
    return new ContextLengthExceededError(body.n_prompt_tokens, body.n_ctx);
  }
  const contextSize = num(/maximum context length is (\d+)/i, message);
  if (contextSize !== undefined) {
    // vLLM: "(4000 in the messages, 1000 in the completion)"; newer vLLM: "your request has 4000 input
    // tokens"; OpenAI: "your messages resulted in 5000 tokens".
    const promptTokens =
      num(/\((\d+) in the messages/i, message) ??
      num(/has (\d+) input tokens/i, message) ??
      num(/resulted in (\d+) tokens/i, message) ??
      num(/prompt (?:has|contains) (\d+) tokens/i, message);
    const maxTokens = num(/(\d+) in the completion/i, message) ?? num(/is too large: (\d+)/i, message);
    if (promptTokens !== undefined)
      return new ContextLengthExceededError(promptTokens, contextSize, maxTokens);
  }
  return new UpstreamError(`upstream ${url} answered ${status ?? "an error"}: ${message}`, status, url);
}

/** Maps a failure to reach the upstream (no response) to an UpstreamError. */
export function mapUpstreamNetworkError(err: unknown, url: string, what: string): UpstreamError {
  const code = (err as { code?: unknown }).code;
  const detail = typeof code === "string" ? `${code}: ${errorMessage(err)}` : errorMessage(err);
  return new UpstreamError(`${what} ${url} failed (${detail})`, undefined, url, { cause: err });
}
