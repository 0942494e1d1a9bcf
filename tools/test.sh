#!/usr/bin/env bash
# The whole test suite on a fresh machine: Debian packages, debug build of every product
# (the end-to-end tests run the built dinoc and dino-run), then the XCTest suite.
# Ends with one summary line, "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-packages.sh
# A target importing a module it does not declare fails the build (the executor,
# DinoRuntime, must not reach DinoData; see also ModuleGraphTests).
swift build --explicit-target-dependency-import-check error
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^Test Suite 'All tests' (passed|failed)" -A1 "$log" | grep -oE "Executed [0-9]+ tests?, with [0-9]+ failures?" | tail -1)
executed=$(echo "$summary" | grep -oE "Executed [0-9]+" | grep -oE "[0-9]+" || true)
failures=$(echo "$summary" | grep -oE "with [0-9]+" | grep -oE "[0-9]+" || true)
if [ -z "$executed" ]; then
  echo "no XCTest summary found"
  exit 1
fi
echo "$((executed - failures)) passed, $failures failed"
if [ "$failures" -ne 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
