/** The `smolvm` CLI as a script would use it: --json output, exit codes, a VM that outlives the command. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { assertNothingLeft, qemuProcesses, removeTestHome } from "../helpers/env.js";

after(async () => {
  await assertNothingLeft(["clivm"], { anyQemu: true });
  removeTestHome();
});

function smolvm(...args: string[]) {
  const r = spawnSync(process.execPath, ["dist/cli/main.js", ...args], { env: process.env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("create → list → run → stop → delete through the CLI", () => {
  const created = smolvm("create", "--name", "clivm", "--mem", "256", "--json");
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).status, "running");
  assert.equal(qemuProcesses().length, 1, "the VM keeps running after the CLI exited");

  const list = JSON.parse(smolvm("list", "--json").stdout);
  assert.deepEqual(list.map((v: { vmId: string; status: string }) => [v.vmId, v.status]), [["clivm", "running"]]);

  const run = smolvm("run", "clivm", "--", "echo out; echo err >&2; exit 7");
  assert.deepEqual([run.code, run.stdout, run.stderr], [7, "out\n", "err\n"]);
  const json = JSON.parse(smolvm("run", "clivm", "--json", "--", "printf '%s' \"it's\"").stdout);
  assert.deepEqual([json.exitCode, json.stdout], [0, "it's"]);

  assert.equal(smolvm("stop", "clivm").code, 0);
  const stopped = smolvm("run", "clivm", "--", "true");
  assert.equal(stopped.code, 125);
  assert.match(stopped.stderr, /Cannot run command: VM is stopped/);
  assert.equal(smolvm("delete", "clivm").code, 0);
  assert.deepEqual(JSON.parse(smolvm("list", "--json").stdout), []);
});

test("exit codes: unknown VM 4, bad arguments 2, with a message naming the problem", () => {
  const missing = smolvm("run", "nope", "--", "true");
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /No VM named nope exists/);
  assert.equal(smolvm("stop", "nope").code, 4);
  const badMem = smolvm("create", "--mem", "5");
  assert.equal(badMem.code, 2);
  assert.match(badMem.stderr, /memSizeMib must be 128-65536, got 5/);
  assert.equal(smolvm("create", "--mem", "lots").code, 2);
  assert.equal(smolvm("delete").code, 2);
  assert.equal(smolvm("no-such-command").code, 2);
  assert.equal(qemuProcesses().length, 0);
});

test("doctor --json reports the accelerator with its reason, and help is there", () => {
  const r = smolvm("doctor", "--json");
  const report = JSON.parse(r.stdout);
  const accel = report.checks.find((c: { name: string }) => c.name === "accelerator");
  assert.match(accel.detail, /^(kvm|tcg): /);
  assert.equal(report.checks.find((c: { name: string }) => c.name === "image").ok, true);
  assert.match(smolvm("--help").stdout, /create .*\n[\s\S]*run /);
});
