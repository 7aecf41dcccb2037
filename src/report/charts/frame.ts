/** The shared frame of every chart: the SVG root, grid, axes, tick labels and axis titles. */

import { escapeHtml, formatTick } from "../html/format.js";
import type { Scale } from "./scale.js";

export interface ChartBox {
  width: number;
  height: number;
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** The default size of a chart (the SVG scales to its container through viewBox). */
export const defaultChartBox: ChartBox = {
  width: 560,
  height: 300,
  top: 18,
  right: 18,
  bottom: 50,
  left: 64,
};

/** Rounds a pixel coordinate for compact, stable SVG. */
export function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export interface SvgRootOptions {
  /** `data-chart` attribute: how tests and styles find the chart. */
  id: string;
  /** Accessible name of the chart. */
  title: string;
  box: ChartBox;
  body: string;
}

/** Wraps chart content in a self-contained <svg> element. */
export function renderSvgRoot(options: SvgRootOptions): string {
  const { box } = options;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeHtml(options.id)}" ` +
    `viewBox="0 0 ${box.width} ${box.height}" role="img" aria-label="${escapeHtml(options.title)}">` +
    `<title>${escapeHtml(options.title)}</title>${options.body}</svg>`
  );
}

export interface AxesOptions {
  box: ChartBox;
  y: Scale;
  yLabel: string;
  yFormat?: (value: number) => string;
  /** A numeric x scale, or categorical ticks ({position, label}) placed by the caller. */
  x?: Scale;
  xFormat?: (value: number) => string;
  xCategories?: Array<{ position: number; label: string }>;
  xLabel: string;
}

/** Horizontal grid lines, y tick labels, x ticks, and both axis titles. */
export function renderAxes(options: AxesOptions): string {
  const { box, y } = options;
  const yFormat = options.yFormat ?? formatTick;
  const xFormat = options.xFormat ?? formatTick;
  const plotLeft = box.left;
  const plotRight = box.width - box.right;
  const plotBottom = box.height - box.bottom;
  const parts: string[] = [];
  for (const tick of y.ticks) {
    const ty = px(y.map(tick));
    parts.push(`<line class="grid" x1="${plotLeft}" x2="${plotRight}" y1="${ty}" y2="${ty}"/>`);
    parts.push(
      `<text class="tick" x="${plotLeft - 8}" y="${ty}" text-anchor="end" dominant-baseline="middle">${escapeHtml(yFormat(tick))}</text>`,
    );
  }
  parts.push(`<line class="axis" x1="${plotLeft}" x2="${plotRight}" y1="${plotBottom}" y2="${plotBottom}"/>`);
  const xTicks =
    options.xCategories ??
    (options.x === undefined
      ? []
      : options.x.ticks.map((value) => ({
          position: (options.x as Scale).map(value),
          label: xFormat(value),
        })));
  for (const tick of xTicks) {
    const tx = px(tick.position);
    parts.push(`<line class="axis" x1="${tx}" x2="${tx}" y1="${plotBottom}" y2="${plotBottom + 5}"/>`);
    parts.push(
      `<text class="tick" x="${tx}" y="${plotBottom + 18}" text-anchor="middle">${escapeHtml(tick.label)}</text>`,
    );
  }
  parts.push(
    `<text class="axis-title" x="${px((plotLeft + plotRight) / 2)}" y="${box.height - 8}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
  );
  const midY = px((box.top + plotBottom) / 2);
  parts.push(
    `<text class="axis-title" x="14" y="${midY}" text-anchor="middle" transform="rotate(-90 14 ${midY})">${escapeHtml(options.yLabel)}</text>`,
  );
  return parts.join("");
}

/** A "no data" message in an otherwise empty chart. */
export function renderNoData(box: ChartBox, message = "no data"): string {
  return `<text class="no-data" x="${px(box.width / 2)}" y="${px(box.height / 2)}" text-anchor="middle">${escapeHtml(message)}</text>`;
}
