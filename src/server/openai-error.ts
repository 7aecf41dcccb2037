/**
 * The one place errors become HTTP responses: OpenAI's `{"error": {message, type, param, code}}`
 * with the right status, whatever was thrown (a ServelabError, a Fastify error, anything else).
 */
import { EngineFailedError, ServelabError, QueueFullError, errorMessage } from "../core/errors.js";

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface HttpError {
  status: number;
  body: OpenAiErrorBody;
  headers: Record<string, string>;
}

const statusByCode: Partial<Record<ServelabError["code"], [number, string]>> = {
  INVALID_ARGUMENT: [400, "invalid_request_error"],
  INVALID_REQUEST: [400, "invalid_request_error"],
  CONTEXT_LENGTH_EXCEEDED: [400, "invalid_request_error"],
  MODEL_NOT_FOUND: [404, "invalid_request_error"],
  NOT_FOUND: [404, "invalid_request_error"],
  UNAUTHORIZED: [401, "authentication_error"],
  QUEUE_FULL: [429, "rate_limit_error"],
  TIMEOUT: [504, "timeout_error"],
  ABORTED: [499, "request_aborted"],
  ENGINE_FAILED: [503, "server_error"],
  MODEL_LOAD_FAILED: [503, "server_error"],
  UPSTREAM_FAILED: [502, "upstream_error"],
};

const codeNames: Partial<Record<ServelabError["code"], string>> = {
  CONTEXT_LENGTH_EXCEEDED: "context_length_exceeded",
  MODEL_NOT_FOUND: "model_not_found",
  UNAUTHORIZED: "invalid_api_key",
  QUEUE_FULL: "queue_full",
  TIMEOUT: "request_timeout",
  INVALID_REQUEST: "invalid_value",
  NOT_FOUND: "not_found",
};

export function openAiError(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): OpenAiErrorBody {
  return { error: { message, type, param, code } };
}

/** Maps anything thrown in a handler to a status and an OpenAI-shaped body. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof ServelabError) {
    const [status, type] = statusByCode[err.code] ?? [500, "server_error"];
    const upstreamStatus = (err as { status?: unknown }).status;
    const headers: Record<string, string> = {};
    if (err instanceof QueueFullError) headers["retry-after"] = String(err.retryAfterSeconds);
    return {
      status: err.code === "UPSTREAM_FAILED" && typeof upstreamStatus === "number" ? upstreamStatus : status,
      body: openAiError(
        status,
        err.message,
        type,
        err.param ?? null,
        err instanceof EngineFailedError ? "engine_failed" : (codeNames[err.code] ?? null),
      ),
      headers,
    };
  }
  // Fastify's own errors: bad JSON, body too large, unsupported media type, ...
  const fastifyCode = (err as { code?: unknown }).code;
  const statusCode = (err as { statusCode?: unknown }).statusCode;
  if (typeof fastifyCode === "string" && fastifyCode.startsWith("FST_")) {
    const status = typeof statusCode === "number" ? statusCode : 400;
    const message =
      fastifyCode === "FST_ERR_CTP_INVALID_JSON_BODY" || fastifyCode === "FST_ERR_CTP_EMPTY_JSON_BODY"
        ? `the request body is not valid JSON: ${errorMessage(err)}`
        : fastifyCode === "FST_ERR_CTP_BODY_TOO_LARGE"
          ? `the request body is too large: ${errorMessage(err)}`
          : errorMessage(err);
    return { status, body: openAiError(status, message, "invalid_request_error"), headers: {} };
  }
  if (err instanceof SyntaxError)
    return {
      status: 400,
      body: openAiError(400, `the request body is not valid JSON: ${err.message}`, "invalid_request_error"),
      headers: {},
    };
  if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500)
    return {
      status: statusCode,
      body: openAiError(statusCode, errorMessage(err), "invalid_request_error"),
      headers: {},
    };
  return {
    status: 500,
    body: openAiError(500, `internal error: ${errorMessage(err)}`, "server_error"),
    headers: {},
  };
}
