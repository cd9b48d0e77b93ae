/**
 * `smolvm/build`: guest images. Build, find, list and remove cached images, and the boot arguments a
 * custom image needs.
 * @module
 */
export { ensureImage, findImage, type EnsureImageOptions, type ProgressListener } from "./image/build.js";
export { listImages, removeImage, type GuestImage, type ImageManifest } from "./image/cache.js";
export { DEFAULT_IMAGE, fingerprint, type ImageSpec } from "./image/spec.js";

/**
 * Kernel arguments for booting an SSH-capable smolvm root filesystem directly, with a kernel that has
 * virtio built in and no initramfs: the rootfs's /sbin/smol-init starts dropbear and prints the
 * readiness marker. With the default kernel and initramfs they are not needed.
 */
export const SSH_BOOT_ARGS = "root=/dev/vda rw rootfstype=ext4 init=/sbin/smol-init";
