/** `doctor`: reports what smolvm will use on this host, each problem with its fix. */
import { resolvePaths, type SmolPaths } from "../paths.js";
import { execAllowFail } from "./exec.js";
import { chooseAccelerator, hostTscKhz } from "./accel.js";
import { HOST_PACKAGES, aptInstallCommand, which } from "./prereqs.js";
import { findImage } from "../image/build.js";
import { privilegedNetworking } from "../net/privilege.js";

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about it, when not ok. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

/** Runs every check; never throws. */
export async function doctor(paths: SmolPaths = resolvePaths()): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const qemu = await which("qemu-system-x86_64");
  if (qemu) {
    const v = await execAllowFail(qemu, ["--version"]);
    checks.push({ name: "qemu", ok: true, detail: v.stdout.split("\n")[0]!.trim() });
  } else {
    checks.push({ name: "qemu", ok: false, detail: "qemu-system-x86_64 not found", fix: aptInstallCommand(["qemu-system-x86"]) });
  }
  for (const p of HOST_PACKAGES.filter((p) => p.pkg !== "qemu-system-x86")) {
    const found = await which(p.binary);
    checks.push({ name: p.binary, ok: !!found, detail: found ? `${found} (${p.why})` : `missing: needed because it ${p.why}`, fix: found ? undefined : aptInstallCommand([p.pkg]) });
  }
  const accel = chooseAccelerator();
  checks.push({
    name: "accelerator", ok: true,
    detail: `${accel.accel}: ${accel.reason}${accel.accel === "tcg" ? `; TCG with tsc_early_khz=${hostTscKhz() ?? "unknown"}` : ""}`,
  });
  const net = await privilegedNetworking();
  checks.push({
    name: "networking", ok: true,
    detail: `user (QEMU user networking, restrict=on, SSH on 127.0.0.1); namespace/nftables ability: ${net.ok ? "yes" : "no"} (${net.reason})`,
  });
  const image = await findImage(paths.images);
  checks.push({
    name: "image", ok: !!image,
    detail: image ? `${image.name}-${image.fingerprint} (kernel ${image.manifest.kernel.version}, built ${image.manifest.builtAt})` : `default image not built yet (cache: ${paths.images})`,
    fix: image ? undefined : "smolvm image build (as root; it is also built on first use)",
  });
  return { ok: checks.every((c) => c.ok), checks };
}
