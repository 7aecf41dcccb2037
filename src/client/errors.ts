/**
 * Errors the client SDK throws: all are `ClientError`s, and so `ServelabError`s with a stable `code`.
 */
import { ServelabError, type ServelabErrorCode, type ServelabErrorOptions } from "../core/errors.js";

/** Base class of every error the client throws. */
export class ClientError extends ServelabError {
  /** The API base URL the client talked to. */
  readonly url: string;
  constructor(code: ServelabErrorCode, message: string, url: string, options: ServelabErrorOptions = {}) {
    super(code, message, options);
    this.url = url;
  }
}

/** No connection could be made (refused, reset, DNS), or it broke before a response arrived. */
export class ClientConnectionError extends ClientError {
  /** The system error code when there is one (`ECONNREFUSED`, `ECONNRESET`, …). */
  readonly syscallCode: string | undefined;
  constructor(url: string, syscallCode: string | undefined, options: ServelabErrorOptions = {}) {
    super(
      "UPSTREAM_FAILED",
      syscallCode === "ECONNREFUSED"
        ? `cannot connect to ${url} (connection refused): is the server running? Check --url`
        : `connection to ${url} failed${syscallCode === undefined ? "" : ` (${syscallCode})`}`,
      url,
      options,
    );
    this.syscallCode = syscallCode;
  }
}

/** The request took longer than the client's timeout. */
export class ClientTimeoutError extends ClientError {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, options: ServelabErrorOptions = {}) {
    super("TIMEOUT", `request to ${url} timed out after ${timeoutMs} ms (raise timeoutMs)`, url, options);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller aborted the request (AbortSignal). */
export class ClientAbortedError extends ClientError {
  constructor(url: string, options: ServelabErrorOptions = {}) {
    super("ABORTED", `request to ${url} was aborted`, url, options);
  }
}

/** Error codes for HTTP statuses. */
function codeForStatus(status: number): ServelabErrorCode {
  if (status === 401 || status === 403) return "UNAUTHORIZED";
  if (status === 404) return "NOT_FOUND";
  if (status === 429) return "QUEUE_FULL";
  if (status === 408 || status === 504) return "TIMEOUT";
  if (status >= 400 && status < 500) return "INVALID_REQUEST";
  return "UPSTREAM_FAILED";
}

/** The server answered with an HTTP error status; `body` is its error body as sent. */
export class ClientHttpError extends ClientError {
  readonly status: number;
  /** The parsed JSON error body (OpenAI's `{error: {...}}` content) or the raw text. */
  readonly body: unknown;
  /** `error.type` and `error.code` from an OpenAI-shaped body, when present. */
  readonly errorType: string | undefined;
  readonly errorCode: string | undefined;
  constructor(
    url: string,
    status: number,
    serverMessage: string | undefined,
    body: unknown,
    details: {
      errorType?: string | undefined;
      errorCode?: string | undefined;
      param?: string | undefined;
    } = {},
    options: ServelabErrorOptions = {},
  ) {
    super(
      codeForStatus(status),
      `${url} answered HTTP ${status}${serverMessage === undefined ? "" : `: ${serverMessage}`}`,
      url,
      { ...options, ...(details.param === undefined ? {} : { param: details.param }) },
    );
    this.status = status;
    this.body = body;
    this.errorType = details.errorType;
    this.errorCode = details.errorCode;
  }
}

/** The response broke the protocol or the server reported an error in the middle of a stream. */
export class ClientStreamError extends ClientError {
  constructor(url: string, message: string, options: ServelabErrorOptions = {}) {
    super("UPSTREAM_FAILED", `${url}: ${message}`, url, options);
  }
}
