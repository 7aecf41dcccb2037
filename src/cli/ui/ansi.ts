/** ANSI styling for the terminal commands, off when the output is not a TTY or NO_COLOR is set. */

export interface Styles {
  enabled: boolean;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** Styles for `stream`: colours only on a TTY without NO_COLOR (https://no-color.org). */
export function createStyles(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Styles {
  const enabled = stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
  const wrap = (open: string, close: string) => (text: string) =>
    enabled && text.length > 0 ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    dim: wrap("2", "22"),
    bold: wrap("1", "22"),
    red: wrap("31", "39"),
    yellow: wrap("33", "39"),
    cyan: wrap("36", "39"),
  };
}
