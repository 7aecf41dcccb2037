import { describe, expect, it } from "vitest";
import {
  findSample,
  parsePrometheusDocument,
  parsePrometheusText,
  sumSamples,
} from "../../../src/core/prometheus.js";

const vllmText = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 12
vllm:e2e_request_latency_seconds_sum{model_name="m"} 1.5e1
http_requests_total{method="post",path="a\\"b\\\\c\\nd"} 1027 1395066363000
weird line without a value
nan_metric NaN
`;

describe("parsePrometheusText", () => {
  it("parses names, labels and values", () => {
    const samples = parsePrometheusText(vllmText);
    expect(samples).toHaveLength(6);
    expect(samples[0]).toEqual({
      name: "vllm:num_requests_running",
      labels: { engine: "0", model_name: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B" },
      value: 3,
    });
    expect(findSample(samples, "vllm:kv_cache_usage_perc")?.value).toBe(0.25);
    expect(findSample(samples, "vllm:e2e_request_latency_seconds_bucket", { le: "+Inf" })?.value).toBe(12);
    expect(findSample(samples, "vllm:e2e_request_latency_seconds_sum")?.value).toBe(15);
  });

  it("unescapes label values and reads timestamps", () => {
    const sample = findSample(parsePrometheusText(vllmText), "http_requests_total");
    expect(sample?.labels["path"]).toBe('a"b\\c\nd');
    expect(sample?.timestamp).toBe(1395066363000);
  });

  it("skips malformed lines and keeps NaN and infinities", () => {
    const samples = parsePrometheusText(vllmText);
    expect(samples.some((s) => s.name === "weird")).toBe(false);
    expect(Number.isNaN(findSample(samples, "nan_metric")?.value)).toBe(true);
    expect(parsePrometheusText("x -Inf\ny +Inf")[0]?.value).toBe(Number.NEGATIVE_INFINITY);
  });

  it("collects TYPE and HELP metadata", () => {
    const { families } = parsePrometheusDocument(vllmText);
    expect(families.get("vllm:num_requests_running")).toEqual({
      type: "gauge",
      help: "Number of requests in model execution batches.",
    });
    expect(families.get("vllm:e2e_request_latency_seconds")?.type).toBe("histogram");
  });

  it("sums a metric across label sets", () => {
    const samples = parsePrometheusText('a{engine="0"} 1\na{engine="1"} 2.5\nb 9');
    expect(sumSamples(samples, "a")).toBe(3.5);
    expect(sumSamples(samples, "missing")).toBeUndefined();
  });
});
