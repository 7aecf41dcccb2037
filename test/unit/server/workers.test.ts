import { describe, expect, it } from "vitest";
import { parsePrometheusDocument } from "../../../src/core/prometheus.js";
import { ServerMetrics } from "../../../src/server/metrics.js";
import { mergeMetricsText } from "../../../src/server/workers.js";

/** A server's metrics after `requests` chat requests of `tokens` tokens, `running` of them still going. */
function workerMetrics(requests: number, tokens: number, running: number, up = 1): string {
  const m = new ServerMetrics({ running: () => running, waiting: () => 0, engineUp: () => up });
  for (let i = 0; i < requests; i++) {
    m.countRequest("/v1/chat/completions", 200);
    m.countFinish("stop");
    m.countTokens(10, tokens, 0);
    m.ttft.observe(0.02 * (i + 1));
  }
  return m.render();
}

const value = (text: string, name: string, labels: Record<string, string> = {}) =>
  parsePrometheusDocument(text).samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;

describe("mergeMetricsText (serve --workers: /metrics over every worker)", () => {
  it("adds counters, histograms and the running gauge sample by sample", () => {
    const merged = mergeMetricsText([workerMetrics(3, 5, 1), workerMetrics(2, 7, 2)]);
    expect(value(merged, "servelab_requests_total", { route: "/v1/chat/completions", status: "200" })).toBe(
      5,
    );
    expect(value(merged, "servelab_finished_total", { reason: "stop" })).toBe(5);
    expect(value(merged, "servelab_generation_tokens_total")).toBe(3 * 5 + 2 * 7);
    expect(value(merged, "servelab_prompt_tokens_total")).toBe(50);
    expect(value(merged, "servelab_requests_running")).toBe(3);
    // TTFTs of 20, 40 and 60 ms, and of 20 and 40 ms: four within 50 ms, all five within 75 ms.
    expect(value(merged, "servelab_time_to_first_token_seconds_bucket", { le: "0.05" })).toBe(4);
    expect(value(merged, "servelab_time_to_first_token_seconds_bucket", { le: "0.075" })).toBe(5);
    expect(value(merged, "servelab_time_to_first_token_seconds_count")).toBe(5);
    expect(value(merged, "servelab_time_to_first_token_seconds_sum")).toBeCloseTo(0.18, 10);
  });

  it("keeps one exposition's shape: each family's HELP and TYPE once, in order, before its samples", () => {
    const one = workerMetrics(1, 1, 0);
    const merged = mergeMetricsText([one, workerMetrics(1, 1, 0), workerMetrics(1, 1, 0)]);
    const lines = (text: string) => text.split("\n").map((l) => l.replace(/ [^ ]+$/, ""));
    // The same lines as one worker's, values aside.
    expect(lines(merged)).toEqual(lines(one));
    const doc = parsePrometheusDocument(merged);
    expect(doc.families.get("servelab_requests_total")?.type).toBe("counter");
    expect(doc.families.get("servelab_time_to_first_token_seconds")?.type).toBe("histogram");
  });

  it("takes a series only one worker has, under its family", () => {
    const a = new ServerMetrics({ running: () => 0, waiting: () => 0 });
    const b = new ServerMetrics({ running: () => 0, waiting: () => 0 });
    a.countFinish("stop");
    b.countFinish("length");
    b.countFinish("length");
    const merged = mergeMetricsText([a.render(), b.render()]);
    expect(value(merged, "servelab_finished_total", { reason: "stop" })).toBe(1);
    expect(value(merged, "servelab_finished_total", { reason: "length" })).toBe(2);
    const family = merged.split("\n");
    const at = family.indexOf("# TYPE servelab_finished_total counter");
    expect(family.slice(at + 1, at + 3).sort()).toEqual([
      'servelab_finished_total{reason="length"} 2',
      'servelab_finished_total{reason="stop"} 1',
    ]);
  });

  it("says the engine is up only when every worker's is", () => {
    expect(
      value(mergeMetricsText([workerMetrics(0, 0, 0, 1), workerMetrics(0, 0, 0, 1)]), "servelab_engine_up"),
    ).toBe(1);
    expect(
      value(mergeMetricsText([workerMetrics(0, 0, 0, 1), workerMetrics(0, 0, 0, 0)]), "servelab_engine_up"),
    ).toBe(0);
  });

  it("is one worker's text unchanged when there is one, and empty for none", () => {
    const one = workerMetrics(2, 3, 1);
    expect(mergeMetricsText([one])).toBe(one);
    expect(mergeMetricsText([])).toBe("");
  });
});
