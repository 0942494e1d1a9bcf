#!/bin/sh
# tools/fuzz.sh [SECONDS] [SEED]: runs every fuzz target (plan reader, IR text, safetensors,
# image decoding, image-folder walking) for SECONDS each (default 60) from SEED (default:
# each target's own), on the corpus in Tests/Fuzz/Corpus. A hang or runaway memory fails the
# target with its seed and input; a crash ends the run (rerun with the printed seed).
set -eu
cd "$(dirname "$0")/.."
export DINO_FUZZ_SECONDS="${1:-60}"
if [ $# -ge 2 ]; then export DINO_FUZZ_SEED="$2"; fi
nice -n 10 swift build --build-tests
exec nice -n 10 swift test --skip-build \
  --filter 'PlanReaderFuzzTests|IRTextFuzzTests|SafeTensorsFuzzTests|ImageDecodeFuzzTests|FolderWalkFuzzTests'
