/**
 * Final answers of math problems: the instruction that asks a reasoning model for a `\boxed{}` answer,
 * extracting that answer, and comparing it with a reference the way graders do (numbers, fractions,
 * LaTeX wrappers, units in `\text{}`, thousands separators, `x = 3`, percent signs, small float error).
 *
 * Pure functions, no dependencies beyond the error tree.
 */
import type { ChatMessage } from "../engines/engine.js";
import { InvalidRequestError } from "./errors.js";

/** DeepSeek's recommended instruction for math prompts (put in the user turn, not a system prompt). */
export const mathInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";

/**
 * Returns a copy of `messages` whose LAST user turn ends with {@link mathInstruction} (after a blank
 * line). A turn that already contains the instruction is left as is.
 * @throws InvalidRequestError when there is no user message to append to.
 */
export function appendMathInstruction(messages: readonly ChatMessage[]): ChatMessage[] {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") {
      last = i;
      break;
    }
  }
  if (last < 0) {
    throw new InvalidRequestError("math: the request needs a user message to add the math instruction to", {
      param: "messages",
    });
  }
  return messages.map((message, i) => {
    if (i !== last || message.content.includes(mathInstruction)) return { ...message };
    const separator = message.content.length === 0 || /\s$/.test(message.content) ? "" : "\n\n";
    return { ...message, content: `${message.content}${separator}${mathInstruction}` };
  });
}

const boxCommand = /\\(?:boxed|fbox)(?![A-Za-z])/g;

/**
 * The content of the LAST `\boxed{...}` (or `\boxed {...}`, `\fbox{...}`, `\boxed 5`) in `text`, with
 * nested braces kept, trimmed; undefined when there is none (or the last one never closes and no earlier
 * one is complete).
 */
export function extractBoxed(text: string): string | undefined {
  const starts: number[] = [];
  for (const match of text.matchAll(boxCommand)) starts.push(match.index + match[0].length);
  for (let k = starts.length - 1; k >= 0; k--) {
    const found = readBoxArgument(text, starts[k] ?? 0);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Reads the argument of a box command whose name ends at `from`. */
function readBoxArgument(text: string, from: number): string | undefined {
  let i = from;
  while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  if (text[i] === "{") {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const ch = text[j];
      if (ch === "\\") {
        j++; // an escaped character (\{, \}) does not change the depth
        continue;
      }
      if (ch === "{") depth++;
      else if (ch === "}") {
        depth--;
        if (depth === 0) return text.slice(i + 1, j).trim();
      }
    }
    return undefined;
  }
  // `\boxed 5`: one space-delimited token (up to whitespace, `$` or the end of a math span)
  if (i === from) return undefined;
  const match = /^[^\s$]+/.exec(text.slice(i));
  if (!match) return undefined;
  return match[0].replace(/[.,;]$/, "").replace(/\\\)$|\\\]$/, "");
}

/** The brace group opening at `open`: [its content, the index after its closing brace], or undefined. */
function readGroup(s: string, open: number): [string, number] | undefined {
  if (s[open] !== "{") return undefined;
  let depth = 0;
  for (let j = open; j < s.length; j++) {
    const ch = s[j];
    if (ch === "\\") {
      j++;
      continue;
    }
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return [s.slice(open + 1, j), j + 1];
    }
  }
  return undefined;
}

/** Replaces `\name{arg}` (nested braces allowed) with `replace(arg)` for each of `names`. */
function unwrapCommands(s: string, names: readonly string[], replace: (arg: string) => string): string {
  const pattern = new RegExp(`\\\\(?:${names.join("|")})(?![A-Za-z])\\s*`, "g");
  let out = "";
  let last = 0;
  for (;;) {
    pattern.lastIndex = last;
    const match = pattern.exec(s);
    if (!match) break;
    const group = readGroup(s, match.index + match[0].length);
    if (!group) {
      out += s.slice(last, match.index + match[0].length);
      last = match.index + match[0].length;
      continue;
    }
    out += s.slice(last, match.index) + replace(group[0]);
    last = group[1];
  }
  return out + s.slice(last);
}

