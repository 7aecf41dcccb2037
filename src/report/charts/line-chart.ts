/** Lines with markers over a numeric x axis (log2 when it spans powers of two), e.g. throughput against concurrency. */

import { escapeHtml, formatTick } from "../html/format.js";
import { defaultChartBox, px, renderAxes, renderNoData, renderSvgRoot, type ChartBox } from "./frame.js";
import { createLinearScale, createLog2Scale } from "./scale.js";

export interface LineSeries {
  name: string;
  color: string;
  points: Array<{ x: number; y: number }>;
}

export interface LineChartOptions {
  id: string;
  title: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  yFormat?: (value: number) => string;
  /** A dashed horizontal line, e.g. a latency objective. */
  threshold?: { y: number; label: string };
  box?: ChartBox;
}

/** Renders one polyline with circle markers per series. */
export function renderLineChart(options: LineChartOptions): string {
  const box = options.box ?? defaultChartBox;
  const series = options.series
    .map((s) => ({
      ...s,
      points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x),
    }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0)
    return renderSvgRoot({ id: options.id, title: options.title, box, body: renderNoData(box) });
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const useLog = xMin > 0 && xMax / xMin >= 8;
  const x = useLog
    ? createLog2Scale(xMin, xMax, box.left, box.width - box.right)
    : createLinearScale(xMin, xMax, box.left, box.width - box.right);
  const yMax = Math.max(...ys, options.threshold?.y ?? 0);
  const y = createLinearScale(0, yMax, box.height - box.bottom, box.top);
  const yFormat = options.yFormat ?? formatTick;
  const parts: string[] = [];
  if (options.threshold !== undefined) {
    const ty = px(y.map(options.threshold.y));
    parts.push(
      `<line class="threshold" x1="${box.left}" x2="${box.width - box.right}" y1="${ty}" y2="${ty}"/>` +
        `<text class="threshold-label" x="${box.width - box.right - 4}" y="${Number(ty) - 5}" text-anchor="end">${escapeHtml(options.threshold.label)}</text>`,
    );
  }
  for (const s of series) {
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${px(x.map(p.x))} ${px(y.map(p.y))}`).join("");
    parts.push(
      `<g data-series="${escapeHtml(s.name)}"><path class="mark line" d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"/>`,
    );
    for (const p of s.points) {
      parts.push(
        `<circle class="mark point" cx="${px(x.map(p.x))}" cy="${px(y.map(p.y))}" r="3.6" fill="${s.color}" stroke="#fff" stroke-width="1.2"><title>${escapeHtml(`${s.name}: ${formatTick(p.x)} → ${yFormat(p.y)}`)}</title></circle>`,
      );
    }
    parts.push("</g>");
  }
  const axes = renderAxes({
    box,
    x,
    y,
    xLabel: options.xLabel,
    yLabel: options.yLabel,
    yFormat,
    xFormat: (v) => formatTick(v),
  });
  return renderSvgRoot({ id: options.id, title: options.title, box, body: axes + parts.join("") });
}
