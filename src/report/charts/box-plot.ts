/** Grouped box plots (Tukey whiskers, outlier dots, mean marker), e.g. TTFT per prompt class. */

import { escapeHtml, formatTick } from "../html/format.js";
import { defaultChartBox, px, renderAxes, renderNoData, renderSvgRoot, type ChartBox } from "./frame.js";
import { createLinearScale } from "./scale.js";

/** Five-number summary of a sample plus its mean and the points beyond the whiskers. */
export interface BoxStats {
  q1: number;
  median: number;
  q3: number;
  /** Lowest and highest samples within 1.5 IQR of the box. */
  whiskerLow: number;
  whiskerHigh: number;
  mean: number;
  outliers: number[];
  n: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const low = sorted[below] as number;
  const high = sorted[Math.ceil(position)] as number;
  return low + (high - low) * (position - below);
}

/** Box statistics of samples (undefined when there are none). */
export function computeBoxStats(samples: readonly number[]): BoxStats | undefined {
  const sorted = samples.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  const fence = 1.5 * (q3 - q1);
  const inside = sorted.filter((v) => v >= q1 - fence && v <= q3 + fence);
  return {
    q1,
    median: quantile(sorted, 0.5),
    q3,
    whiskerLow: inside[0] ?? q1,
    whiskerHigh: inside[inside.length - 1] ?? q3,
    mean: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
    outliers: sorted.filter((v) => v < q1 - fence || v > q3 + fence),
    n: sorted.length,
  };
}

export interface BoxPlotSeries {
  name: string;
  color: string;
  /** One box per group, in `groups` order; undefined where there is no sample. */
  boxes: Array<BoxStats | undefined>;
}

export interface BoxPlotChartOptions {
  id: string;
  title: string;
  groups: string[];
  series: BoxPlotSeries[];
  yLabel: string;
  xLabel: string;
  yFormat?: (value: number) => string;
  box?: ChartBox;
}

/** Renders grouped box plots: one group per category, one box per series inside it. */
export function renderBoxPlotChart(options: BoxPlotChartOptions): string {
  const box = options.box ?? defaultChartBox;
  const all = options.series.flatMap((s) => s.boxes.filter((b): b is BoxStats => b !== undefined));
  if (all.length === 0 || options.groups.length === 0) {
    return renderSvgRoot({ id: options.id, title: options.title, box, body: renderNoData(box) });
  }
  const maxValue = Math.max(...all.map((b) => Math.max(b.whiskerHigh, ...b.outliers.slice(-1))));
  const y = createLinearScale(0, maxValue, box.height - box.bottom, box.top);
  const plotWidth = box.width - box.left - box.right;
  const groupWidth = plotWidth / options.groups.length;
  const slot = (groupWidth * 0.8) / Math.max(1, options.series.length);
  const boxWidth = Math.min(44, slot * 0.7);
  const parts: string[] = [];
  options.series.forEach((series, s) => {
    series.boxes.forEach((stats, g) => {
      if (stats === undefined) return;
      const cx = box.left + groupWidth * g + groupWidth * 0.1 + slot * (s + 0.5);
      const half = boxWidth / 2;
      const tip = `${series.name}, ${options.groups[g] ?? ""}: median ${formatTick(stats.median)}, IQR ${formatTick(stats.q1)}–${formatTick(stats.q3)}, n=${stats.n}`;
      const top = y.map(stats.q3);
      const height = Math.max(1, y.map(stats.q1) - top);
      parts.push(`<g class="box" data-series="${escapeHtml(series.name)}"><title>${escapeHtml(tip)}</title>`);
      parts.push(
        `<line class="whisker" stroke="${series.color}" x1="${px(cx)}" x2="${px(cx)}" y1="${px(y.map(stats.whiskerLow))}" y2="${px(y.map(stats.whiskerHigh))}"/>`,
      );
      for (const end of [stats.whiskerLow, stats.whiskerHigh]) {
        parts.push(
          `<line class="whisker" stroke="${series.color}" x1="${px(cx - half / 2)}" x2="${px(cx + half / 2)}" y1="${px(y.map(end))}" y2="${px(y.map(end))}"/>`,
        );
      }
      parts.push(
        `<rect class="mark" x="${px(cx - half)}" y="${px(top)}" width="${px(boxWidth)}" height="${px(height)}" fill="${series.color}" fill-opacity="0.28" stroke="${series.color}" stroke-width="1.5" rx="2"/>`,
      );
      parts.push(
        `<line class="median" stroke="${series.color}" stroke-width="2.5" x1="${px(cx - half)}" x2="${px(cx + half)}" y1="${px(y.map(stats.median))}" y2="${px(y.map(stats.median))}"/>`,
      );
      const my = y.map(stats.mean);
      parts.push(
        `<path class="mean" d="M${px(cx)} ${px(my - 4)}L${px(cx + 4)} ${px(my)}L${px(cx)} ${px(my + 4)}L${px(cx - 4)} ${px(my)}Z" fill="#fff" stroke="${series.color}"/>`,
      );
      for (const outlier of stats.outliers.slice(0, 60)) {
        parts.push(
          `<circle class="outlier" cx="${px(cx)}" cy="${px(y.map(outlier))}" r="2.2" fill="none" stroke="${series.color}"/>`,
        );
      }
      parts.push("</g>");
    });
  });
  const axes = renderAxes({
    box,
    y,
    yLabel: options.yLabel,
    xLabel: options.xLabel,
    ...(options.yFormat === undefined ? {} : { yFormat: options.yFormat }),
    xCategories: options.groups.map((label, g) => ({ position: box.left + groupWidth * (g + 0.5), label })),
  });
  return renderSvgRoot({ id: options.id, title: options.title, box, body: axes + parts.join("") });
}
