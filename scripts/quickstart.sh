#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu checkout to a first command in a microVM:
# host packages (apt, as root), npm ci, build, the default guest image, then boot → run → tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error
echo "==> build" >&2
npm run --silent build
echo "==> smolvm setup (host packages, guest image)" >&2
node dist/cli/main.js setup
if [ "${1:-}" != "--no-demo" ]; then
  echo "==> smolvm once: boot a VM, run a command, tear it down" >&2
  node dist/cli/main.js once -- 'uname -a; python3 --version'
fi
