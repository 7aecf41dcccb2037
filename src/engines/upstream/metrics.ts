/** Reading an upstream server's Prometheus `/metrics` into the few numbers bench and compare use. */

import { request } from "undici";
import { followSignals } from "../../core/abort.js";
import { UpstreamError } from "../../core/errors.js";
import { parsePrometheusText, sumSamples } from "../../core/prometheus.js";
import type { PrometheusSample } from "../../core/prometheus.js";
import { mapUpstreamNetworkError } from "./errors.js";
import { parseUpstreamUrl } from "./url.js";

export type UpstreamFlavor = "vllm" | "llama.cpp" | "unknown";

export interface UpstreamMetrics {
  /** Which server's metric names were found. */
  flavor: UpstreamFlavor;
  /** KV-cache use in [0, 1] (vLLM `kv_cache_usage_perc` / `gpu_cache_usage_perc`, llama.cpp
   * `kv_cache_usage_ratio`); averaged over data-parallel engines. */
  kvCacheUsage: number | undefined;
  /** Requests generating now (vLLM `num_requests_running`, llama.cpp `requests_processing`). */
  running: number | undefined;
  /** Requests queued (vLLM `num_requests_waiting`, llama.cpp `requests_deferred`). */
  waiting: number | undefined;
  /** Every sample, for anything else. */
  samples: PrometheusSample[];
  /** Date.now() when the scrape completed. */
  time: number;
}

export interface ScrapeMetricsOptions {
  signal?: AbortSignal;
  /** Default 5000. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

function average(samples: readonly PrometheusSample[], name: string): number | undefined {
  let sum = 0;
  let count = 0;
  for (const s of samples) {
    if (s.name === name) {
      sum += s.value;
      count++;
    }
  }
  return count === 0 ? undefined : sum / count;
}

/** Interprets parsed samples from vLLM or llama-server. */
export function readUpstreamMetrics(samples: PrometheusSample[], time = Date.now()): UpstreamMetrics {
  if (samples.some((s) => s.name.startsWith("vllm:"))) {
    return {
      flavor: "vllm",
      kvCacheUsage:
        average(samples, "vllm:kv_cache_usage_perc") ?? average(samples, "vllm:gpu_cache_usage_perc"),
      running: sumSamples(samples, "vllm:num_requests_running"),
      waiting: sumSamples(samples, "vllm:num_requests_waiting"),
      samples,
      time,
    };
  }
  if (samples.some((s) => s.name.startsWith("llamacpp:"))) {
    return {
      flavor: "llama.cpp",
      kvCacheUsage: average(samples, "llamacpp:kv_cache_usage_ratio"),
      running: sumSamples(samples, "llamacpp:requests_processing"),
      waiting: sumSamples(samples, "llamacpp:requests_deferred"),
      samples,
      time,
    };
  }
  return {
    flavor: "unknown",
    kvCacheUsage: undefined,
    running: undefined,
    waiting: undefined,
    samples,
    time,
  };
}

/**
 * Scrapes `/metrics` at the root of an OpenAI-compatible server (`baseUrl` like
 * `http://127.0.0.1:8000/v1`). llama-server needs `--metrics` for it.
 */
export async function scrapeMetrics(
  baseUrl: string,
  options: ScrapeMetricsOptions = {},
): Promise<UpstreamMetrics> {
  const url = parseUpstreamUrl(baseUrl);
  const target = `${url.origin}${url.rootPath}/metrics`;
  // not AbortSignal.any with the run's long-lived signal: one kept signal a scrape (src/core/abort.ts)
  const followed = followSignals([options.signal], options.timeoutMs ?? 5000);
  let response;
  let text;
  try {
    try {
      response = await request(target, {
        method: "GET",
        headers: options.headers ?? {},
        signal: followed.signal,
      });
    } catch (err) {
      throw mapUpstreamNetworkError(err, target, "scraping");
    }
    text = await response.body.text();
  } finally {
    followed.dispose();
  }
  if (response.statusCode !== 200) {
    const hint =
      response.statusCode === 501 || response.statusCode === 404 ? " (llama-server needs --metrics)" : "";
    throw new UpstreamError(
      `scraping ${target} answered ${response.statusCode}${hint}: ${text.slice(0, 200)}`,
      response.statusCode,
      target,
    );
  }
  return readUpstreamMetrics(parsePrometheusText(text));
}
