import { InvalidArgumentError } from "../../core/errors.js";

export interface UpstreamUrl {
  /** `http://host:port` */
  origin: string;
  /** The API path, e.g. `/v1` (no trailing slash). */
  basePath: string;
  /** The server root path for /health, /tokenize, /metrics, /props (the base path without `/v1`). */
  rootPath: string;
  /** The normalized base URL, for messages and info(). */
  href: string;
}

/** Parses an OpenAI-compatible base URL; a URL with no path gets `/v1`. */
export function parseUpstreamUrl(baseUrl: string): UpstreamUrl {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidArgumentError(`upstream URL must be like http://127.0.0.1:8000/v1, got '${baseUrl}'`, {
      param: "baseUrl",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`upstream URL must start with http:// or https://, got '${baseUrl}'`, {
      param: "baseUrl",
    });
  }
  let basePath = url.pathname.replace(/\/+$/, "");
  if (basePath === "") basePath = "/v1";
  const rootPath = basePath.endsWith("/v1") ? basePath.slice(0, -3) : basePath;
  return { origin: url.origin, basePath, rootPath, href: `${url.origin}${basePath}` };
}
