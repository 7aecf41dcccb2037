/** Parsers for commander options that throw fix-it errors. */
import { InvalidArgumentError } from "../core/errors.js";

export function parseIntegerOption(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${value}"`, {
        param: flag,
      });
    return n;
  };
}

export function parsePositiveIntegerOption(flag: string): (value: string) => number {
  const parse = parseIntegerOption(flag, 1, Number.MAX_SAFE_INTEGER);
  return (value) => {
    try {
      return parse(value);
    } catch {
      throw new InvalidArgumentError(`${flag} must be a positive integer, got "${value}"`, { param: flag });
    }
  };
}
