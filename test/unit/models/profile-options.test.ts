import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerServeCommand } from "../../../src/cli/commands/serve.js";
import { serveArguments } from "../../../src/compare/run-compare.js";
import { InvalidArgumentError } from "../../../src/core/errors.js";
import {
  applyProfileOverrides,
  parseProfileOptions,
  profileOptionSpecs,
  profileOptionsHelp,
} from "../../../src/models/profile-options.js";
import {
  applySamplingDefaults,
  ensurePromptSuffix,
  getProfile,
  prepareMessages,
} from "../../../src/models/profiles.js";
import { createRepetitionGuard } from "../../../src/models/repetition-guard.js";

const r1 = getProfile("deepseek-r1-distill");
const phi = getProfile("phi-3");
const generic = getProfile("generic");

describe("parseProfileOptions", () => {
  it("reads every key, repeated or comma-separated; a later value wins", () => {
    expect(
      parseProfileOptions([
        "temperature=0.3,top-p=unset",
        "fold-system=false",
        "force-think=off",
        "reasoning-split=no",
        "strip-history-reasoning=0",
        "repetition-guard=true,repetition-min-period=6,repetition-max-period=100",
        "repetition-min-repeats=4, repetition-short-min-length=0",
        "turn-end-stop=false",
        "temperature=0.4",
      ]),
    ).toEqual({
      temperature: 0.4,
      topP: null,
      foldSystem: false,
      forceThink: false,
      reasoningSplit: false,
      stripHistoryReasoning: false,
      repetitionGuard: true,
      repetitionMinPeriod: 6,
      repetitionMaxPeriod: 100,
      repetitionMinRepeats: 4,
      repetitionShortMinLength: 0,
      turnEndStop: false,
    });
    expect(parseProfileOptions([])).toEqual({});
  });
  it("fails with a fix-it message naming the key", () => {
    expect(() => parseProfileOptions(["temprature=0.3"])).toThrow(InvalidArgumentError);
    expect(() => parseProfileOptions(["temprature=0.3"])).toThrow(
      /unknown key "temprature" \(known: temperature, top-p,/,
    );
    expect(() => parseProfileOptions(["temperature=3"])).toThrow(
      '--profile-option temperature: must be a number from 0 to 2 (or unset), got "3"',
    );
    expect(() => parseProfileOptions(["force-think=maybe"])).toThrow(
      '--profile-option force-think: must be true or false, got "maybe"',
    );
    expect(() => parseProfileOptions(["repetition-min-repeats=1"])).toThrow(/must be an integer >= 2/);
    expect(() => parseProfileOptions(["fold-system"])).toThrow(/must be key=value, got "fold-system"/);
  });
});

describe("applyProfileOverrides", () => {
  it("changes each R1 behaviour on its own and leaves the profile itself alone", () => {
    const cold = applyProfileOverrides(r1, { temperature: 0.2, topP: null });
    expect(applySamplingDefaults(cold, {})).toEqual({ temperature: 0.2 });
    expect(applySamplingDefaults(r1, {})).toEqual({ temperature: 0.6, topP: 0.95 });

    const conversation = [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "2+2?" },
      { role: "assistant" as const, content: "Adding.</think>\n\n4" },
      { role: "user" as const, content: "3+3?" },
    ];
    const native = applyProfileOverrides(r1, { foldSystem: false, stripHistoryReasoning: false });
    expect(prepareMessages(native, conversation)).toEqual(conversation);
    expect(prepareMessages(r1, conversation)[0]).toEqual({ role: "user", content: "Be brief.\n\n2+2?" });

    const unforced = applyProfileOverrides(r1, { forceThink: false });
    expect(ensurePromptSuffix(unforced, "<｜Assistant｜>")).toBe("<｜Assistant｜>");
    expect(ensurePromptSuffix(r1, "<｜Assistant｜>")).toBe("<｜Assistant｜><think>\n");

    expect(applyProfileOverrides(r1, { reasoningSplit: false }).splitReasoning).toBe(false);
    expect(applyProfileOverrides(r1, { repetitionGuard: false }).repetitionGuard).toBeUndefined();
    expect(applyProfileOverrides(r1, { turnEndStop: false }).stop).toEqual([]);
    expect(applyProfileOverrides(phi, { turnEndStop: false }).stop).toEqual([]);
    expect(r1.stop.length).toBeGreaterThan(0);
  });
  it("sets the guard's thresholds, and turns the guard on for a profile without one", () => {
    const strict = applyProfileOverrides(r1, { repetitionMinRepeats: 3, repetitionShortMinLength: 0 });
    expect(strict.repetitionGuard).toMatchObject({
      minPeriod: 8,
      maxPeriod: 200,
      minRepeats: 3,
      shortMinLength: 0,
    });
    const guard = createRepetitionGuard(strict.repetitionGuard);
    expect(guard.push("Wait, ".repeat(200))).toBe(false); // the short rule is off
    expect(guard.push("Let me check that again. ".repeat(3))).toBe(true);
    expect(applyProfileOverrides(phi, { repetitionGuard: true }).repetitionGuard).toMatchObject({
      minRepeats: 10,
    });
  });
  it("refuses to turn on what the profile cannot do, naming the option", () => {
    expect(() => applyProfileOverrides(phi, { forceThink: true })).toThrow(
      "--profile-option force-think: the phi-3 profile has no reasoning tags; choose another with --profile",
    );
    expect(() => applyProfileOverrides(generic, { reasoningSplit: true })).toThrow(/reasoning-split/);
    expect(() => applyProfileOverrides(generic, { turnEndStop: true })).toThrow(/turn-end-stop/);
    expect(() => applyProfileOverrides(phi, { repetitionMinRepeats: 4 })).toThrow(
      "--profile-option repetition-min-repeats: the repetition guard is off in the phi-3 profile; add repetition-guard=true",
    );
    expect(() => applyProfileOverrides(r1, { repetitionGuard: false, repetitionMinPeriod: 4 })).toThrow(
      /repetition guard is off; add repetition-guard=true/,
    );
    expect(() => applyProfileOverrides(r1, { repetitionMaxPeriod: 5 })).toThrow(
      /repetition-max-period: must be >= repetition-min-period \(8\)/,
    );
    // turning off what is already off is fine
    expect(
      applyProfileOverrides(phi, { forceThink: false, reasoningSplit: false }).promptSuffix,
    ).toBeUndefined();
  });
});

