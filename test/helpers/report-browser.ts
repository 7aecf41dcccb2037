/**
 * Opens servelab HTML reports in Debian's headless Chromium (playwright-core), with every request outside
 * the file itself recorded and blocked, and reads back what the charts drew.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { reportChartIds } from "../../src/report/html.js";

export const chromiumPath = "/usr/bin/chromium";

/** The little of the DOM the page scripts use (the project compiles without the DOM lib). */
interface PageElement {
  tagName: string;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  getBBox(): { width: number; height: number };
  innerText: string;
}
type PageGlobal = { document: PageElement & { body: PageElement } };

export interface PageReport {
  consoleErrors: string[];
  requests: string[];
  charts: Record<string, { marks: number; drawn: number }>;
  text: string;
  injected: boolean;
  metricRows: number;
}

export interface ReportBrowser {
  openReport(html: string, name: string): Promise<PageReport>;
  close(): Promise<void>;
}

/** Launches Chromium; fails with the install command when it is missing. */
export async function launchReportBrowser(): Promise<ReportBrowser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is missing at ${chromiumPath}: the HTML report tests need it (install it with 'apt-get install -y chromium').`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), "servelab-report-"));
  const browser: Browser = await chromium.launch({
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
  /** Opens the report in Chromium with every request outside the file itself recorded and blocked. */
  const openReport = async (html: string, name: string): Promise<PageReport> => {
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
  };
  return {
    openReport,
    close: async () => {
      await browser.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
