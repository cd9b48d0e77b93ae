/**
 * SSH keys: one ed25519 client key per user (created on first use, 0600, never a password), and one
 * host key per VM, generated here and handed to the guest's dropbear so the host knows what to pin.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";

export interface UserKey {
  privateKey: string;
  /** OpenSSH public key line, as it goes into the guest's authorized_keys. */
  publicKey: string;
  path: string;
}

/** Loads the per-user key from `keysDir`, creating it atomically the first time. */
export function loadOrCreateUserKey(keysDir: string): UserKey {
  const path = join(keysDir, "id_ed25519");
  try {
    return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim(), path };
  } catch {
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "smolvm" });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(`${tmp}.pub`, pair.public + "\n", { mode: 0o644 });
    writeFileSync(tmp, pair.private, { mode: 0o600 });
    // Public half first, so a reader that finds the private key always finds both.
    renameSync(`${tmp}.pub`, `${path}.pub`);
    renameSync(tmp, path);
    return loadOrCreateUserKey(keysDir);
  }
}

export interface HostKey {
  /** The private key in dropbear's own format, base64 (small enough for the kernel command line). */
  dropbearBase64: string;
  /** The public key blob (SSH wire format), base64: what the host verifier compares. */
  publicBlobBase64: string;
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A fresh ed25519 host key for one VM. */
export function generateHostKey(): HostKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const pub = Buffer.from(jwk.x!, "base64url");
  const type = Buffer.from("ssh-ed25519");
  // dropbear stores string("ssh-ed25519") + string(seed || public).
  const dropbear = Buffer.concat([sshString(type), sshString(Buffer.concat([seed, pub]))]);
  return {
    dropbearBase64: dropbear.toString("base64"),
    publicBlobBase64: Buffer.concat([sshString(type), sshString(pub)]).toString("base64"),
  };
}
