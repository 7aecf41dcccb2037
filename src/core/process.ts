/**
 * Child-process supervision: start a server (vLLM and the like) in its own process group, keep its
 * output in a log file and a tail buffer, stop it gracefully (SIGINT, then SIGKILL after a grace
 * period) with all of its children, and make sure no group survives servelab itself.
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from "node:fs";
import type { WriteStream } from "node:fs";
import { dirname } from "node:path";
import { ServelabError } from "./errors.js";

export interface ProcessExit {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnSupervisedOptions {
  command: string;
  args: readonly string[];
  /** The environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File that receives stdout and stderr (appended, directories created). */
  logFile?: string;
  /** Called with each complete output line (without the newline). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Lines kept in memory for {@link SupervisedProcess.tail} (default 200). */
  tailLines?: number;
}

export interface StopOptions {
  /** Milliseconds between the first signal and SIGKILL (default 10 000). */
  graceMs?: number;
  /** The first signal (default SIGINT, what vLLM handles as Ctrl-C). */
  signal?: NodeJS.Signals;
}

/** A running child that leads its own process group. */
export interface SupervisedProcess extends AsyncDisposable {
  readonly pid: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string | undefined;
  /** Resolves when the group leader exits (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** The exit, once it happened. */
  readonly exit: ProcessExit | undefined;
  isRunning(): boolean;
  /** The last output lines, oldest first. */
  tail(count?: number): string[];
  /** Signals the whole group, waits up to the grace period for the leader and every member to go, then
   * SIGKILLs the group. Resolves with the leader's exit. Safe to call more than once. */
  stop(options?: StopOptions): Promise<ProcessExit>;
  /** SIGKILLs the whole group now. */
  kill(): void;
}

/** Groups alive now, killed when this process exits or is interrupted. */
const liveGroups = new Set<number>();
let reapersInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group is still alive (zombies count as gone). */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  // kill(0) succeeds on zombies; on Linux, look for a member that is not one.
  try {
    for (const pid of listGroupMembers(pgid)) {
      if (isProcessAlive(pid)) return true;
    }
    return false;
  } catch {
    return true;
  }
}

/** Whether a process is alive: exists and (on Linux) is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function listGroupMembers(pgid: number): number[] {
  // /proc/<pid>/stat field 5 is the process group id.
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

function onParentExit(): void {
  for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
  liveGroups.clear();
}

function onParentSignal(signal: NodeJS.Signals): void {
  // Someone else (the CLI) handles this signal and will dispose engines gracefully: start the graceful
  // stop here, the exit handler SIGKILLs whatever is left. Alone, do what the default would have done.
  const others = process.listeners(signal).filter((l) => l !== signalHandlers[signal]);
  if (others.length > 0) {
    for (const pgid of liveGroups) killGroup(pgid, "SIGINT");
    return;
  }
  onParentExit();
  uninstallReapers();
  process.kill(process.pid, signal);
}

const signalHandlers: Partial<Record<NodeJS.Signals, () => void>> = {
  SIGINT: () => onParentSignal("SIGINT"),
  SIGTERM: () => onParentSignal("SIGTERM"),
  SIGHUP: () => onParentSignal("SIGHUP"),
};

function installReapers(): void {
  if (reapersInstalled) return;
  reapersInstalled = true;
  process.on("exit", onParentExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) process.on(signal, handler);
}

function uninstallReapers(): void {
  if (!reapersInstalled || liveGroups.size > 0) return;
  reapersInstalled = false;
  process.removeListener("exit", onParentExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) process.removeListener(signal, handler);
}

/**
 * Starts `command` as the leader of a new process group, piping its output to the log file, the tail
 * buffer and `onLine`. Rejects when it cannot be started (ENOENT, EACCES: `code` is on the error).
 */
export function spawnSupervised(options: SpawnSupervisedOptions): Promise<SupervisedProcess> {
  const tailLimit = options.tailLines ?? 200;
  const tailBuffer: string[] = [];
  let log: WriteStream | undefined;
  if (options.logFile !== undefined) {
    try {
      mkdirSync(dirname(options.logFile), { recursive: true });
    } catch (err) {
      return Promise.reject(
        new ServelabError("IO_FAILED", `cannot create the log directory for ${options.logFile}`, {
          cause: err,
        }),
      );
    }
    log = createWriteStream(options.logFile, { flags: "a" });
    // A failing log file must not take the server down with it.
    log.on("error", () => undefined);
  }

  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    log?.end();
    return Promise.reject(err as Error);
  }

  const pushLine = (line: string, stream: "stdout" | "stderr"): void => {
    tailBuffer.push(line);
    if (tailBuffer.length > tailLimit) tailBuffer.shift();
    options.onLine?.(line, stream);
  };
  for (const stream of ["stdout", "stderr"] as const) {
    let partial = "";
    const readable = child[stream];
    if (readable === null) continue;
    readable.setEncoding("utf8");
    readable.on("data", (chunk: string) => {
      log?.write(chunk);
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? "";
      for (const line of lines) pushLine(line, stream);
    });
    readable.on("end", () => {
      if (partial !== "") pushLine(partial, stream);
      partial = "";
    });
  }

  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      log?.end();
      reject(err);
    });
    child.once("spawn", () => {
      const pid = child.pid as number;
      liveGroups.add(pid);
      installReapers();
      let exit: ProcessExit | undefined;
      // 'exit', not 'close': grandchildren holding the pipes open must not delay it.
      const exited = new Promise<ProcessExit>((resolveExit) => {
        child.once("exit", (code, signal) => {
          exit = { code, signal };
          resolveExit(exit);
        });
      });
      let stopping: Promise<ProcessExit> | undefined;
      const forget = (): void => {
        liveGroups.delete(pid);
        uninstallReapers();
        // Flush after the pipes drained (or soon, if grandchildren hold them open).
        const endLog = (): void => void log?.end();
        const timer = setTimeout(endLog, 200);
        timer.unref();
        child.once("close", () => {
          clearTimeout(timer);
          endLog();
        });
      };
      const supervised: SupervisedProcess = {
        pid,
        command: options.command,
        args: options.args,
        logFile: options.logFile,
        exited,
        get exit() {
          return exit;
        },
        isRunning: () => exit === undefined,
        tail: (count = tailLimit) => tailBuffer.slice(-count),
        kill: () => {
          killGroup(pid, "SIGKILL");
        },
        stop: (stopOptions = {}) => {
          stopping ??= (async () => {
            const graceMs = stopOptions.graceMs ?? 10_000;
            if (isGroupAlive(pid)) killGroup(pid, stopOptions.signal ?? "SIGINT");
            const deadline = Date.now() + graceMs;
            let delay = 10;
            while (Date.now() < deadline && isGroupAlive(pid)) {
              await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
              delay = Math.min(delay * 2, 200);
            }
            killGroup(pid, "SIGKILL");
            const result = await exited;
            // The leader is gone; make sure SIGKILLed members are too before we report stopped.
            for (let i = 0; i < 100 && isGroupAlive(pid); i++) await sleep(10);
            forget();
            return result;
          })();
          return stopping;
        },
        [Symbol.asyncDispose]: async () => {
          await supervised.stop();
        },
      };
      // A leader that exits on its own may leave members behind: kill them, then forget the group.
      void exited.then(() => {
        if (stopping !== undefined) return;
        killGroup(pid, "SIGKILL");
        forget();
      });
      resolve(supervised);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
