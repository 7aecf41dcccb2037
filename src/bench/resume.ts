/**
 * What lets an interrupted bench go on (`servelab bench --resume DIR`). Beside results.json,
 * requests.jsonl and report.md, a bench's folder holds:
 *
 * - plan.json: the options it was started with (file paths made absolute; never the API key), when
 *   it started, and how many sessions (the first run, then one per resume) have worked on it;
 * - runs.jsonl: one line per finished run of a load level (its summary), appended as each one
 *   ends, and the capacity search's result once it ended.
 *
 * The unit of resumption is a finished level-run: a resumed bench keeps those and runs the rest.
 * A run that was cut short is run again from its start (a half-measured run would mix two server
 * states in one summary); its records stay in requests.jsonl for the record, and the records of the
 * new attempt carry `session`, so the records of a run's last session are the ones its summary
 * counts.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { InvalidArgumentError, errorMessage } from "../core/errors.js";
import { writeJsonFile } from "../report/json.js";
import type { CapacityResult } from "./capacity.js";
import type { BenchOptions } from "./options.js";
import type { RunSummary } from "./types.js";

export const benchPlanFile = "plan.json";
export const finishedRunsFile = "runs.jsonl";

/** Options a resumed bench may change: where the server is now and how it is reached and watched.
 * Everything else comes from plan.json, so the runs it adds measure the same thing. */
export const resumeOverridableOptions = [
  "url",
  "apiKey",
  "serverPid",
  "sampleGpu",
  "readMetrics",
  "tokenizer",
] as const satisfies readonly (keyof BenchOptions)[];

/** BenchOptions as plan.json keeps them. */
export type SavedBenchOptions = Omit<BenchOptions, "apiKey" | "signal" | "out" | "resume" | "tokenizer"> & {
  tokenizer?: string;
};

export interface BenchPlan {
  kind: "servelab-bench";
  version: 1;
  options: SavedBenchOptions;
  /** An API key was used: a resume needs one again (keys are never written). */
  apiKey: boolean;
  /** A Tokenizer object (not a file) was given: a resume needs it again. */
  customTokenizer: boolean;
  startedAt: string;
  /** 1 for the first run, one more per resume. */
  sessions: number;
}

/** One line of runs.jsonl. */
export type FinishedUnit =
  | {
      type: "run";
      /** The level's place in the plan's list of levels. */
      levelIndex: number;
      level: string;
      run: number;
      session: number;
      summary: RunSummary;
    }
  | { type: "capacity"; session: number; capacity: CapacityResult };

/** What earlier sessions finished. */
export interface FinishedWork {
  /** By runKey(level, run). */
  runs: Map<string, RunSummary>;
  capacity: CapacityResult | undefined;
}

/** A level-run's key: the level's place in the plan and label (a plan may list a level twice), and
 * the run's number. */
export const runKey = (levelIndex: number, level: string, run: number): string =>
  `${levelIndex}:${level}#${run}`;

/** The options to write to plan.json: no secrets, no live objects, file paths absolute. */
export function toSavedOptions(options: BenchOptions): SavedBenchOptions {
  const { apiKey: _apiKey, signal: _signal, out: _out, resume: _resume, tokenizer, ...rest } = options;
  const saved: SavedBenchOptions = { ...rest };
  if (typeof tokenizer === "string") saved.tokenizer = resolve(tokenizer);
  if (saved.workload !== undefined && existsSync(saved.workload)) saved.workload = resolve(saved.workload);
  return saved;
}

export function writeBenchPlan(dir: string, plan: BenchPlan): void {
  writeJsonFile(join(dir, benchPlanFile), plan);
}

/** plan.json of the bench in `dir`, or undefined when there is none. */
export function findBenchPlan(dir: string): BenchPlan | undefined {
  const path = join(dir, benchPlanFile);
  if (!existsSync(path)) return undefined;
  let plan: Partial<BenchPlan>;
  try {
    plan = JSON.parse(readFileSync(path, "utf8")) as Partial<BenchPlan>;
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${path}: ${errorMessage(err)}`, { param: "resume" });
  }
  if (plan.kind !== "servelab-bench" || plan.version !== 1 || typeof plan.options !== "object")
    throw new InvalidArgumentError(`${path} is not the plan of a servelab bench run`, { param: "resume" });
  return plan as BenchPlan;
}

/** plan.json of the bench in `dir`; an InvalidArgumentError saying so when there is none. */
export function readBenchPlan(dir: string): BenchPlan {
  const plan = findBenchPlan(dir);
  if (plan === undefined)
    throw new InvalidArgumentError(
      `cannot resume from ${dir}: no bench run there (${benchPlanFile} is missing; it is written when a bench starts with a results folder)`,
      { param: "resume" },
    );
  return plan;
}

/** What runs.jsonl in `dir` says was finished. A torn last line (the process died while writing
 * it) is skipped: that run is simply run again. */
export function readFinishedWork(dir: string): FinishedWork {
  const work: FinishedWork = { runs: new Map(), capacity: undefined };
  const path = join(dir, finishedRunsFile);
  if (!existsSync(path)) return work;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    let unit: FinishedUnit;
    try {
      unit = JSON.parse(line) as FinishedUnit;
    } catch {
      continue;
    }
    if (unit.type === "run") work.runs.set(runKey(unit.levelIndex, unit.level, unit.run), unit.summary);
    else if (unit.type === "capacity") work.capacity = unit.capacity;
  }
  return work;
}

/** The options a resumed bench runs with: plan.json's, with the few a resume may change. Rejects
 * any other option, which would make the new runs measure something else than the kept ones. */
export function resumeOptions(plan: BenchPlan, given: BenchOptions, dir: string): BenchOptions {
  const allowed = new Set<string>([...resumeOverridableOptions, "out", "resume", "signal", "argv"]);
  const changed = Object.entries(given)
    .filter(([key, value]) => value !== undefined && !allowed.has(key))
    .map(([key]) => key);
  if (changed.length > 0)
    throw new InvalidArgumentError(
      `a resumed bench runs with the options saved in ${join(dir, benchPlanFile)}; it cannot change ${changed.join(", ")} (start a new bench for that)`,
      { param: "resume" },
    );
  const options: BenchOptions = { ...plan.options, out: dir, resume: true };
  for (const key of resumeOverridableOptions) {
    const value = given[key];
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  if (given.signal !== undefined) options.signal = given.signal;
  if (plan.apiKey && !options.apiKey && !process.env.OPENAI_API_KEY)
    throw new InvalidArgumentError(
      `the bench in ${dir} used an API key, which is never saved: give it again (--api-key or OPENAI_API_KEY)`,
      { param: "api-key" },
    );
  if (plan.customTokenizer && options.tokenizer === undefined)
    throw new InvalidArgumentError(
      `the bench in ${dir} used a Tokenizer object: give it again (tokenizer option)`,
      { param: "tokenizer" },
    );
  return options;
}
