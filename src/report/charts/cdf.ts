/** Empirical cumulative distribution functions as step lines, e.g. inter-token latency. */

import { escapeHtml } from "../html/format.js";
import { defaultChartBox, px, renderAxes, renderNoData, renderSvgRoot, type ChartBox } from "./frame.js";
import { createLinearScale } from "./scale.js";

export interface CdfSeries {
  name: string;
  color: string;
  values: readonly number[];
}

export interface CdfChartOptions {
  id: string;
  title: string;
  series: CdfSeries[];
  xLabel: string;
  xFormat?: (value: number) => string;
  /** The x axis ends at the largest of the series' values at this quantile (long tails are cut). Default 0.995. */
  clipQuantile?: number;
  /** Most points drawn per series (samples are thinned evenly by rank). Default 400. */
  maxPoints?: number;
  box?: ChartBox;
}

/** Renders one ECDF step line per series; the y axis is the share of samples at or below x. */
export function renderCdfChart(options: CdfChartOptions): string {
  const box = options.box ?? defaultChartBox;
  const maxPoints = options.maxPoints ?? 400;
  const sortedSeries = options.series
    .map((s) => ({ ...s, sorted: s.values.filter(Number.isFinite).sort((a, b) => a - b) }))
    .filter((s) => s.sorted.length > 0);
  if (sortedSeries.length === 0)
    return renderSvgRoot({ id: options.id, title: options.title, box, body: renderNoData(box) });
  const clip = options.clipQuantile ?? 0.995;
  const xMax = Math.max(
    ...sortedSeries.map(
      (s) => s.sorted[Math.min(s.sorted.length - 1, Math.floor(clip * s.sorted.length))] as number,
    ),
  );
  const xMin = Math.min(0, ...sortedSeries.map((s) => s.sorted[0] as number));
  const x = createLinearScale(xMin, xMax, box.left, box.width - box.right);
  const y = createLinearScale(0, 1, box.height - box.bottom, box.top, 4);
  const clipId = `${options.id}-clip`;
  const paths = sortedSeries.map((s) => {
    const n = s.sorted.length;
    const stride = Math.max(1, Math.ceil(n / maxPoints));
    let d = `M${px(x.map(s.sorted[0] as number))} ${px(y.map(0))}`;
    for (let i = 0; i < n; i += stride) {
      const index = Math.min(n - 1, i + stride - 1);
      const value = s.sorted[index] as number;
      // horizontal to the value at the previous height, then up to the new height
      d += `H${px(x.map(value))}V${px(y.map((index + 1) / n))}`;
    }
    return `<path class="mark line" data-series="${escapeHtml(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"><title>${escapeHtml(`${s.name}: ${n} samples`)}</title></path>`;
  });
  const axes = renderAxes({
    box,
    x,
    y,
    xLabel: options.xLabel,
    yLabel: "share of samples ≤ x",
    yFormat: (v) => `${Math.round(v * 100)}%`,
    ...(options.xFormat === undefined ? {} : { xFormat: options.xFormat }),
  });
  const clipRect = `<clipPath id="${escapeHtml(clipId)}"><rect x="${box.left}" y="${box.top - 2}" width="${box.width - box.left - box.right}" height="${box.height - box.top - box.bottom + 4}"/></clipPath>`;
  return renderSvgRoot({
    id: options.id,
    title: options.title,
    box,
    body: `<defs>${clipRect}</defs>${axes}<g clip-path="url(#${escapeHtml(clipId)})">${paths.join("")}</g>`,
  });
}
