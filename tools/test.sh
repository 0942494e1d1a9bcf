#!/usr/bin/env bash
# The whole test suite on a fresh machine: Debian packages, debug build of every product
# (the end-to-end tests run the built dinoc and dino-run), then swift test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-packages.sh
swift build
swift build --build-tests
swift test --skip-build
