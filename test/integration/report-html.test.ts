import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ComparisonResult } from "../../src/compare/types.js";
import { syntheticQualityNote } from "../../src/compare/quality/runner.js";
import { renderHtmlReport, reportChartIds } from "../../src/report/html.js";
import { notMeaningfulFootnote } from "../../src/report/html/comparison-rows.js";
import { launchReportBrowser, type ReportBrowser } from "../helpers/report-browser.js";

const fixtureUrl = new URL("../fixtures/quality/comparison.json", import.meta.url);

let browser: ReportBrowser;

async function loadFixture(): Promise<ComparisonResult> {
  return JSON.parse(await readFile(fixtureUrl, "utf8")) as ComparisonResult;
}

const openReport = (html: string, name: string) => browser.openReport(html, name);

beforeAll(async () => {
  browser = await launchReportBrowser();
});

afterAll(async () => {
  await browser?.close();
});

describe("renderHtmlReport in Chromium", () => {
  it("draws every chart, fetches nothing, logs no errors and shows the failed configuration's error", async () => {
    const result = await loadFixture();
    const html = renderHtmlReport(result);
    const report = await openReport(html, "report");
    expect(report.consoleErrors).toEqual([]);
    expect(report.requests).toEqual([]);
    for (const id of reportChartIds) {
      expect(report.charts[id]?.marks, `chart ${id}`).toBeGreaterThan(0);
      expect(report.charts[id]?.drawn, `chart ${id} has marks of zero size`).toBe(report.charts[id]?.marks);
    }
    // two configurations ok: TTFT has 2 boxes x 3 prompt classes, throughput 2 lines + 10 points
    expect(report.charts.ttft?.marks).toBe(6);
    expect(report.charts.throughput?.marks).toBe(12);
    expect(report.charts.memory?.marks).toBe(4);
    expect(report.charts.quality?.marks).toBe(2);
    // model names and errors with < and & are shown as text, never parsed as markup
    expect(report.injected).toBe(false);
    expect(report.text).toContain("phi-3-mini <vllm>");
    expect(report.text).toContain("`vllm` not found on PATH & exited with code 127 <see --verbose>");
    expect(report.text).not.toMatch(/weights are synthetic/i);
    expect(report.metricRows).toBeGreaterThan(15);
    // the page is self-contained: no external references at all
    expect(html).not.toMatch(/<script|<link|@import|url\(http|src="http|href="http/i);
  });

  it("shows random weights' quality as n/a, charted nowhere, with a banner", async () => {
    const result = await loadFixture();
    for (const configuration of result.configurations) {
      configuration.synthetic = true;
      configuration.syntheticWeights = "random";
      if (configuration.quality) {
        configuration.quality.synthetic = true;
        configuration.quality.meaningful = false;
        configuration.quality.note = syntheticQualityNote;
      }
    }
    const report = await openReport(renderHtmlReport(result), "report-synthetic");
    expect(report.consoleErrors).toEqual([]);
    expect(report.requests).toEqual([]);
    expect(report.text).toMatch(/Synthetic weights\./);
    expect(report.text).toContain(notMeaningfulFootnote);
    expect(report.text).toContain("n/a: random weights");
    expect(report.text).not.toMatch(/\b75% correct/u);
    expect(report.charts.quality?.marks).toBe(0);
    expect(report.text).toContain("Not charted (random weights, the accuracy means nothing)");
    // speed and memory are still charted
    expect(report.charts.memory?.drawn).toBe(4);
  });

  it("charts a scripted model's quality: its figures are known in advance", async () => {
    const result = await loadFixture();
    for (const configuration of result.configurations) {
      configuration.synthetic = true;
      configuration.syntheticWeights = "scripted";
    }
    const report = await openReport(renderHtmlReport(result), "report-scripted");
    expect(report.consoleErrors).toEqual([]);
    expect(report.text).toMatch(/Scripted models\./);
    expect(report.text).not.toContain("n/a: random weights");
    expect(report.charts.quality?.drawn).toBe(2);
  });
});
