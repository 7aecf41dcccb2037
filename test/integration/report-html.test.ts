import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ComparisonResult } from "../../src/compare/types.js";
import { renderHtmlReport, reportChartIds } from "../../src/report/html.js";

const chromiumPath = "/usr/bin/chromium";
const fixtureUrl = new URL("../fixtures/quality/comparison.json", import.meta.url);

let browser: Browser;
let dir: string;

async function loadFixture(): Promise<ComparisonResult> {
  return JSON.parse(await readFile(fixtureUrl, "utf8")) as ComparisonResult;
}

/** The little of the DOM the page scripts use (the project compiles without the DOM lib). */
interface PageElement {
  tagName: string;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  getBBox(): { width: number; height: number };
  innerText: string;
}
type PageGlobal = { document: PageElement & { body: PageElement } };

interface PageReport {
  consoleErrors: string[];
  requests: string[];
  charts: Record<string, { marks: number; drawn: number }>;
  text: string;
  injected: boolean;
  metricRows: number;
}

/** Opens the report in Chromium with every request outside the file itself recorded and blocked. */
async function openReport(html: string, name: string): Promise<PageReport> {
  const file = join(dir, `${name}.html`);
  await writeFile(file, html);
  const url = pathToFileURL(file).href;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  await context.route("**/*", async (route) => {
    const target = route.request().url();
    if (target === url) return route.continue();
    requests.push(target);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));
  try {
    await page.goto(url, { waitUntil: "load", timeout: 20_000 });
    const charts = await page.evaluate(
      (ids) => {
        const { document } = globalThis as unknown as PageGlobal;
        const out: Record<string, { marks: number; drawn: number }> = {};
        for (const id of ids) {
          const svg = document.querySelector(`svg[data-chart="${id}"]`);
          const marks = svg === null ? [] : [...svg.querySelectorAll(".mark")];
          const drawn = marks.filter((mark) => {
            const box = mark.getBBox();
            return mark.tagName === "path"
              ? box.width > 0 || box.height > 0
              : box.width > 0 && box.height > 0;
          });
          out[id] = { marks: svg === null ? -1 : marks.length, drawn: drawn.length };
        }
        return out;
      },
      [...reportChartIds],
    );
    const text = await page.evaluate(() => (globalThis as unknown as PageGlobal).document.body.innerText);
    const injected = await page.evaluate(
      () => (globalThis as unknown as PageGlobal).document.querySelector("vllm, see") !== null,
    );
    const metricRows = await page.locator("table.comparison tr[data-metric]").count();
    await page.screenshot({ path: join(tmpdir(), `servelab-${name}.png`), fullPage: true });
    return { consoleErrors, requests, charts, text, injected, metricRows };
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is missing at ${chromiumPath}: the HTML report test needs it (install it with 'apt-get install -y chromium').`,
    );
  }
  dir = await mkdtemp(join(tmpdir(), "servelab-report-"));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
});

afterAll(async () => {
  await browser?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
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

  it("shows a synthetic-weights banner and still charts quality", async () => {
    const result = await loadFixture();
    for (const configuration of result.configurations) {
      configuration.synthetic = true;
      if (configuration.quality) {
        configuration.quality.synthetic = true;
        configuration.quality.note = "weights are synthetic: accuracy and agreement are not meaningful";
      }
    }
    const report = await openReport(renderHtmlReport(result), "report-synthetic");
    expect(report.consoleErrors).toEqual([]);
    expect(report.requests).toEqual([]);
    expect(report.text).toMatch(/Synthetic weights\./);
    expect(report.text).toContain("† weights are synthetic: accuracy and agreement are not meaningful.");
    expect(report.text).toContain("accuracy and agreement are not meaningful");
    expect(report.charts.quality?.drawn).toBe(2);
  });
});
