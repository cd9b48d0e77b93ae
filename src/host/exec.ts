/** Runs host programs (apt-get, qemu-img, nft, ip, ...) and turns failures into `HostError`s. */
import { spawn, type SpawnOptions } from "node:child_process";
import { HostError } from "../errors.js";

export interface ExecOptions {
  input?: Buffer | string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Called with each chunk of stderr, for progress output of long steps. */
  onStderr?: (chunk: string) => void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and returns its exit code and output, without throwing on non-zero. */
export function execAllowFail(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { cwd: opts.cwd, env: opts.env, signal: opts.signal, stdio: ["pipe", "pipe", "pipe"] };
    const child = spawn(file, args, spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => {
      err.push(c);
      opts.onStderr?.(c.toString());
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") reject(new HostError(`${file} is not installed; run "smolvm setup" to install host prerequisites.`, { cause: e }));
      else reject(e);
    });
    child.on("close", (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin!.on("error", () => {});
    child.stdin!.end(opts.input ?? "");
  });
}

/** Runs a program and throws a `HostError` carrying its stderr when it exits non-zero. */
export async function exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execAllowFail(file, args, opts);
  if (r.code !== 0) {
    const detail = r.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new HostError(`${file} ${args.slice(0, 3).join(" ")} failed (exit ${r.code}): ${detail || "no output"}.`, {
      command: [file, ...args].join(" "),
    });
  }
  return r;
}
