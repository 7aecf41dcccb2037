/** Grouped vertical bars with optional error bars and value labels, e.g. memory or accuracy per configuration. */

import { escapeHtml, formatTick } from "../html/format.js";
import { defaultChartBox, px, renderAxes, renderNoData, renderSvgRoot, type ChartBox } from "./frame.js";
import { createLinearScale } from "./scale.js";

export interface Bar {
  value: number;
  color: string;
  /** Lower and upper end of an error bar (e.g. a 95% interval). */
  low?: number;
  high?: number;
  /** Draw hatched (e.g. synthetic weights: the value is not meaningful). */
  hatched?: boolean;
  opacity?: number;
  /** Tooltip text. */
  title?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChartOptions {
  id: string;
  title: string;
  groups: BarGroup[];
  yLabel: string;
  xLabel: string;
  yFormat?: (value: number) => string;
  /** Format of the value printed above each bar. Default yFormat. */
  labelFormat?: (value: number) => string;
  /** Fixed y maximum (e.g. 1 for proportions). */
  yMax?: number;
  /** What an empty chart says. Default "no data". */
  noDataMessage?: string;
  /** Legend entries for the bars inside a group (drawn top right). */
  legend?: Array<{ label: string; color: string; opacity?: number }>;
  box?: ChartBox;
}

/** Renders bars grouped by category. */
export function renderBarChart(options: BarChartOptions): string {
  const box = options.box ?? defaultChartBox;
  const groups = options.groups.filter((g) => g.bars.some((b) => Number.isFinite(b.value)));
  if (groups.length === 0)
    return renderSvgRoot({
      id: options.id,
      title: options.title,
      box,
      body: renderNoData(box, options.noDataMessage),
    });
  const values = groups.flatMap((g) =>
    g.bars.flatMap((b) => [b.value, b.high ?? b.value]).filter(Number.isFinite),
  );
  const y = createLinearScale(
    0,
    options.yMax ?? Math.max(...values),
    box.height - box.bottom,
    box.top + (options.legend ? 14 : 0),
  );
  const yFormat = options.yFormat ?? formatTick;
  const labelFormat = options.labelFormat ?? yFormat;
  const plotWidth = box.width - box.left - box.right;
  const groupWidth = plotWidth / groups.length;
  const hatchId = `${options.id}-hatch`;
  const parts: string[] = [];
  groups.forEach((group, g) => {
    const barWidth = Math.min(56, (groupWidth * 0.7) / Math.max(1, group.bars.length));
    const start = box.left + groupWidth * g + (groupWidth - barWidth * group.bars.length) / 2;
    group.bars.forEach((bar, b) => {
      if (!Number.isFinite(bar.value)) return;
      const x = start + barWidth * b;
      const top = y.map(bar.value);
      const height = Math.max(1, y.map(0) - top);
      const title = `<title>${escapeHtml(bar.title ?? `${group.label}: ${labelFormat(bar.value)}`)}</title>`;
      parts.push(
        `<rect class="mark bar" x="${px(x + 2)}" y="${px(top)}" width="${px(barWidth - 4)}" height="${px(height)}" rx="2" fill="${bar.color}" fill-opacity="${bar.opacity ?? 0.9}">${title}</rect>`,
      );
      if (bar.hatched === true) {
        parts.push(
          `<rect x="${px(x + 2)}" y="${px(top)}" width="${px(barWidth - 4)}" height="${px(height)}" rx="2" fill="url(#${escapeHtml(hatchId)})"/>`,
        );
      }
      let labelY = top - 5;
      if (bar.low !== undefined && bar.high !== undefined) {
        const cx = x + barWidth / 2;
        const yl = y.map(bar.low);
        const yh = y.map(bar.high);
        parts.push(
          `<path class="error-bar" d="M${px(cx)} ${px(yl)}V${px(yh)}M${px(cx - 6)} ${px(yl)}H${px(cx + 6)}M${px(cx - 6)} ${px(yh)}H${px(cx + 6)}"/>`,
        );
        labelY = Math.min(labelY, yh - 5);
      }
      parts.push(
        `<text class="bar-label" x="${px(x + barWidth / 2)}" y="${px(labelY)}" text-anchor="middle">${escapeHtml(labelFormat(bar.value))}</text>`,
      );
    });
  });
  if (options.legend !== undefined) {
    let lx = box.width - box.right;
    const entries = [...options.legend].reverse().map((entry) => {
      const width = 22 + entry.label.length * 6.2;
      lx -= width;
      return `<rect x="${px(lx)}" y="${box.top - 8}" width="11" height="11" rx="2" fill="${entry.color}" fill-opacity="${entry.opacity ?? 0.9}"/><text class="legend-text" x="${px(lx + 15)}" y="${box.top + 1}">${escapeHtml(entry.label)}</text>`;
    });
    parts.push(`<g class="legend">${entries.join("")}</g>`);
  }
  const hatch = `<defs><pattern id="${escapeHtml(hatchId)}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2.2" stroke-opacity="0.75"/></pattern></defs>`;
  const axes = renderAxes({
    box,
    y,
    yLabel: options.yLabel,
    xLabel: options.xLabel,
    yFormat,
    xCategories: groups.map((group, g) => ({
      position: box.left + groupWidth * (g + 0.5),
      label: group.label,
    })),
  });
  return renderSvgRoot({ id: options.id, title: options.title, box, body: hatch + axes + parts.join("") });
}
