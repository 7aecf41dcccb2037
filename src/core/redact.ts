/**
 * Secrets out of what is recorded: command lines and plans end up in results.json, plan.json and reports
 * that people share.
 */

/** What is recorded in place of a secret. */
export const redactedValue = "(redacted)";

/** Whether a flag or option name holds a secret: api-key, upstream-api-key, token, secret, password. */
export function isSecretName(name: string): boolean {
  return /(?:api[-_]?key|token|secret|password)$/iu.test(name.replace(/^-+/u, ""));
}

/** `NAME=VALUE`, `--NAME=VALUE` or `--option=NAME=VALUE` with the value of a secret NAME hidden. */
function redactAssignment(arg: string): string {
  const eq = arg.indexOf("=");
  if (eq <= 0) return arg;
  const name = arg.slice(0, eq);
  if (!/^-{0,2}[\w-]+$/u.test(name)) return arg;
  if (isSecretName(name)) return `${name}=${redactedValue}`;
  const rest = arg.slice(eq + 1);
  const redacted = redactAssignment(rest);
  return redacted === rest ? arg : `${name}=${redacted}`;
}

/**
 * A command line with its secrets hidden: the value after a secret flag (`--api-key KEY`,
 * `--upstream-api-key KEY`), and secret assignments (`--api-key=KEY`, `--serve-option api-key=KEY`,
 * `--serve-option=api-key=KEY`).
 */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    const previous = argv[i - 1];
    if (previous !== undefined && /^--[\w-]+$/u.test(previous) && isSecretName(previous))
      return redactedValue;
    return redactAssignment(arg);
  });
}

/** `text` with every occurrence of the given secrets replaced. */
export function redactSecretValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(redactedValue);
  return out;
}
