/** The QEMU command line and kernel command line: the settings measured as mandatory under TCG. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelCmdline, qemuArgs } from "../../dist/vmm/qemu-args.js";
import { chooseAccelerator } from "../../dist/host/accel.js";

const base = {
  vmId: "t", kernelPath: "/k", initrdPath: "/i", diskPath: "/d.qcow2", memSizeMib: 256, vcpuCount: 1,
  cmdline: "console=ttyS0", serialLogPath: "/s.log", qmpSocketPath: "/q.sock", vmmLogPath: "/v.log",
};

test("TCG: microvm, +arat, bounded translation cache, no defaults, CoW disk, restricted user net", () => {
  const a = qemuArgs({ ...base, accel: "tcg", nic: { kind: "user", sshHostPort: 2222 } });
  const s = a.join(" ");
  assert.match(s, /-M microvm/);
  assert.match(s, /-accel tcg,tb-size=\d+/);
  assert.match(s, /-cpu qemu64,\+arat/);
  assert.ok(a.includes("-nodefaults"));
  assert.match(s, /format=qcow2,file=\/d\.qcow2/);
  assert.match(s, /-netdev user,id=n0,restrict=on,hostfwd=tcp:127\.0\.0\.1:2222-:22/);
  assert.match(s, /-qmp unix:\/q\.sock,server=on,wait=off/);
});

test("KVM: host CPU, no TCG options", () => {
  const s = qemuArgs({ ...base, accel: "kvm", nic: { kind: "tap", ifname: "tap0", mac: "52:54:00:00:00:01" } }).join(" ");
  assert.match(s, /-accel kvm -cpu host/);
  assert.doesNotMatch(s, /tb-size|\+arat/);
  assert.match(s, /-netdev tap,id=n0,ifname=tap0,script=no,downscript=no/);
});

test("kernel command line: tsc_early_khz only under TCG, smol.* words, extra args last", () => {
  assert.equal(
    kernelCmdline({ accel: "tcg", tscKhz: 2596142, smol: { ip: "10.0.2.15/24" }, extra: "foo=1" }),
    "console=ttyS0 panic=-1 quiet tsc_early_khz=2596142 smol.ip=10.0.2.15/24 foo=1",
  );
  assert.doesNotMatch(kernelCmdline({ accel: "kvm", tscKhz: 1, smol: {} }), /tsc_early_khz/);
});

test("accelerator: SMOLVM_ACCEL overrides, kvm_pvm hosts get TCG", () => {
  assert.deepEqual(chooseAccelerator({ SMOLVM_ACCEL: "tcg" }), { accel: "tcg", reason: "SMOLVM_ACCEL=tcg" });
  const auto = chooseAccelerator({});
  assert.ok(["kvm", "tcg"].includes(auto.accel));
  assert.ok(auto.reason.length > 0);
});

test("user networking: restrict=off only when the VM asks for internet", () => {
  const on = qemuArgs({ ...base, accel: "tcg", nic: { kind: "user", sshHostPort: 1, internet: true } }).join(" ");
  assert.match(on, /-netdev user,id=n0,restrict=off,/);
});