describe("--help and compare", () => {
  it("lists every key with the defaults of each profile", () => {
    const help = profileOptionsHelp();
    for (const spec of profileOptionSpecs) expect(help).toContain(`${spec.key}=${spec.value}`);
    expect(help).toMatch(
      /temperature=<0-2\|unset> +temperature when a request sets none \(0\.6 \/ unset \/ unset\)/,
    );
    expect(help).toMatch(/repetition-guard=<bool> .*\(true \/ false \/ false\)/);
    expect(help).toMatch(/repetition-short-min-length=<n> .*\(128 \/ - \/ -\)/);
    expect(help).toMatch(/turn-end-stop=<bool> .*\(true \/ true \/ -\)/);
  });
  it("servelab serve --help shows them", async () => {
    const program = new Command("servelab").exitOverride();
    let out = "";
    program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    registerServeCommand(program);
    await expect(program.parseAsync(["serve", "--help"], { from: "user" })).rejects.toMatchObject({
      code: "commander.helpDisplayed",
    });
    expect(out).toContain("--profile-option <key=value>");
    expect(out).toContain(profileOptionsHelp());
  });
  it("a compare configuration's options reach serve as one --profile-option flag", () => {
    const args = serveArguments(
      {
        name: "r1-cold",
        engine: "embedded",
        model: "r1.gguf",
        options: { "profile-option": "temperature=0.2,repetition-guard=false" },
      },
      "r1.gguf",
      4,
    );
    const at = args.indexOf("--profile-option");
    expect(at).toBeGreaterThan(0);
    expect(parseProfileOptions([args[at + 1]!])).toEqual({ temperature: 0.2, repetitionGuard: false });
  });
});
