/** POSIX shell quoting and the small guest-side scripts smolvm sends over SSH. */

/** Quotes a value for a POSIX shell: single quotes, each embedded `'` written as `'\''`. Exact for any bytes. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Where persisted environment variables live in the guest; every command sources it. */
export const GUEST_ENV_FILE = "/etc/smolvm/env.sh";

/**
 * Wraps a user command line. The env file is sourced first (set -a exports what it sets), and the
 * command is tagged with SMOLVM_CMD_ID so a timeout can find and kill it and everything it started.
 * The user's text is appended verbatim on its own line, so its syntax is exactly its own.
 */
export function wrapCommand(command: string, cmdId: string): string {
  const prelude = `set -a; . ${GUEST_ENV_FILE} 2>/dev/null; set +a; export SMOLVM_CMD_ID=${cmdId}`;
  return `${prelude}${startsBackgroundJob(command) ? `; ${BACKGROUND_DRAIN}` : ""}\n${command}`;
}

/**
 * Background jobs inherit the channel's pipes. Once the command returns, dropbear closes them and the
 * job's next write (an http.server log line, say) dies of EPIPE. On exit, this leaves a drain that
 * reopens both pipes through /proc and discards what the jobs write until they close them. It waits a
 * second first so that it never competes with dropbear for the command's own last output.
 */
const BACKGROUND_DRAIN =
  "trap '(exec 5</proc/self/fd/1 6</proc/self/fd/2 >/dev/null 2>&1; sleep 1; cat <&5 >/dev/null & cat <&6 >/dev/null &) &' EXIT";

/** True when the command line has an `&` that is not part of `&&`, `>&`, `&>` or `<&`. */
export function startsBackgroundJob(command: string): boolean {
  return /&/.test(command.replace(/&&|[<>]&|&>/g, ""));
}

/** Kills every process tagged with the id (the command, its children and its background jobs). */
export function killCommandScript(cmdId: string): string {
  return `for p in $(grep -lsxz SMOLVM_CMD_ID=${cmdId} /proc/[0-9]*/environ | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done; true`;
}
