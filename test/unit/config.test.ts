/** VMConfig validation: every bad field is refused with an error naming it and its range. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SmolVM } from "../../dist/index.js";
import { resolveConfig } from "../../dist/config.js";

test("defaults", () => {
  const c = resolveConfig();
  assert.equal(c.memSizeMib, 512);
  assert.equal(c.vcpuCount, 1);
  assert.equal(c.network, "auto");
  assert.match(c.vmId, /^vm-[0-9a-f]{8}$/);
});

test("bad fields throw RangeError/TypeError naming the field and its range", () => {
  const cases: Array<[Record<string, unknown>, ErrorConstructor, RegExp]> = [
    [{ memSizeMib: 5 }, RangeError, /^memSizeMib must be 128-65536, got 5$/],
    [{ memSizeMib: 70000 }, RangeError, /memSizeMib must be 128-65536/],
    [{ memSizeMib: 256.5 }, TypeError, /memSizeMib must be an integer 128-65536/],
    [{ memSizeMib: "512" }, TypeError, /memSizeMib must be an integer.*string/],
    [{ vcpuCount: 0 }, RangeError, /vcpuCount must be 1-64, got 0/],
    [{ vmId: "has space" }, RangeError, /vmId must be 1-40 letters/],
    [{ vmId: "-dash" }, RangeError, /vmId/],
    [{ vmId: "x".repeat(41) }, RangeError, /vmId/],
    [{ vmId: 7 }, TypeError, /vmId must be a string/],
    [{ network: "bridge" }, RangeError, /network must be "auto", "user" or "tap", got "bridge"/],
    [{ bootTimeoutMs: 10 }, RangeError, /bootTimeoutMs must be 1000-3600000/],
    [{ kernelPath: "" }, TypeError, /kernelPath must be a non-empty string/],
    [{ initrdPath: "/x" }, TypeError, /initrdPath needs kernelPath/],
    [{ bootArgs: 3 }, TypeError, /bootArgs must be a string/],
    [{ internet: "yes" }, TypeError, /internet must be a boolean, got string/],
    [{ memsizemib: 512 }, TypeError, /Unknown VMConfig option "memsizemib"/],
  ];
  for (const [input, type, message] of cases) {
    assert.throws(() => new SmolVM(input as never), (e: unknown) => e instanceof type && message.test((e as Error).message), JSON.stringify(input));
  }
  assert.throws(() => new SmolVM(null as never), TypeError);
});
