/** Parsers for commander options that throw fix-it errors. */
import { InvalidArgumentError } from "../core/errors.js";
import { profileNames, resolveProfile } from "../models/profiles.js";

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

/** --profile: a profile name (any case) or auto, checked while the flags are parsed, so a wrong one
 * fails before a model loads. */
export function parseProfileOption(value: string): string {
  try {
    resolveProfile({ override: value });
  } catch {
    throw new InvalidArgumentError(
      `--profile must be one of ${profileNames.join(", ")} or auto, got "${value}"`,
      {
        param: "--profile",
      },
    );
  }
  return value;
}
