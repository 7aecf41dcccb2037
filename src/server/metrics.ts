/**
 * Prometheus metrics for the server, in the text exposition format (no dependency: a handful of
 * counters, gauges and histograms).
 */

const latencyBucketsSeconds = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 20, 40, 80,
];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) this.counts[i]!++;
  }
  render(name: string, help: string): string {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    for (let i = 0; i < this.buckets.length; i++)
      out += `${name}_bucket{le="${this.buckets[i]}"} ${this.counts[i]}\n`;
    out += `${name}_bucket{le="+Inf"} ${this.count}\n${name}_sum ${this.sum}\n${name}_count ${this.count}\n`;
    return out;
  }
}

export interface GaugeSource {
  running(): number;
  waiting(): number;
  /** 1 while the engine serves, else 0. */
  engineUp?(): number;
}

export class ServerMetrics {
  readonly #requests = new Map<string, number>();
  readonly #finish = new Map<string, number>();
  #promptTokens = 0;
  #generatedTokens = 0;
  #cachedPromptTokens = 0;
  #engineFailures = 0;
  readonly #engineRestarts = { ok: 0, failed: 0 };
  readonly ttft = new Histogram(latencyBucketsSeconds);
  readonly itl = new Histogram(latencyBucketsSeconds);
  readonly e2e = new Histogram(latencyBucketsSeconds);

  constructor(readonly gauges: GaugeSource) {}

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  countFinish(reason: string): void {
    this.#finish.set(reason, (this.#finish.get(reason) ?? 0) + 1);
  }

  countTokens(prompt: number, generated: number, cached: number): void {
    this.#promptTokens += prompt;
    this.#generatedTokens += generated;
    this.#cachedPromptTokens += cached;
  }

  /** The engine failed while serving. */
  countEngineFailure(): void {
    this.#engineFailures++;
  }

  /** A restart of a failed engine ended, well or not. */
  countEngineRestart(ok: boolean): void {
    this.#engineRestarts[ok ? "ok" : "failed"]++;
  }

  /** Requests that finished with `reason` so far (tests and the repetition counter use it). */
  finished(reason: string): number {
    return this.#finish.get(reason) ?? 0;
  }

  render(): string {
    let out =
      "# HELP servelab_requests_total HTTP requests by route and status.\n# TYPE servelab_requests_total counter\n";
    for (const [labels, value] of this.#requests) out += `servelab_requests_total{${labels}} ${value}\n`;
    out +=
      "# HELP servelab_finished_total Generations by finish reason (repetition = stopped by the repetition guard).\n";
    out += "# TYPE servelab_finished_total counter\n";
    for (const [reason, value] of this.#finish)
      out += `servelab_finished_total{reason="${reason}"} ${value}\n`;
    out += "# HELP servelab_repetition_stops_total Generations stopped by the repetition guard.\n";
    out += "# TYPE servelab_repetition_stops_total counter\n";
    out += `servelab_repetition_stops_total ${this.finished("repetition")}\n`;
    out += `# HELP servelab_prompt_tokens_total Prompt tokens processed.\n# TYPE servelab_prompt_tokens_total counter\nservelab_prompt_tokens_total ${this.#promptTokens}\n`;
    out += `# HELP servelab_prompt_tokens_cached_total Prompt tokens served from the prompt cache.\n# TYPE servelab_prompt_tokens_cached_total counter\nservelab_prompt_tokens_cached_total ${this.#cachedPromptTokens}\n`;
    out += `# HELP servelab_generation_tokens_total Tokens generated.\n# TYPE servelab_generation_tokens_total counter\nservelab_generation_tokens_total ${this.#generatedTokens}\n`;
    out += this.ttft.render(
      "servelab_time_to_first_token_seconds",
      "Time from request to the first generated token.",
    );
    out += this.itl.render("servelab_inter_token_latency_seconds", "Time between generated tokens.");
    out += this.e2e.render("servelab_request_duration_seconds", "Time from request to the last token.");
    out += `# HELP servelab_requests_running Requests generating now.\n# TYPE servelab_requests_running gauge\nservelab_requests_running ${this.gauges.running()}\n`;
    out += `# HELP servelab_requests_waiting Requests waiting for a sequence.\n# TYPE servelab_requests_waiting gauge\nservelab_requests_waiting ${this.gauges.waiting()}\n`;
    if (this.gauges.engineUp !== undefined)
      out += `# HELP servelab_engine_up 1 while the engine serves, 0 while it loads, restarts or has failed.\n# TYPE servelab_engine_up gauge\nservelab_engine_up ${this.gauges.engineUp()}\n`;
    out += `# HELP servelab_engine_failures_total Engine failures while serving.\n# TYPE servelab_engine_failures_total counter\nservelab_engine_failures_total ${this.#engineFailures}\n`;
    out += "# HELP servelab_engine_restarts_total Restarts of a failed engine, by result.\n";
    out += "# TYPE servelab_engine_restarts_total counter\n";
    out += `servelab_engine_restarts_total{result="ok"} ${this.#engineRestarts.ok}\n`;
    out += `servelab_engine_restarts_total{result="failed"} ${this.#engineRestarts.failed}\n`;
    return out;
  }
}
