/** Shell quoting and the env file format, checked against a real /bin/sh on the host. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { shellQuote } from "../../dist/guest/shell.js";
import { generateHostKey } from "../../dist/guest/keys.js";

test("shellQuote round-trips any text through sh", () => {
  for (const v of ["", "plain", "it's", "'", "''", `"$HOME" \`id\` \\ \n ünï 🚀`, "a\tb", "-n"]) {
    assert.equal(execFileSync("sh", ["-c", `printf '%s' ${shellQuote(v)}`], { encoding: "utf8" }), v);
  }
});

test("host keys: dropbear blob embeds the public key that is pinned", () => {
  const k = generateHostKey();
  const priv = Buffer.from(k.dropbearBase64, "base64");
  const pub = Buffer.from(k.publicBlobBase64, "base64");
  assert.equal(priv.readUInt32BE(0), 11);
  assert.equal(priv.subarray(4, 15).toString(), "ssh-ed25519");
  assert.equal(priv.readUInt32BE(15), 64);
  assert.deepEqual(priv.subarray(19 + 32), pub.subarray(19), "the public half matches");
  assert.notEqual(generateHostKey().publicBlobBase64, k.publicBlobBase64);
});

test("background-job detection ignores &&, >&, &> and <&", async () => {
  const { startsBackgroundJob } = await import("../../dist/guest/shell.js");
  for (const c of ["server &", "a & b", "python3 -m http.server 8000 > /dev/null 2>&1 &", "(x &)"]) assert.equal(startsBackgroundJob(c), true, c);
  for (const c of ["a && b", "cmd 2>&1", "cmd &> f", "cmd <&3", "true"]) assert.equal(startsBackgroundJob(c), false, c);
});
