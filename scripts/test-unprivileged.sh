#!/usr/bin/env bash
# Runs the port-forwarding tests as an unprivileged user (created if missing), where nftables and
# namespaces are out of reach and the SSH tunnel is the only transport. Needs root to set up; the image
# must be in a cache that user can read (SMOLVM_IMAGE_DIR, e.g. /var/cache/smolvm/images).
set -euo pipefail
cd "$(dirname "$0")/.."
user=smolvm-ci
: "${SMOLVM_IMAGE_DIR:?set SMOLVM_IMAGE_DIR to an image cache readable by $user}"
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
work=$(mktemp -d /tmp/smolvm-unpriv-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The checkout may sit in a folder the user cannot enter (/root): test a copy of the built tree.
cp -a package.json dist guest test node_modules tsconfig.json "$work/"
chown -R "$user" "$work"
chmod 755 "$work"
cd "$work"
runuser -u "$user" -- env -i PATH="$PATH" HOME="/home/$user" SMOLVM_IMAGE_DIR="$SMOLVM_IMAGE_DIR" CI="${CI:-}" \
  node --import tsx --test --test-concurrency=1 test/e2e/forward.test.ts
