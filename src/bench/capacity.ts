/**
 * Capacity search: the largest concurrency whose runs meet the SLO at a percentile (e.g. p95 ITL <= 50 ms),
 * found by doubling from the lower bound, then bisection, each probe repeated and decided by majority.
 */
import type { Slo } from "./options.js";
import type { RunSummary } from "./types.js";

/** Failed requests above this fraction fail a trial whatever the latencies. */
export const maxTrialErrorRate = 0.01;

export interface SloCheck {
  passed: boolean;
  /** Why it failed, e.g. "p95 itl 61.2 ms > 50 ms". */
  violations: string[];
}

/** Check one run against the SLO at a percentile. */
export function checkRunAgainstSlo(run: RunSummary, slo: Slo, percentile: 50 | 90 | 95 | 99): SloCheck {
  const key = `p${percentile}` as const;
  const violations: string[] = [];
  const check = (name: string, bound: number | undefined, value: number): void => {
    if (bound !== undefined && value > bound)
      violations.push(`${key} ${name} ${value.toFixed(1)} ms > ${bound} ms`);
  };
  check("ttft", slo.ttftMs, run.ttftFromIntended[key]);
  check("ttfo", slo.ttfoMs, run.ttfo[key]);
  check("tpot", slo.tpotMs, run.tpot[key]);
  check("itl", slo.itlMs, run.itl[key]);
  check("e2e", slo.e2eMs, run.e2eFromIntended[key]);
  const errorRate = run.requests === 0 ? 1 : run.failed / run.requests;
  if (errorRate > maxTrialErrorRate)
    violations.push(`error rate ${(errorRate * 100).toFixed(1)}% > ${maxTrialErrorRate * 100}%`);
  if (run.completed === 0) violations.push("no request completed");
  return { passed: violations.length === 0, violations };
}

export interface CapacityProbe {
  concurrency: number;
  passed: boolean;
  trials: SloCheck[];
}

export interface CapacityResult {
  /** The largest concurrency that met the SLO, or null when even the lower bound failed. */
  maxConcurrency: number | null;
  slo: Slo;
  percentile: number;
  bounds: [number, number];
  probes: CapacityProbe[];
  /** True when the upper bound itself passed (the real capacity may be higher). */
  limitedByUpperBound: boolean;
}

export interface FindMaxConcurrencyOptions {
  min: number;
  max: number;
  trials: number;
  slo: Slo;
  percentile: 50 | 90 | 95 | 99;
  /** Run one trial at a concurrency. */
  runTrial(concurrency: number, trial: number): Promise<RunSummary>;
  isAborted?(): boolean;
}

/** Search the largest concurrency in [min, max] that meets the SLO. */
export async function findMaxConcurrency(options: FindMaxConcurrencyOptions): Promise<CapacityResult> {
  const probes: CapacityProbe[] = [];
  const results = new Map<number, boolean>();
  const probe = async (c: number): Promise<boolean> => {
    const known = results.get(c);
    if (known !== undefined) return known;
    const trials: SloCheck[] = [];
    for (let t = 0; t < options.trials && options.isAborted?.() !== true; t++) {
      trials.push(checkRunAgainstSlo(await options.runTrial(c, t + 1), options.slo, options.percentile));
      const passes = trials.filter((x) => x.passed).length;
      // Stop early once the majority is decided.
      if (passes > options.trials / 2 || trials.length - passes >= options.trials / 2) break;
    }
    const passed = trials.filter((x) => x.passed).length > options.trials / 2;
    probes.push({ concurrency: c, passed, trials });
    results.set(c, passed);
    return passed;
  };
  const done = (maxConcurrency: number | null, limited = false): CapacityResult => ({
    maxConcurrency,
    slo: options.slo,
    percentile: options.percentile,
    bounds: [options.min, options.max],
    probes,
    limitedByUpperBound: limited,
  });
  if (!(await probe(options.min))) return done(null);
  let pass = options.min;
  let fail: number | undefined;
  while (fail === undefined && pass < options.max && options.isAborted?.() !== true) {
    const next = Math.min(options.max, pass * 2);
    if (await probe(next)) pass = next;
    else fail = next;
  }
  if (fail === undefined) return done(pass, pass === options.max);
  while (fail - pass > 1 && options.isAborted?.() !== true) {
    const mid = Math.floor((pass + fail) / 2);
    if (await probe(mid)) pass = mid;
    else fail = mid;
  }
  return done(pass);
}
