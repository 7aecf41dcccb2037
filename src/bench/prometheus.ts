/** The server's Prometheus /metrics, read before and after a run (parsing lives in core/prometheus). */
import { parsePrometheusText } from "../core/prometheus.js";

/** Metric samples by `name{labels}`. */
export type MetricSamples = Record<string, number>;

/** Prefixes worth keeping: vLLM, llama-server, SGLang, servelab and the scripted test server. */
const interesting = /^(vllm:|llamacpp:|sglang:|servelab|scripted_)/u;

/** Keep inference-server samples (at most `limit`), keyed `name{label="value",...}`. */
export function selectServerMetrics(text: string, limit = 500): MetricSamples {
  const out: MetricSamples = {};
  let n = 0;
  for (const sample of parsePrometheusText(text)) {
    if (!interesting.test(sample.name)) continue;
    const labels = Object.entries(sample.labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",");
    out[labels === "" ? sample.name : `${sample.name}{${labels}}`] = sample.value;
    if (++n >= limit) break;
  }
  return out;
}
