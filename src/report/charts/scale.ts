/** Axis scales for the inline SVG charts: linear with "nice" ticks, and base-2 logarithmic. */

export interface Scale {
  /** Maps a data value to a pixel coordinate. */
  map(value: number): number;
  /** Tick values inside the domain. */
  ticks: number[];
  domain: [number, number];
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) close to `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** A linear scale whose domain is widened to round ticks, about `tickCount` of them. */
export function createLinearScale(
  min: number,
  max: number,
  rangeStart: number,
  rangeEnd: number,
  tickCount = 5,
): Scale {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (max === min) {
    const pad = max === 0 ? 1 : Math.abs(max) * 0.1;
    min -= pad;
    max += pad;
    if (min < 0 && max >= 0 && min > -pad * 2) min = Math.min(0, min);
  }
  const step = niceStep((max - min) / tickCount);
  const low = Math.floor(min / step + 1e-9) * step;
  const high = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0, value = low; value <= high + step * 1e-6 && i < 50; i++, value = low + i * step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  const map = (value: number) => rangeStart + ((value - low) / (high - low)) * (rangeEnd - rangeStart);
  return { map, ticks, domain: [low, high] };
}

/** A base-2 log scale with a tick at each power of two (for concurrency 1, 2, 4, ... 64). */
export function createLog2Scale(min: number, max: number, rangeStart: number, rangeEnd: number): Scale {
  const low = Math.floor(Math.log2(Math.max(min, 1e-9)));
  const high = Math.max(low + 1, Math.ceil(Math.log2(Math.max(max, 1e-9))));
  const ticks: number[] = [];
  for (let power = low; power <= high; power++) ticks.push(2 ** power);
  const map = (value: number) =>
    rangeStart + ((Math.log2(Math.max(value, 1e-9)) - low) / (high - low)) * (rangeEnd - rangeStart);
  return { map, ticks, domain: [2 ** low, 2 ** high] };
}