/** `\frac{a}{b}`, `\frac12`, `\frac1{b}` → `(a)/(b)` with parentheses only where needed. */
function rewriteFractions(s: string): string {
  const pattern = /\\frac\s*/g;
  let out = "";
  let last = 0;
  for (;;) {
    pattern.lastIndex = last;
    const match = pattern.exec(s);
    if (!match) break;
    let i = match.index + match[0].length;
    const args: string[] = [];
    for (let k = 0; k < 2; k++) {
      while (s[i] === " ") i++;
      const group = readGroup(s, i);
      if (group) {
        args.push(group[0]);
        i = group[1];
      } else if (i < s.length && s[i] !== "}" && s[i] !== "\\") {
        args.push(s[i] ?? "");
        i++;
      } else break;
    }
    if (args.length !== 2) {
      out += s.slice(last, match.index + match[0].length);
      last = match.index + match[0].length;
      continue;
    }
    const [num, den] = args.map((a) => {
      const inner = rewriteFractions(a).trim();
      return /^[-+]?[\w.]+$/.test(inner) ? inner : `(${inner})`;
    }) as [string, string];
    out += `${s.slice(last, match.index)}${num}/${den}`;
    last = i;
  }
  return out + s.slice(last);
}

/** A plain decimal number in canonical form (`16.00` → `16`, `-0` → `0`, `.5` → `0.5`, `+3` → `3`). */
function canonicalNumber(s: string): string | undefined {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) return undefined;
  const intPart = (match[2] ?? "").replace(/^0+(?=\d)/, "") || "0";
  const frac = (match[3] ?? "").replace(/0+$/, "");
  const body = frac === "" ? intPart : `${intPart}.${frac}`;
  const zero = /^0(\.0*)?$/.test(body);
  return match[1] === "-" && !zero ? `-${body}` : body;
}

/**
 * A canonical form of a final answer, for exact comparison: LaTeX wrappers, spacing and units in
 * `\text{}` removed, `\dfrac`/`\frac` written as `a/b`, numbers canonical (`16.0` → `16`,
 * `1,000` → `1000`, `-0` → `0`), `x = 3` → `3`, `50\%` → `50`, no trailing period, no spaces.
 */
export function normalizeAnswer(s: string): string {
  let t = s.trim();
  // math delimiters
  t = t
    .replace(/^\$+|\$+$/g, "")
    .replace(/^\\\(|\\\)$/g, "")
    .replace(/^\\\[|\\\]$/g, "");
  const boxed = /^\\(?:boxed|fbox)(?![A-Za-z])/.test(t) ? extractBoxed(t) : undefined;
  if (boxed !== undefined) t = boxed;
  t = t.replace(/\\\$/g, "").replace(/\$/g, "");
  // words in \text{} are kept (they may be the answer), then a unit after a number is dropped below
  t = unwrapCommands(
    t,
    ["text", "textbf", "textit", "mathrm", "mathbf", "mbox", "operatorname"],
    (a) => ` ${a} `,
  );
  t = t.replace(/\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)(?![A-Za-z])/g, "").replace(/\\ /g, " ");
  t = t.replace(/\\[dt]frac(?![A-Za-z])/g, "\\frac");
  t = t.replace(/\^\s*\{?\\circ\}?/g, "").replace(/\\degree(?![A-Za-z])/g, "");
  t = t.replace(/\\%|%/g, "").replace(/\\percent(?![A-Za-z])/g, "");
  t = t.replace(/\{,\}/g, ",");
  t = t.replace(/\\sqrt\s*([0-9A-Za-z])/g, "\\sqrt{$1}");
  t = t.trim().replace(/[.\s]+$/, "");
  // `x = 3`, `a_1 = 3`: keep the right-hand side of one assignment to a variable
  const assignment = /^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(.+)$/s.exec(t);
  if (assignment?.[1] !== undefined && !assignment[1].includes("=")) t = assignment[1];
  t = rewriteFractions(t);
  t = t.replace(/\s+/g, " ").trim();
  // thousands separators only in a well-formed group (`1,000,000`, not the pair `1,2`)
  t = t.replace(
    /(^|[^\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])/g,
    (_m, pre: string, num: string) => pre + num.replace(/,/g, ""),
  );
  // a number followed by words is a number with a unit (`16 dollars`, `5 cm`)
  const withUnit = /^([+-]?(?:\d+\.?\d*|\.\d+))\s+[A-Za-z][A-Za-z ^.]*$/.exec(t);
  if (withUnit?.[1] !== undefined) t = withUnit[1];
  t = t.replace(/\s+/g, "");
  t = t.replace(/^\{(.*)\}$/s, "$1");
  const whole = canonicalNumber(t);
  if (whole !== undefined) return whole;
  // numbers inside expressions; digits that are part of identifiers like x2 are left alone
  t = t.replace(/(?<![\w.])(?:\d+\.?\d*|\.\d+)(?![\d.])/g, (num) => canonicalNumber(num) ?? num);
  return t.replace(/\.$/, "");
}

