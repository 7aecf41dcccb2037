/**
 * Loads user math datasets from JSONL: GSM8K style ({"question", "answer"} where the answer is a
 * worked solution ending in "#### 42"), MATH-500 style ({"problem", "answer"}), or any other field
 * names given explicitly.
 */

import { readFile } from "node:fs/promises";
import { InvalidArgumentError, ServelabError } from "../../core/errors.js";
import type { MathProblem } from "./problems.js";

export type DatasetFormat = "auto" | "gsm8k" | "math";

export interface LoadJsonlDatasetOptions {
  /** Field holding the question. Default: "question" (GSM8K) or "problem" (MATH), whichever the line has. */
  questionField?: string;
  /** Field holding the answer. Default: "answer". */
  answerField?: string;
  /** Field holding a stable id. Default: none (ids are "<name>-<line>"). */
  idField?: string;
  /** Field holding the kind used for per-kind accuracy. Default: "subject" when present, else the format name. */
  kindField?: string;
  /**
   * How to read the answer. "gsm8k": the text after the last "####", thousands separators removed;
   * "math": the answer as is; "auto" (default): "gsm8k" when the answer contains "####".
   */
  format?: DatasetFormat;
  /** Read at most this many problems. */
  limit?: number;
  /** Name used in ids and error messages. Default: the file name. */
  name?: string;
}

/** Reads a JSONL dataset file. Errors name the file and line at fault. */
export async function loadJsonlDataset(
  path: string,
  options: LoadJsonlDatasetOptions = {},
): Promise<MathProblem[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ServelabError("IO_FAILED", `cannot read dataset ${path}: ${(err as Error).message}`, {
      cause: err,
      param: "dataset",
    });
  }
  return parseJsonlDataset(text, { name: path, ...options });
}

/** Parses JSONL dataset text (one JSON object per line; blank lines are skipped). */
export function parseJsonlDataset(text: string, options: LoadJsonlDatasetOptions = {}): MathProblem[] {
  const name = options.name ?? "dataset";
  const format = options.format ?? "auto";
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit > 0))
    throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`, { param: "limit" });
  const problems: MathProblem[] = [];
  const ids = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length && problems.length < limit; index++) {
    const line = lines[index]?.trim() ?? "";
    if (line === "") continue;
    const where = `${name}:${index + 1}`;
    const fail = (message: string): never => {
      throw new InvalidArgumentError(`${where}: ${message}`, { param: "dataset" });
    };
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      return fail(`not valid JSON (${(err as Error).message})`);
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      return fail("expected a JSON object with a question and an answer");
    }
    const fields = record as Record<string, unknown>;
    const fieldList = Object.keys(fields).join(", ") || "none";
    const questionField = options.questionField ?? ("question" in fields ? "question" : "problem");
    const answerField = options.answerField ?? "answer";
    const question = fields[questionField];
    if (typeof question !== "string" || question.trim() === "") {
      fail(
        `missing question field '${questionField}' (fields: ${fieldList}); name it with the question field option`,
      );
    }
    const rawAnswer = fields[answerField];
    if (
      rawAnswer === undefined ||
      rawAnswer === null ||
      (typeof rawAnswer === "object" && rawAnswer !== null)
    ) {
      fail(
        `missing answer field '${answerField}' (fields: ${fieldList}); name it with the answer field option`,
      );
    }
    const answerText = String(rawAnswer);
    const useGsm8k = format === "gsm8k" || (format === "auto" && answerText.includes("####"));
    let answer = answerText.trim();
    if (useGsm8k) {
      const marker = answerText.lastIndexOf("####");
      if (marker < 0)
        fail(`GSM8K answer has no '#### <answer>' line: ${JSON.stringify(truncate(answerText))}`);
      answer = answerText.slice(marker + 4).trim();
      // GSM8K writes "1,000"; compare as a plain number.
      if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(answer)) answer = answer.replaceAll(",", "");
    }
    if (answer === "") fail(`empty answer in field '${answerField}'`);
    let id = `${baseName(name)}-${index + 1}`;
    if (options.idField !== undefined) {
      const rawId = fields[options.idField];
      if (typeof rawId !== "string" && typeof rawId !== "number")
        fail(`missing id field '${options.idField}'`);
      id = String(rawId);
      if (ids.has(id)) fail(`duplicate id '${id}'`);
    }
    ids.add(id);
    const kindField = options.kindField ?? "subject";
    const rawKind = fields[kindField];
    const kind =
      typeof rawKind === "string" && rawKind !== ""
        ? rawKind
        : options.kindField !== undefined
          ? fail(`missing kind field '${kindField}'`)
          : useGsm8k
            ? "gsm8k"
            : format === "math" || questionField === "problem"
              ? "math"
              : "dataset";
    problems.push({ id, kind, question: (question as string).trim(), answer });
  }
  if (problems.length === 0)
    throw new InvalidArgumentError(`${name}: no problems in the dataset`, { param: "dataset" });
  return problems;
}

function truncate(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function baseName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.jsonl?$/i, "");
}
