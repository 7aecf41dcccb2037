/**
 * Profile options: every behaviour of a model profile can be changed one by one, as data
 * ({@link ProfileOverrides}) applied once to the profile the server chose. From the command line they
 * are `--profile-option key=value` (repeatable, or several comma-separated in one value, which is how a
 * compare configuration's `options: { profile-option: "a=1,b=2" }` reaches `servelab serve`); the table
 * below is the single source of the keys, their parsing and the `--help` text, so they cannot drift.
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { SamplingParams } from "../engines/engine.js";
import { defaultRepetitionGuardOptions, type RepetitionGuardOptions } from "./repetition-guard.js";
import { profileNames, profiles, type ModelProfile } from "./profiles.js";

/** Changes to a model profile; unset fields keep the profile's own behaviour. */
export interface ProfileOverrides {
  /** Temperature when a request sets none; null: no default (the engine's). R1: 0.6. */
  temperature?: number | null;
  /** top_p when a request sets none; null: no default. R1: 0.95. */
  topP?: number | null;
  /** System messages are folded into the first user turn (true) or given to the template (false). */
  foldSystem?: boolean;
  /** The rendered prompt ends with the opening reasoning tag and a newline (`<think>\n`). */
  forceThink?: boolean;
  /** Text up to `</think>` goes to `reasoning_content`, the rest to `content`; false keeps the tags in
   * the content. */
  reasoningSplit?: boolean;
  /** Earlier assistant turns are sent back without their reasoning. */
  stripHistoryReasoning?: boolean;
  /** The repetition guard (finish reason `repetition`). */
  repetitionGuard?: boolean;
  /** Repetition guard thresholds; see RepetitionGuardOptions. */
  repetitionMinPeriod?: number;
  repetitionMaxPeriod?: number;
  repetitionMinRepeats?: number;
  repetitionShortMinLength?: number;
  /** Stop at the model's turn-end markers (Phi-3's `<|end|>`, R1's end of sentence) even when the model
   * file does not mark them as end-of-generation. */
  turnEndStop?: boolean;
}

type OverrideKey = keyof ProfileOverrides;

interface OptionSpec {
  /** The key on the command line. */
  key: string;
  field: OverrideKey;
  /** The value's form in `--help`. */
  value: string;
  description: string;
  parse(raw: string, key: string): ProfileOverrides[OverrideKey];
  /** The profile's own setting, for `--help`. */
  show(profile: ModelProfile): string;
}

function fail(key: string, message: string): never {
  throw new InvalidArgumentError(`--profile-option ${key}: ${message}`, { param: "profile-option" });
}

function parseBoolean(raw: string, key: string): boolean {
  const value = raw.trim().toLowerCase();
  if (["true", "on", "yes", "1"].includes(value)) return true;
  if (["false", "off", "no", "0"].includes(value)) return false;
  return fail(key, `must be true or false, got "${raw}"`);
}

function parseNumberOrUnset(min: number, max: number) {
  return (raw: string, key: string): number | null => {
    const text = raw.trim().toLowerCase();
    if (text === "unset" || text === "none") return null;
    const n = Number(text);
    if (text === "" || !Number.isFinite(n) || n < min || n > max)
      fail(key, `must be a number from ${min} to ${max} (or unset), got "${raw}"`);
    return n;
  };
}

