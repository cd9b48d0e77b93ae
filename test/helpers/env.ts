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
export async function assertNothingLeft(vmIds: string[] = []): Promise<void> {
  const { SmolVM } = await import("../../dist/index.js");
  // With ids: only those VMs' QEMU processes count (others may legitimately run); without: any of ours.
  const ours = () => qemuProcesses().filter((l) => !vmIds.length || vmIds.some((id) => l.includes(`-name smolvm-${id},`)));
  // A killed process can take a moment to be reaped.
  for (let i = 0; i < 100 && ours().length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(ours(), [], "no QEMU process is left");
  const vmsDir = join(TEST_HOME, "vms");
  const left = existsSync(vmsDir) ? readdirSync(vmsDir) : [];
  for (const id of vmIds) assert.ok(!left.includes(id), `VM folder ${id} is removed`);
  const listed = (await SmolVM.list()).map((v) => v.vmId);
  for (const id of vmIds) assert.ok(!listed.includes(id), `state row ${id} is removed`);
}

/** Removes the test home; call from the file's last `after`. */
export function removeTestHome(): void {
  rmSync(TEST_HOME, { recursive: true, force: true });
}
