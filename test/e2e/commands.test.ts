/** Commands in a real guest: exit codes, streams, quoting, large output, background jobs, timeouts, env vars. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { assertNothingLeft, removeTestHome } from "../helpers/env.js";
import { SmolVM, CommandTimeoutError, CommandAbortedError, isSmolVMError } from "../../dist/index.js";

let vm: SmolVM;
before(async () => {
  vm = await SmolVM.create({ vmId: "cmds", memSizeMib: 256 });
});
after(async () => {
  await vm?.delete();
  await assertNothingLeft(["cmds"], { anyQemu: true });
  removeTestHome();
});

/** True while a process whose command line matches runs in the guest (matched here, not by pgrep in the guest). */
async function guestHas(pattern: string): Promise<boolean> {
  const ps = (await vm.run("ps -eo args=")).stdout.split("\n");
  return ps.some((line) => new RegExp(`^${pattern}`).test(line));
}

describe("run()", () => {
  test("exit codes are results, not errors", async () => {
    for (const code of [0, 1, 2, 42, 255]) {
      const r = await vm.run(`exit ${code}`);
      assert.equal(r.exitCode, code);
      assert.equal(r.ok, code === 0);
    }
    assert.equal((await vm.run("kill -9 $$")).exitCode, 137, "a signal death is 128 + signal");
    assert.equal((await vm.run("no-such-command")).exitCode, 127);
  });

  test("stdout and stderr stay apart, in order within each", async () => {
    const r = await vm.run("for i in 1 2 3; do echo out$i; echo err$i >&2; done");
    assert.equal(r.stdout, "out1\nout2\nout3\n");
    assert.equal(r.stderr, "err1\nerr2\nerr3\n");
  });

  test("quoting: quotes, $, backslashes, newlines and unicode round-trip", async () => {
    const tricky = `it's "quoted" $HOME \`x\` \\n back\\slash\nsecond line ünïcødé 🚀 %s`;
    const r = await vm.run(`cat <<'SMOLEOF'\n${tricky}\nSMOLEOF`);
    assert.equal(r.stdout, tricky + "\n");
    const r2 = await vm.run(`printf '%s' '${tricky.replace(/'/g, `'\\''`)}'`);
    assert.equal(r2.stdout, tricky);
  });

  test("binary output is byte-exact", async () => {
    const r = await vm.run("printf '\\000\\001\\377\\376abc\\000'");
    assert.deepEqual([...r.stdoutBytes], [0, 1, 255, 254, 97, 98, 99, 0]);
  });

  test("a 20 MB output arrives whole", async () => {
    const r = await vm.run("head -c 20000000 /dev/urandom | tee /tmp/big | sha256sum >&2; cat /tmp/big", { timeoutMs: 120_000 });
    assert.equal(r.stdoutBytes.length, 20_000_000);
    assert.equal(createHash("sha256").update(r.stdoutBytes).digest("hex"), r.stderr.split(" ")[0]);
  });

  test("large output can be streamed without keeping it (maxBufferBytes)", async () => {
    let streamed = 0;
    const r = await vm.run("head -c 5000000 /dev/zero", { maxBufferBytes: 1000, onStdout: (c) => (streamed += c.length) });
    assert.equal(streamed, 5_000_000);
    assert.equal(r.stdoutBytes.length, 1000);
    assert.equal(r.truncated, true);
  });

  test("background commands return promptly and keep running", async () => {
    for (const cmd of ["python3 -m http.server 8000 &", "python3 -m http.server 8001 > /dev/null 2>&1 &", "nohup sleep 300 > /tmp/n.log 2>&1 &"]) {
      const t0 = Date.now();
      const r = await vm.run(cmd, { timeoutMs: 10_000 });
      assert.equal(r.exitCode, 0);
      assert.ok(Date.now() - t0 < 3000, `${cmd} returned after ${Date.now() - t0} ms`);
    }
    let up = false;
    for (let i = 0; i < 50 && !up; i++) up = (await vm.run("python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')\"")).ok;
    assert.ok(up, "the backgrounded http.server answers");
    assert.ok(await guestHas("sleep 300"));
    await vm.run("pkill -f http.server; pkill -f 'sleep 300'");
  });

  test("a timeout kills the command and its children in the guest", async () => {
    const t0 = Date.now();
    await assert.rejects(vm.run("sleep 1000 & sleep 1001; echo never", { timeoutMs: 500 }), (e: unknown) => {
      assert.ok(e instanceof CommandTimeoutError);
      assert.equal(e.timedOut, true);
      assert.match(e.message, /timed out after 500 ms/);
      assert.ok(isSmolVMError(e));
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(await guestHas("sleep 100[01]"), false, "no sleep is left running");
  });

  test("an AbortSignal kills the command and keeps partial output", async () => {
    const ac = new AbortController();
    const p = vm.run("echo started; sleep 1002", { signal: ac.signal, onStdout: () => ac.abort(new Error("enough")) });
    await assert.rejects(p, (e: unknown) => e instanceof CommandAbortedError && e.aborted && e.stdout === "started\n");
    assert.equal(await guestHas("sleep 1002"), false);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(vm.run("true", { signal: pre.signal }), (e: unknown) => (e as Error).name === "AbortError");
  });

  test("the connection is reused: many commands in a row stay fast", async () => {
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) assert.equal((await vm.run(`echo ${i}`)).stdout, `${i}\n`);
    const r = await Promise.all([1, 2, 3, 4].map((i) => vm.run(`echo p${i}`)));
    assert.deepEqual(r.map((x) => x.stdout), ["p1\n", "p2\n", "p3\n", "p4\n"]);
    assert.ok(Date.now() - t0 < 20_000);
  });
});

describe("environment variables", () => {
  test("set, seen by later commands, listed, merged and unset; values round-trip exactly", async () => {
    const weird = `a 'b' "c" $d \`e\` \\f\nline2 ünï 🚀`;
    await vm.setEnvVars({ VM_ID: vm.vmId, WEIRD: weird, EMPTY: "" });
    assert.equal((await vm.run('printf %s "$VM_ID"')).stdout, "cmds");
    assert.equal((await vm.run('printf %s "$WEIRD"')).stdout, weird);
    assert.equal((await vm.run('python3 -c "import os; print(repr(os.environ[\'EMPTY\']))"')).stdout, "''\n", "exported to children");
    await vm.setEnvVars({ SECOND: "2" });
    assert.deepEqual(await vm.listEnvVars(), { VM_ID: "cmds", WEIRD: weird, EMPTY: "", SECOND: "2" });
    await vm.unsetEnvVars(["WEIRD", "NOT_SET"]);
    assert.deepEqual(Object.keys(await vm.listEnvVars()).sort(), ["EMPTY", "SECOND", "VM_ID"]);
    assert.equal((await vm.run('printf %s "${WEIRD-unset}"')).stdout, "unset");
  });

  test("bad names and values are refused, naming the problem", async () => {
    await assert.rejects(vm.setEnvVars({ "1BAD": "x" }), (e: unknown) => e instanceof RangeError && /1BAD/.test(e.message));
    await assert.rejects(vm.setEnvVars({ "A-B": "x" }), RangeError);
    await assert.rejects(vm.setEnvVars({ PATH: "x" }), (e: unknown) => e instanceof RangeError && /reserved/.test(e.message));
    await assert.rejects(vm.setEnvVars({ OK: 5 as unknown as string }), (e: unknown) => e instanceof TypeError && /OK/.test(e.message));
    await assert.rejects(vm.setEnvVars({ NUL: "a\0b" }), RangeError);
    await assert.rejects(vm.setEnvVars(null as unknown as Record<string, string>), TypeError);
    await assert.rejects(vm.unsetEnvVars("X" as unknown as string[]), TypeError);
  });
});

describe("bad arguments", () => {
  test("run() arguments", async () => {
    await assert.rejects(vm.run(42 as unknown as string), (e: unknown) => e instanceof TypeError && /command must be a string/.test(e.message));
    await assert.rejects(vm.run("  "), (e: unknown) => e instanceof RangeError && /command must not be empty/.test(e.message));
    await assert.rejects(vm.run("true", { timeoutMs: 0 }), (e: unknown) => e instanceof RangeError && /timeoutMs/.test(e.message));
    await assert.rejects(vm.run("true", { timeoutMs: 1.5 }), RangeError);
  });
});
