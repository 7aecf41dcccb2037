import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, ServelabError } from "../../../src/core/errors.js";
import { loadJsonlDataset, parseJsonlDataset } from "../../../src/compare/quality/datasets.js";

const fixtures = fileURLToPath(new URL("../../fixtures/quality/", import.meta.url));

describe("loadJsonlDataset", () => {
  it("reads GSM8K answers after '####', dropping thousands separators and blank lines", async () => {
    const problems = await loadJsonlDataset(join(fixtures, "gsm8k-sample.jsonl"));
    expect(problems.map((p) => p.answer)).toEqual(["72", "2000", "7"]);
    expect(problems[0]?.question).toMatch(/^Natalia sold clips/);
    expect(problems.map((p) => p.kind)).toEqual(["gsm8k", "gsm8k", "gsm8k"]);
    // ids carry the line number, so line 4 (after the blank line 3) is "-4"
    expect(problems.map((p) => p.id)).toEqual(["gsm8k-sample-1", "gsm8k-sample-2", "gsm8k-sample-4"]);
  });

  it("reads MATH-500 problems with their subject as kind and a chosen id field", async () => {
    const problems = await loadJsonlDataset(join(fixtures, "math-sample.jsonl"), {
      idField: "unique_id",
      limit: 5,
    });
    expect(problems).toEqual([
      {
        id: "test/prealgebra/1.json",
        kind: "Prealgebra",
        question: "Compute $\\frac{1}{2} + \\frac{1}{4}$.",
        answer: "\\frac{3}{4}",
      },
      { id: "test/algebra/2.json", kind: "Algebra", question: "What is $2^{10}$?", answer: "1024" },
    ]);
  });

  it("takes configurable field names and a limit", () => {
    const text = [
      '{"q": "1+1?", "a": 2, "t": "easy"}',
      '{"q": "2+2?", "a": 4, "t": "easy"}',
      '{"q": "x", "a": 1}',
    ].join("\n");
    const problems = parseJsonlDataset(text, {
      questionField: "q",
      answerField: "a",
      kindField: "t",
      limit: 2,
    });
    expect(problems.map((p) => [p.question, p.answer, p.kind])).toEqual([
      ["1+1?", "2", "easy"],
      ["2+2?", "4", "easy"],
    ]);
  });

  it("points at the bad line", () => {
    const bad =
      (text: string, options = {}) =>
      () =>
        parseJsonlDataset(text, { name: "data.jsonl", ...options });
    expect(bad('{"question":"a","answer":"#### 1"}\n{oops')).toThrow(/^data\.jsonl:2: not valid JSON/);
    expect(bad('{"question":"a","solution":"1"}')).toThrow(
      "data.jsonl:1: missing answer field 'answer' (fields: question, solution); name it with the answer field option",
    );
    expect(bad('{"text":"a","answer":"1"}')).toThrow(/data\.jsonl:1: missing question field 'problem'/);
    expect(bad("\n\n[1, 2]")).toThrow(/^data\.jsonl:3: expected a JSON object/);
    expect(bad('{"question":"a","answer":"no marker"}', { format: "gsm8k" })).toThrow(
      /data\.jsonl:1: GSM8K answer has no '#### <answer>' line/,
    );
    expect(
      bad('{"id":1,"question":"a","answer":"1"}\n{"id":1,"question":"b","answer":"2"}', { idField: "id" }),
    ).toThrow(/data\.jsonl:2: duplicate id '1'/);
    expect(bad("\n \n")).toThrow(/no problems/);
    try {
      bad("{")();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
    }
  });

  it("reports a missing file as IO_FAILED with the path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "servelab-dataset-"));
    try {
      const path = join(dir, "missing.jsonl");
      await expect(loadJsonlDataset(path)).rejects.toSatisfy(
        (err: unknown) =>
          err instanceof ServelabError && err.code === "IO_FAILED" && err.message.includes(path),
      );
      await writeFile(join(dir, "ok.jsonl"), '{"question":"q","answer":"#### -3"}\n');
      expect((await loadJsonlDataset(join(dir, "ok.jsonl")))[0]?.answer).toBe("-3");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