function parseCount(min: number) {
  return (raw: string, key: string): number => {
    const n = Number(raw.trim());
    if (raw.trim() === "" || !Number.isInteger(n) || n < min)
      fail(key, `must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
}

const onOff = (on: boolean): string => (on ? "true" : "false");
const guardValue =
  (field: keyof RepetitionGuardOptions) =>
  (profile: ModelProfile): string =>
    profile.repetitionGuard === undefined
      ? "-"
      : String(profile.repetitionGuard[field] ?? defaultRepetitionGuardOptions[field]);

/** Every profile option, in `--help` order. */
export const profileOptionSpecs: readonly OptionSpec[] = [
  {
    key: "temperature",
    field: "temperature",
    value: "<0-2|unset>",
    description: "temperature when a request sets none",
    parse: parseNumberOrUnset(0, 2),
    show: (p) => String(p.samplingDefaults.temperature ?? "unset"),
  },
  {
    key: "top-p",
    field: "topP",
    value: "<0-1|unset>",
    description: "top_p when a request sets none",
    parse: parseNumberOrUnset(0, 1),
    show: (p) => String(p.samplingDefaults.topP ?? "unset"),
  },
  {
    key: "fold-system",
    field: "foldSystem",
    value: "<bool>",
    description: "put system messages into the first user turn",
    parse: parseBoolean,
    show: (p) => onOff(p.systemPrompt === "fold-into-first-user"),
  },
  {
    key: "force-think",
    field: "forceThink",
    value: "<bool>",
    description: "end the prompt with <think>\\n so the model reasons",
    parse: parseBoolean,
    show: (p) => onOff(p.promptSuffix !== undefined),
  },
  {
    key: "reasoning-split",
    field: "reasoningSplit",
    value: "<bool>",
    description: "send text up to </think> as reasoning_content",
    parse: parseBoolean,
    show: (p) => onOff(p.splitReasoning),
  },
  {
    key: "strip-history-reasoning",
    field: "stripHistoryReasoning",
    value: "<bool>",
    description: "send earlier assistant turns back without reasoning",
    parse: parseBoolean,
    show: (p) => onOff(p.stripReasoningFromHistory),
  },
  {
    key: "repetition-guard",
    field: "repetitionGuard",
    value: "<bool>",
    description: "stop looping generations (finish reason repetition)",
    parse: parseBoolean,
    show: (p) => onOff(p.repetitionGuard !== undefined),
  },
  {
    key: "repetition-min-period",
    field: "repetitionMinPeriod",
    value: "<n>",
    description: "guard: shortest span of the main rule, in characters",
    parse: parseCount(1),
    show: guardValue("minPeriod"),
  },
  {
    key: "repetition-max-period",
    field: "repetitionMaxPeriod",
    value: "<n>",
    description: "guard: longest repeated span, in characters",
    parse: parseCount(1),
    show: guardValue("maxPeriod"),
  },
  {
    key: "repetition-min-repeats",
    field: "repetitionMinRepeats",
    value: "<n>",
    description: "guard: repeats of a span that stop generation",
    parse: parseCount(2),
    show: guardValue("minRepeats"),
  },
  {
    key: "repetition-short-min-length",
    field: "repetitionShortMinLength",
    value: "<n>",
    description: "guard: characters a short word loop ('Wait, ') must fill; 0 off",
    parse: parseCount(0),
    show: guardValue("shortMinLength"),
  },
  {
    key: "turn-end-stop",
    field: "turnEndStop",
    value: "<bool>",
    description: "stop at the model's turn-end strings (phi-3: <|end|>)",
    parse: parseBoolean,
    show: (p) => (p.stop.length === 0 ? "-" : onOff(true)),
  },
];

/**
 * Parses `--profile-option` values (`key=value`, or several comma-separated) into overrides; a later
 * value of the same key wins.
 * @throws InvalidArgumentError naming the key, listing the known keys for an unknown one.
 */
export function parseProfileOptions(values: readonly string[]): ProfileOverrides {
  const overrides: Record<string, unknown> = {};
  for (const value of values) {
    for (const pair of value.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      if (eq <= 0)
        throw new InvalidArgumentError(`--profile-option must be key=value, got "${pair.trim()}"`, {
          param: "profile-option",
        });
      const key = pair.slice(0, eq).trim().toLowerCase();
      const spec = profileOptionSpecs.find((s) => s.key === key);
      if (spec === undefined)
        throw new InvalidArgumentError(
          `--profile-option: unknown key "${key}" (known: ${profileOptionSpecs.map((s) => s.key).join(", ")})`,
          { param: "profile-option" },
        );
      overrides[spec.field] = spec.parse(pair.slice(eq + 1), key);
    }
  }
  return overrides as ProfileOverrides;
}

/** The `--help` text of the profile options: each key with its value form and the defaults of every
 * profile. */
export function profileOptionsHelp(): string {
  const rows = profileOptionSpecs.map((spec) => ({
    left: `${spec.key}=${spec.value}`,
    description: spec.description,
    defaults: profileNames.map((name) => spec.show(profiles[name])).join(" / "),
  }));
  const width = Math.max(...rows.map((r) => r.left.length));
  const lines = rows.map((r) => `  ${r.left.padEnd(width)}  ${r.description} (${r.defaults})`);
  return [
    `Profile options (--profile-option key=value, repeatable or comma-separated; defaults for ${profileNames.join(" / ")}):`,
    ...lines,
  ].join("\n");
}

/**
 * The profile with the overrides applied (a new object; the profile is not changed). Turning on what the
 * profile cannot do (forced reasoning on a model without reasoning tags, thresholds of a guard that is
 * off) is an error, not a silent no-op.
 * @throws InvalidArgumentError naming the option and the profile.
 */
export function applyProfileOverrides(profile: ModelProfile, overrides: ProfileOverrides): ModelProfile {
  const sampling: SamplingParams = { ...profile.samplingDefaults };
  const out: ModelProfile = { ...profile, samplingDefaults: sampling };
  const cannot: (key: string, why: string) => never = (key, why) =>
    fail(`${key}`, `the ${profile.name} profile ${why}; choose another with --profile`);
  const format = profile.reasoning;

  for (const [field, samplingKey] of [
    ["temperature", "temperature"],
    ["topP", "topP"],
  ] as const) {
    const value = overrides[field];
    if (value === null) delete sampling[samplingKey];
    else if (value !== undefined) sampling[samplingKey] = value;
  }
  if (overrides.foldSystem !== undefined)
    out.systemPrompt = overrides.foldSystem ? "fold-into-first-user" : "native";
  if (overrides.forceThink === false) delete out.promptSuffix;
  else if (overrides.forceThink === true) {
    if (format.kind !== "think-tags") cannot("force-think", "has no reasoning tags");
    out.promptSuffix = profile.promptSuffix ?? `${format.openTag}\n`;
  }
  if (overrides.reasoningSplit !== undefined) {
    if (overrides.reasoningSplit && format.kind !== "think-tags")
      cannot("reasoning-split", "has no reasoning tags");
    out.splitReasoning = overrides.reasoningSplit;
  }
  if (overrides.stripHistoryReasoning !== undefined) {
    if (overrides.stripHistoryReasoning && format.kind !== "think-tags")
      cannot("strip-history-reasoning", "has no reasoning tags");
    out.stripReasoningFromHistory = overrides.stripHistoryReasoning;
  }
  if (overrides.turnEndStop !== undefined) {
    if (overrides.turnEndStop && profile.stop.length === 0)
      cannot("turn-end-stop", "has no turn-end strings");
    out.stop = overrides.turnEndStop ? profile.stop : [];
  }

  const thresholds: [OverrideKey, keyof RepetitionGuardOptions, string][] = [
    ["repetitionMinPeriod", "minPeriod", "repetition-min-period"],
    ["repetitionMaxPeriod", "maxPeriod", "repetition-max-period"],
    ["repetitionMinRepeats", "minRepeats", "repetition-min-repeats"],
    ["repetitionShortMinLength", "shortMinLength", "repetition-short-min-length"],
  ];
  const guardOn = overrides.repetitionGuard ?? profile.repetitionGuard !== undefined;
  const given = thresholds.filter(([field]) => overrides[field] !== undefined);
  if (!guardOn) {
    if (given.length > 0)
      fail(
        given[0]![2],
        `the repetition guard is off${overrides.repetitionGuard === false ? "" : ` in the ${profile.name} profile`}; add repetition-guard=true`,
      );
    delete out.repetitionGuard;
  } else {
    const guard: RepetitionGuardOptions = {
      ...defaultRepetitionGuardOptions,
      ...profile.repetitionGuard,
    };
    for (const [field, option] of given) guard[option] = overrides[field] as number;
    const resolved = guard as Required<RepetitionGuardOptions>;
    if (resolved.maxPeriod < resolved.minPeriod)
      fail(
        "repetition-max-period",
        `must be >= repetition-min-period (${resolved.minPeriod}), got ${resolved.maxPeriod}`,
      );
    if (resolved.shortMinLength !== 0 && resolved.shortMinLength < 2 * resolved.minPeriod)
      fail(
        "repetition-short-min-length",
        `must be 0 or >= twice repetition-min-period (${2 * resolved.minPeriod}), got ${resolved.shortMinLength}`,
      );
    out.repetitionGuard = guard;
  }
  return out;
}
