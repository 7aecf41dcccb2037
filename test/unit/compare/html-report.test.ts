import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderComparison } from "../../../src/compare/report.js";
import type { ComparisonResult, ConfigurationResult } from "../../../src/compare/types.js";
import { computeBoxStats } from "../../../src/report/charts/box-plot.js";
import { createLinearScale, createLog2Scale } from "../../../src/report/charts/scale.js";
import {
  comparisonRows,
  escapeHtml,
  findReferenceIndex,
  formatChange,
  formatMetricValue,
  renderHtmlReport,
} from "../../../src/report/html.js";
import { notMeaningfulFootnote } from "../../../src/report/html/comparison-rows.js";

const fixture = JSON.parse(
  readFileSync(new URL("../../fixtures/quality/comparison.json", import.meta.url), "utf8"),
) as ComparisonResult;

function clone(): ComparisonResult {
  return structuredClone(fixture);
}

describe("comparisonRows", () => {
  it("gives each metric's values per configuration and the change against the reference", () => {
    const rows = comparisonRows(fixture);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const load = byId.get("load.time");
    expect(load).toMatchObject({
      unit: "ms",
      better: "lower",
      changeUnit: "%",
      values: [2140, 780, undefined],
    });
    expect(load?.change[0]).toBeUndefined();
    expect(load?.change[1]).toBeCloseTo(((780 - 2140) / 2140) * 100, 10);
    expect(load?.improved).toEqual([undefined, true, undefined]);
    const tps = byId.get("throughput.single");
    expect(tps?.better).toBe("higher");
    expect(tps?.improved[1]).toBe(true);
    // accuracy is in percent and changes in percentage points: 72.5 - 75 = -2.5 pp, worse
    const accuracy = byId.get("quality.accuracy");
    expect(accuracy?.values).toEqual([75, 72.5, undefined]);
    expect(accuracy?.changeUnit).toBe("pp");
    expect(accuracy?.change[1]).toBeCloseTo(-2.5, 10);
    expect(accuracy?.improved[1]).toBe(false);
    // agreement rows: no value for the reference, no change
    const same = byId.get("agreement.sameAnswer");
    expect(same?.values).toEqual([undefined, 87.5, undefined]);
    expect(same?.change).toEqual([undefined, undefined, undefined]);
    // a row nobody measured is left out
    expect(byId.has("agreement.embedding")).toBe(false);
    expect(byId.get("throughput.maxConcurrency")?.label).toBe("Max concurrency (p95 ITL <= 50 ms)");
    // 0 → 1: no relative change from zero
    expect(byId.get("throughput.maxConcurrency")?.change[1]).toBeUndefined();
    expect(byId.get("ttft.long.p95")?.values[0]).toBe(
      fixture.configurations[0]?.latency?.ttftMs?.long?.summary.p95,
    );
  });

  it("marks quality and agreement of random weights as not meaningful and never as better or worse", () => {
    const plain = comparisonRows(fixture);
    expect(plain.every((row) => row.notMeaningful.every((flag) => !flag))).toBe(true);
    const result = clone();
    (result.configurations[1] as ConfigurationResult).synthetic = true; // an older result: counts as random
    const rows = new Map(comparisonRows(result).map((row) => [row.id, row]));
    expect(rows.get("quality.accuracy")?.notMeaningful).toEqual([false, true, false]);
    expect(rows.get("quality.accuracy")?.improved[1]).toBeUndefined();
    expect(rows.get("quality.accuracy")?.change[1]).toBeCloseTo(-2.5, 10);
    expect(rows.get("agreement.chrf")?.notMeaningful[1]).toBe(true);
    // speed and memory still compare
    expect(rows.get("load.time")?.notMeaningful).toEqual([false, false, false]);
    expect(rows.get("load.time")?.improved[1]).toBe(true);
    // a random reference makes every change of a quality row, and every agreement, meaningless
    const synthRef = clone();
    (synthRef.configurations[0] as ConfigurationResult).synthetic = true;
    (synthRef.configurations[0] as ConfigurationResult).syntheticWeights = "random";
    const byId = new Map(comparisonRows(synthRef).map((row) => [row.id, row]));
    expect(byId.get("quality.accuracy")?.notMeaningful).toEqual([true, true, false]);
    expect(byId.get("agreement.sameAnswer")?.notMeaningful).toEqual([true, true, false]);
    const html = renderHtmlReport(synthRef);
    expect(html).toContain(notMeaningfulFootnote);
    expect(html).not.toMatch(/<tr data-metric="quality\.accuracy">.*class="(better|worse)"/);
    // the numbers themselves are not shown: n/a instead, in every format
    const accuracyRow = /<tr data-metric="quality\.accuracy">.*?<\/tr>/u.exec(html)?.[0] ?? "";
    expect(accuracyRow).toContain('<td class="not-meaningful"');
    expect(accuracyRow).toContain("n/a: random weights");
    expect(accuracyRow).not.toContain("75%");
    expect(accuracyRow).not.toContain("72.5%");
    expect(html).not.toMatch(/<strong>75%<\/strong> correct/u);
    const table = renderComparison(synthRef, "table");
    expect(table).toMatch(/Accuracy ↑\s+n\/a: random weights\s+n\/a: random weights\s+—\s+n\/a/u);
    expect(table).toContain(notMeaningfulFootnote);
    expect(renderComparison(synthRef, "markdown")).toMatch(
      /\| Accuracy ↑ \| n\/a: random weights \| n\/a: random weights \| — \| n\/a \|/u,
    );
    // the raw values stay in the JSON
    expect(JSON.parse(renderComparison(synthRef, "json")).configurations[0].quality.accuracy.value).toBe(
      0.75,
    );
  });

  it("shows a scripted model's figures: its answers are known, so they mean something", () => {
    const result = clone();
    for (const c of result.configurations.slice(0, 2)) {
      c.synthetic = true;
      c.syntheticWeights = "scripted";
    }
    const rows = comparisonRows(result);
    expect(rows.every((row) => row.notMeaningful.every((flag) => !flag))).toBe(true);
    const table = renderComparison(result, "table");
    expect(table).toMatch(/Accuracy ↑\s+75%\s+72\.5%/u);
    expect(table).toContain("note: Scripted synthetic models");
    expect(table).not.toContain("random weights");
    expect(renderComparison(result, "markdown")).toMatch(/\| r1-1\.5b-f32 \| .* \| scripted \| ok \|/u);
    const html = renderHtmlReport(result);
    expect(html).toContain("<strong>75%</strong> correct");
    expect(html).toContain("scripted weights");
  });

  it("keeps GPU memory and resident memory in rows of their own, old results by their kind", () => {
    const result = clone();
    const [gpu, cpu] = result.configurations as [ConfigurationResult, ConfigurationResult];
    gpu.memory = {
      kind: "vram",
      device: "cuda",
      idleBytes: 3e9,
      peakBytes: 4e9,
      vram: { idleBytes: 3e9, peakBytes: 4e9 },
      rss: { idleBytes: 5e8, peakBytes: 6e8 },
    };
    cpu.memory = { kind: "rss", idleBytes: 2e9, peakBytes: 2.5e9 }; // written before rss/vram were kept
    const rows = new Map(comparisonRows(result).map((row) => [row.id, row]));
    expect(rows.get("memory.vram.idle")?.values).toEqual([3e9, undefined, undefined]);
    expect(rows.get("memory.vram.peak")?.values).toEqual([4e9, undefined, undefined]);
    expect(rows.get("memory.rss.idle")?.values).toEqual([5e8, 2e9, undefined]);
    expect(rows.get("memory.rss.peak")?.values).toEqual([6e8, 2.5e9, undefined]);
    expect(rows.get("memory.rss.idle")?.label).toBe("Resident memory (RSS), idle");
    expect(rows.get("memory.vram.idle")?.change[1]).toBeUndefined();
    // a CPU-only run has no GPU rows at all
    expect(comparisonRows(fixture).some((row) => row.id.startsWith("memory.vram"))).toBe(false);
  });

  it("says which unit the first differing position is counted in", () => {
    const words = new Map(comparisonRows(fixture).map((row) => [row.id, row]));
    expect(words.get("agreement.firstDifference")?.label).toBe("First differing word, median");
    expect(renderComparison(fixture, "table")).toContain(
      "First differing position counted in words and punctuation (no model tokenizer was reachable).",
    );
    const result = clone();
    const agreement = result.configurations[1]?.quality?.agreement;
    if (agreement === undefined) throw new Error("the fixture has no agreement");
    agreement.tokenizer = "model tokens (r1-1.5b-f32: r1-f32.gguf)";
    const row = comparisonRows(result).find((r) => r.id === "agreement.firstDifference");
    expect(row?.label).toBe("First differing token, median");
    expect(renderComparison(result, "markdown")).toContain(
      "First differing position counted in model tokens (r1-1.5b-f32: r1-f32.gguf).",
    );
    expect(renderHtmlReport(result)).toContain(
      "First differing position, in model tokens (r1-1.5b-f32: r1-f32.gguf)",
    );
  });

  it("uses the named reference, falling back to the first successful configuration", () => {
    const result = clone();
    result.reference = "r1-1.5b-q8_0";
    expect(findReferenceIndex(result)).toBe(1);
    const load = comparisonRows(result).find((row) => row.id === "load.time");
    expect(load?.change[0]).toBeCloseTo(((2140 - 780) / 780) * 100, 10);
    expect(load?.improved[0]).toBe(false);
    delete result.reference;
    result.configurations.reverse();
    expect(findReferenceIndex(result)).toBe(1);
  });

  it("formats values and changes for every table", () => {
    expect(formatMetricValue(1234.5, "ms")).toBe("1,235 ms");
    expect(formatMetricValue(8.25, "ms")).toBe("8.25 ms");
    expect(formatMetricValue(1.5 * 1024 ** 3, "bytes")).toBe("1.5 GiB");
    expect(formatMetricValue(72.5, "percent")).toBe("72.5%");
    expect(formatMetricValue(undefined, "ms")).toBe("—");
    expect(formatChange(-63.55, "%")).toBe("−63.6%");
    expect(formatChange(2.5, "pp")).toBe("+2.5 pp");
    expect(formatChange(undefined, "%")).toBe("—");
  });
});

