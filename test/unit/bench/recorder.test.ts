import { describe, expect, it } from "vitest";
import { RunRecorder, createRequestRecord, meetsSlo } from "../../../src/bench/recorder.js";
import type { RecordContext } from "../../../src/bench/recorder.js";
import type { RequestTiming } from "../../../src/bench/types.js";

/** A request meant for `intended`, sent at `start`, first token `ttft` later, then `tokens - 1` more `itl` apart. */
function timing(o: {
  intended: number;
  start: number;
  ttft?: number;
  itl?: number;
  tokens?: number;
  reasoning?: number;
  failed?: boolean;
}): RequestTiming {
  const tokens = o.tokens ?? 5;
  const itl = o.itl ?? 10;
  const first = o.start + (o.ttft ?? 50);
  const last = first + (tokens - 1) * itl;
  const t: RequestTiming = {
    intendedAt: o.intended,
    startAt: o.start,
    firstTokenAt: o.failed === true ? undefined : first,
    firstContentAt: o.failed === true ? undefined : first + (o.reasoning ?? 0) * itl,
    lastTokenAt: o.failed === true ? undefined : last,
    endAt: o.failed === true ? o.start + 5 : last + 1,
    countedTokens: o.failed === true ? 0 : tokens,
    reasoningTokens: o.reasoning ?? 0,
    reportedCompletionTokens: o.failed === true ? undefined : tokens,
    reportedPromptTokens: o.failed === true ? undefined : 20,
    finishReason: o.failed === true ? undefined : "length",
    method: "usage",
    chunks: tokens,
    itl: o.failed === true ? [] : Array.from({ length: tokens - 1 }, () => itl),
    error: undefined,
  };
  if (o.failed === true) t.error = { kind: "http", status: 503, message: "HTTP 503: busy", midStream: false };
  return t;
}

const ctx = (over: Partial<RecordContext> = {}): RecordContext => ({
  index: 0,
  level: "rate=10",
  run: 1,
  warmup: false,
  runStart: 1000,
  maxTokens: 5,
  ignoreEos: false,
  expectedInputTokens: undefined,
  keepChunks: false,
  ...over,
});

describe("createRequestRecord", () => {
  it("times from the run start; queue = actual - intended send time; TTFT, TTFO, TPOT, ITL, e2e", () => {
    const r = createRequestRecord(
      timing({ intended: 1100, start: 1130, ttft: 50, itl: 10, tokens: 5, reasoning: 2 }),
      ctx(),
    );
    expect(r).toMatchObject({
      intendedMs: 100,
      sentMs: 130,
      queueMs: 30,
      ttftMs: 50,
      ttfoMs: 70,
      ttftFromIntendedMs: 80,
      e2eMs: 91,
      e2eFromIntendedMs: 121,
      tpotMs: 10,
      itlMeanMs: 10,
      itlMaxMs: 10,
      outputTokens: 5,
      reasoningTokens: 2,
      inputTokens: 20,
      maxTokens: 5,
      ok: true,
      error: null,
      finishReason: "length",
      ignoreEosIgnored: false,
    });
  });

  it("marks ignore_eos as ignored when asked for and the server stopped early", () => {
    const t = { ...timing({ intended: 0, start: 0, tokens: 3 }), finishReason: "stop" };
    expect(createRequestRecord(t, ctx({ ignoreEos: true })).ignoreEosIgnored).toBe(true);
    expect(createRequestRecord(t, ctx({ ignoreEos: false })).ignoreEosIgnored).toBe(false);
  });

  it("keeps the error of a failed request and has no latencies for it", () => {
    const r = createRequestRecord(timing({ intended: 1000, start: 1000, failed: true }), ctx());
    expect(r).toMatchObject({ ok: false, ttftMs: null, ttfoMs: null, tpotMs: null, itlMeanMs: null });
    expect(r.error).toEqual({ kind: "http", status: 503, message: "HTTP 503: busy", midStream: false });
  });
});

describe("meetsSlo", () => {
  const record = createRequestRecord(timing({ intended: 1000, start: 1040, ttft: 50, itl: 10 }), ctx());
  it("counts TTFT and e2e from the intended send time (client queueing counts)", () => {
    expect(meetsSlo(record, { ttftMs: 60 })).toBe(false); // 50 measured, 90 from intended
    expect(meetsSlo(record, { ttftMs: 90 })).toBe(true);
    expect(meetsSlo(record, { e2eMs: 130 })).toBe(false);
    expect(meetsSlo(record, { e2eMs: 131 })).toBe(true);
    expect(meetsSlo(record, { itlMs: 9, tpotMs: 100 })).toBe(false);
    expect(meetsSlo(record, { itlMs: 10, tpotMs: 10, ttfoMs: 90 })).toBe(true);
  });
  it("never counts a failed request", () => {
    expect(meetsSlo(createRequestRecord(timing({ intended: 0, start: 0, failed: true }), ctx()), {})).toBe(
      false,
    );
  });
});

describe("RunRecorder", () => {
  it("goodput: requests meeting the SLO per second and as a fraction, errors counting against", () => {
    const rec = new RunRecorder(2, { ttftMs: 100 });
    const add = (t: RequestTiming) => rec.add(createRequestRecord(t, ctx()), t);
    // 10 requests over 1 s: 6 fast, 2 slow (TTFT 200 ms), 2 failed.
    for (let i = 0; i < 6; i++) add(timing({ intended: 1000 + i * 100, start: 1000 + i * 100, ttft: 20 }));
    for (let i = 6; i < 8; i++)
      add(timing({ intended: 1000 + i * 100, start: 1000 + i * 100, ttft: 200, itl: 1 }));
    add(timing({ intended: 1800, start: 1800, failed: true }));
    add(timing({ intended: 1900, start: 1900, failed: true }));
    const s = rec.summarize();
    expect(s).toMatchObject({ run: 2, requests: 10, completed: 8, failed: 2, errorsByKind: { http: 2 } });
    expect(s.goodputFraction).toBe(0.6);
    // From the first send (1000) to the last end (slow request at 1700: 1700 + 200 + 4 + 1).
    expect(s.durationS).toBeCloseTo(0.905, 9);
    expect(s.goodputPerSecond).toBeCloseTo(6 / 0.905, 9);
    expect(s.requestsPerSecond).toBeCloseTo(8 / 0.905, 9);
    expect(s.requestsPerMinute).toBeCloseTo((8 / 0.905) * 60, 9);
    expect(s.outputTokensPerSecond).toBeCloseTo(40 / 0.905, 9);
    expect(s.totalTokensPerSecond).toBeCloseTo((40 + 8 * 20) / 0.905, 9);
    // Latency distributions cover completed requests only.
    expect(s.ttft.count).toBe(8);
    expect(s.ttft.max).toBe(200);
    expect(s.itl.count).toBe(8 * 4);
    expect(s.queue.count).toBe(10);
    expect(s.tokenCountMethods).toEqual({ usage: 8 });
  });

  it("has no goodput without an SLO, and records queue time from intended send times", () => {
    const rec = new RunRecorder(1, undefined);
    for (const [intended, start] of [
      [0, 0],
      [10, 25],
      [20, 60],
    ] as const) {
      const t = timing({ intended, start });
      rec.add(createRequestRecord(t, ctx({ runStart: 0 })), t);
    }
    const s = rec.summarize();
    expect(s.goodputPerSecond).toBeNull();
    expect(s.goodputFraction).toBeNull();
    expect(s.queue).toMatchObject({ count: 3, min: 0, max: 40, mean: 55 / 3 });
    expect(s.ttftFromIntended.max).toBe(90);
  });
});