/** Options for {@link answersEqual}. */
export interface AnswersEqualOptions {
  /** Numbers (not both integers) compare equal when |a − b| ≤ tolerance · max(1, |a|, |b|). Default 1e-6. */
  relativeTolerance?: number;
}

/** The value of a normalized answer that is a number or a simple fraction of numbers. */
function numericValue(normalized: string): number | undefined {
  const number = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
  if (number.test(normalized)) return Number(normalized);
  const fraction = /^([+-]?)\(?([+-]?(?:\d+\.?\d*|\.\d+))\)?\/\(?([+-]?(?:\d+\.?\d*|\.\d+))\)?$/.exec(
    normalized,
  );
  if (fraction) {
    const den = Number(fraction[3]);
    if (den === 0) return undefined;
    const value = Number(fraction[2]) / den;
    return fraction[1] === "-" ? -value : value;
  }
  return undefined;
}

/** Splits `(a,b)`, `[a,b]`, `a,b` into top-level items; undefined when there is only one. */
function splitTuple(normalized: string): { open: string; items: string[] } | undefined {
  let body = normalized;
  let open = "";
  const first = body[0];
  const closing: Record<string, string> = { "(": ")", "[": "]", "\\{": "\\}" };
  if (first === "(" || first === "[") {
    if (body.endsWith(closing[first] ?? "")) {
      open = first;
      body = body.slice(1, -1);
    }
  }
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      items.push(body.slice(start, i));
      start = i + 1;
    }
  }
  items.push(body.slice(start));
  return items.length > 1 ? { open, items } : undefined;
}

function normalizedEqual(a: string, b: string, tolerance: number): boolean {
  if (a === b) return true;
  const x = numericValue(a);
  const y = numericValue(b);
  if (x !== undefined && y !== undefined) {
    // two integers are equal only when they are the same integer; the tolerance is for floats
    if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) return false;
    return Math.abs(x - y) <= tolerance * Math.max(1, Math.abs(x), Math.abs(y));
  }
  const ta = splitTuple(a);
  const tb = splitTuple(b);
  if (ta && tb && ta.open === tb.open && ta.items.length === tb.items.length) {
    return ta.items.every((item, i) => normalizedEqual(item, tb.items[i] ?? "", tolerance));
  }
  return false;
}

/**
 * Whether two final answers mean the same: equal after {@link normalizeAnswer}, or equal numbers
 * (fractions included) within a small relative tolerance, or tuples whose items are equal.
 */
export function answersEqual(a: string, b: string, options: AnswersEqualOptions = {}): boolean {
  const tolerance = options.relativeTolerance ?? 1e-6;
  return normalizedEqual(normalizeAnswer(a), normalizeAnswer(b), tolerance);
}