describe("renderHtmlReport", () => {
  it("escapes every string from the result", () => {
    const result = clone();
    const evil = `<img src=x onerror="alert(1)">&amp;'`;
    result.command = `servelab compare ${evil}`;
    result.environment.cpu = evil;
    result.environment.gpus = [{ name: evil }];
    const configuration = result.configurations[0] as ConfigurationResult;
    configuration.name = `a${evil}`;
    configuration.model = evil;
    configuration.precision = evil;
    if (configuration.quality)
      configuration.quality.byKind[evil] = { value: 1, low: 0.5, high: 1, successes: 1, n: 1 };
    (result.configurations[2] as ConfigurationResult).error = evil;
    result.reference = `a${evil}`;
    const html = renderHtmlReport(result);
    expect(html).not.toContain("<img");
    expect(html).not.toContain('onerror="');
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;&#39;");
  });

  it("renders a result whose configurations all failed, with each error and no charts data", () => {
    const result = clone();
    result.configurations = [
      {
        name: "x",
        engine: "vllm",
        model: "m",
        precision: "bf16",
        synthetic: false,
        status: "failed",
        error: "boom & bust",
      },
    ];
    const html = renderHtmlReport(result);
    expect(html).toContain("boom &amp; bust");
    expect(html).toContain("No metrics were measured.");
    expect(html.match(/class="no-data"/g)?.length).toBe(6);
  });

  it("escapes helper output for HTML", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});

describe("chart helpers", () => {
  it("makes nice linear ticks that cover the data", () => {
    const scale = createLinearScale(3, 97, 0, 100);
    expect(scale.ticks).toEqual([0, 20, 40, 60, 80, 100]);
    expect(scale.map(0)).toBe(0);
    expect(scale.map(100)).toBe(100);
    expect(createLinearScale(0, 2410, 0, 1).ticks.at(-1)).toBeGreaterThanOrEqual(2410);
    expect(createLinearScale(5, 5, 0, 1).ticks.length).toBeGreaterThan(1);
  });

  it("puts log2 ticks at powers of two", () => {
    const scale = createLog2Scale(1, 16, 0, 400);
    expect(scale.ticks).toEqual([1, 2, 4, 8, 16]);
    expect(scale.map(4)).toBeCloseTo(200, 10);
  });

  it("computes Tukey box statistics with outliers", () => {
    const stats = computeBoxStats([1, 2, 3, 4, 5, 6, 7, 8, 100]);
    expect(stats).toMatchObject({
      q1: 3,
      median: 5,
      q3: 7,
      whiskerLow: 1,
      whiskerHigh: 8,
      outliers: [100],
      n: 9,
    });
    expect(computeBoxStats([])).toBeUndefined();
  });
});
