/** CLI output: results on stdout (tables or --json), progress and errors on stderr, one error formatter. */
import { VMNotFoundError } from "../errors.js";

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 4, commandCouldNotRun: 125 } as const;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => String(r[c] ?? "-")))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Prints an error as one line (stack only with DEBUG set) and returns the exit code for it. */
export function reportError(e: unknown): number {
  const err = e as Error;
  process.stderr.write(`smolvm: ${err?.message ?? String(e)}\n`);
  if (process.env.DEBUG && err?.stack) process.stderr.write(`${err.stack}\n`);
  if (e instanceof VMNotFoundError) return EXIT.notFound;
  if (e instanceof TypeError || e instanceof RangeError) return EXIT.usage;
  return EXIT.failure;
}

/** Parses an integer option, naming it in the error. */
export function intOption(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new TypeError(`${name} must be an integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}
