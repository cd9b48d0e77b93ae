/**
 * Test isolation: every test process gets its own SMOLVM_HOME (state, VM folders, keys) and shares the
 * image cache. Import this first in every e2e test file.
 */
import { mkdtempSync, rmSync, existsSync, readdirSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";

export const TEST_HOME = mkdtempSync(join(tmpdir(), "smolvm-test-"));
process.env.SMOLVM_HOME = TEST_HOME;
process.env.SMOLVM_IMAGE_DIR ||= join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "smolvm", "images");

/** QEMU processes started from this test home (their command line names its paths). */
export function qemuProcesses(): string[] {
  let out = "";
  try {
    out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  } catch {
    return [];
  }
  return out.split("\n").filter((l) => l.includes("qemu-system") && l.includes(TEST_HOME));
}

/** Asserts that nothing of the given VMs is left: no QEMU process, no VM folder, no state row. */
export async function assertNothingLeft(vmIds: string[] = [], opts: { anyQemu?: boolean } = {}): Promise<void> {
  const { SmolVM } = await import("../../dist/index.js");
  // With ids: only those VMs' QEMU processes count (others may legitimately run); without: any of ours.
  const ours = () => qemuProcesses().filter((l) => opts.anyQemu || !vmIds.length || vmIds.some((id) => l.includes(`-name smolvm-${id},`)));
  // A killed process can take a moment to be reaped.
  for (let i = 0; i < 100 && ours().length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(ours(), [], "no QEMU process is left");
  const vmsDir = join(TEST_HOME, "vms");
  const left = existsSync(vmsDir) ? readdirSync(vmsDir) : [];
  for (const id of vmIds) assert.ok(!left.includes(id), `VM folder ${id} is removed`);
  const listed = (await SmolVM.list()).map((v) => v.vmId);
  for (const id of vmIds) assert.ok(!listed.includes(id), `state row ${id} is removed`);
  const netns = run("ip", ["netns", "list"]);
  const tables = run("nft", ["list", "tables"]);
  for (const id of vmIds) {
    assert.ok(!new RegExp(`^smolvm-${id}( |$)`, "m").test(netns), `netns smolvm-${id} is removed`);
    assert.ok(!new RegExp(`^table ip smolvm_${id.replace(/-/g, "_")}$`, "m").test(tables), `nft table of ${id} is removed`);
  }
  // A VM's veth pair dies with its namespace, so the netns check covers it.
}

/** Runs a host command and returns stdout ("" when it fails, e.g. without privileges). */
export function run(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

/** True when this process can use namespace networking and nftables (root or CAP_NET_ADMIN). */
export const PRIVILEGED = process.getuid?.() === 0;

/** Removes the test home; call from the file's last `after`. */
export function removeTestHome(): void {
  rmSync(TEST_HOME, { recursive: true, force: true });
}
