import type { Command } from "commander";
import { registerServeCommand } from "./serve.js";
import { registerDoctorCommand } from "./doctor.js";
import { registerSynthCommand } from "./synth.js";
import { registerInspectCommand } from "./inspect.js";
import { registerBenchCommand } from "./bench.js";
import { registerChatCommand } from "./chat.js";

/** Each command file exports one register function; the order here is the order in --help. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerServeCommand,
  registerDoctorCommand,
  registerSynthCommand,
  registerInspectCommand,
  registerBenchCommand,
  registerChatCommand,
];
