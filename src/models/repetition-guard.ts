/**
 * A repetition guard: notices when a generation is stuck repeating the same span of text (a failure
 * mode of small reasoning models such as DeepSeek-R1-Distill-Qwen-1.5B), so the server can stop it with
 * finish reason "repetition" instead of burning tokens until max_tokens.
 *
 * The tail of the text repeats a span of length p at least K times exactly when the last p·(K−1)
 * characters each equal the character p positions earlier. The guard keeps, for every period p in
 * [minPeriod, maxPeriod], the length of that run, updated per character in O(maxPeriod) time with a ring
 * buffer of maxPeriod characters: constant memory and constant work per character, whatever the length
 * of the generation.
 *
 * Spans shorter than minPeriod ("Wait, " over and over, a typical R1 loop) get a stricter rule of their
 * own: the tail must be that one span back to back over at least shortMinLength characters, and the span
 * must hold a letter and a character that is neither a letter nor a digit (a word and its punctuation or
 * space). Legitimate text repeats short spans too, but never words that way: runs of digits
 * (`100000000`, `0.3333333`, `0, 0, 0, 0`), separators (`=====`, `- - - -`), indentation, and letters
 * alone (hex `ffffffff`, base64 `AAAAAAAA`, DNA `ATATATAT`) all fail the letter-and-separator test.
 */
import { InvalidArgumentError } from "../core/errors.js";

/** Options for {@link createRepetitionGuard}. */
export interface RepetitionGuardOptions {
  /** Shortest repeated span of the main rule, in characters (UTF-16 code units). Default 8. Shorter
   * spans are the short rule's (see shortMinLength). */
  minPeriod?: number;
  /** Longest repeated span, in characters. Default 200. */
  maxPeriod?: number;
  /** How many times the span must appear back to back. Default 10. */
  minRepeats?: number;
  /** The short rule: a span shorter than minPeriod that holds a letter and a non-alphanumeric
   * character (`Wait, `, `Hmm. `) triggers once it fills the last shortMinLength characters. Default
   * 128 (`Wait, ` 22 times); 0 turns the short rule off. */
  shortMinLength?: number;
}

/** What the guard found when it triggered. */
export interface RepetitionMatch {
  /** The repeated span. */
  span: string;
  /** Its length. */
  period: number;
  /** How many times it appears back to back at the tail (at least minRepeats). */
  repeats: number;
}

/** One guard per generation. */
export interface RepetitionGuard {
  /** Feeds newly generated text; true once the tail is the same span repeated minRepeats times (and
   * from then on). */
  push(text: string): boolean;
  /** Whether the guard has triggered. */
  readonly triggered: boolean;
  /** The repetition that triggered the guard, once it has. */
  readonly match: RepetitionMatch | undefined;
}

/** The defaults DeepSeek-R1 profiles use. */
export const defaultRepetitionGuardOptions: Readonly<Required<RepetitionGuardOptions>> = {
  minPeriod: 8,
  maxPeriod: 200,
  minRepeats: 10,
  shortMinLength: 128,
};

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`repetition guard: ${name} must be an integer >= ${min}, got ${value}`, {
      param: name,
    });
  }
}

const letter = /\p{L}/u;
const separator = /[^\p{L}\p{N}]/u;

/** A span the short rule may stop: a word with its punctuation or space, not digits, symbols or
 * letters alone. */
function isWordSpan(span: string): boolean {
  return letter.test(span) && separator.test(span);
}

/** Creates a repetition guard. @throws InvalidArgumentError for out-of-range options. */
export function createRepetitionGuard(options: RepetitionGuardOptions = {}): RepetitionGuard {
  const minPeriod = options.minPeriod ?? defaultRepetitionGuardOptions.minPeriod;
  const maxPeriod = options.maxPeriod ?? defaultRepetitionGuardOptions.maxPeriod;
  const minRepeats = options.minRepeats ?? defaultRepetitionGuardOptions.minRepeats;
  checkInteger("minPeriod", minPeriod, 1);
  checkInteger("maxPeriod", maxPeriod, minPeriod);
  checkInteger("minRepeats", minRepeats, 2);
  const shortMinLength = options.shortMinLength ?? defaultRepetitionGuardOptions.shortMinLength;
  if (shortMinLength !== 0) checkInteger("shortMinLength", shortMinLength, 2 * minPeriod);

  const ring = new Uint16Array(maxPeriod);
  /** run[p]: how many of the latest characters each equal the one p positions before. */
  const run = new Uint32Array(maxPeriod + 1);
  let length = 0;
  let match: RepetitionMatch | undefined;

  const spanAt = (period: number): string => {
    let span = "";
    for (let k = period; k >= 1; k--) span += String.fromCharCode(ring[(length - k) % maxPeriod] ?? 0);
    return span;
  };

  const feed = (code: number): boolean => {
    let found = 0;
    let short = 0;
    const last = Math.min(maxPeriod, length);
    for (let p = 1; p <= last; p++) {
      const r = ring[(length - p) % maxPeriod] === code ? (run[p] ?? 0) + 1 : 0;
      run[p] = r;
      if (p < minPeriod) {
        // the smallest such p is the tail's own period: its multiples hold the same characters
        if (short === 0 && shortMinLength > 0 && r >= shortMinLength - p) short = p;
      } else if (found === 0 && r >= p * (minRepeats - 1)) {
        // a tail periodic with a shorter period is a run of one short pattern (the short rule's case)
        let shorter = false;
        for (let q = 1; q < minPeriod && !shorter; q++) shorter = (run[q] ?? 0) >= p * minRepeats - q;
        if (!shorter) found = p;
      }
    }
    ring[length % maxPeriod] = code;
    length++;
    if (found === 0 && short !== 0 && isWordSpan(spanAt(short))) found = short;
    if (found === 0) return false;
    match = { span: spanAt(found), period: found, repeats: Math.floor((run[found] ?? 0) / found) + 1 };
    return true;
  };

  return {
    push(text) {
      if (match) return true;
      for (let i = 0; i < text.length; i++) {
        if (feed(text.charCodeAt(i))) return true;
      }
      return false;
    },
    get triggered() {
      return match !== undefined;
    },
    get match() {
      return match;
    },
  };
}
