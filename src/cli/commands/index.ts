import type { Command } from "commander";
import { registerServeCommand } from "./serve.js";
import { registerDoctorCommand } from "./doctor.js";
import { registerSynthCommand } from "./synth.js";
import { registerInspectCommand } from "./inspect.js";
import { registerBenchCommand } from "./bench.js";
import { registerChatCommand } from "./chat.js";
import { registerCompareCommand } from "./compare.js";
import { registerReportCommand } from "./report.js";
import { registerStartCommand } from "./start.js";

/** Each command file exports one register function; the order here is the order in --help. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerStartCommand,
  registerServeCommand,
  registerDoctorCommand,
  registerSynthCommand,
  registerInspectCommand,
  registerBenchCommand,
  registerChatCommand,
  registerCompareCommand,
  registerReportCommand,
];
