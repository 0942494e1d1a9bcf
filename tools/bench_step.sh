#!/bin/sh
# tools/bench_step.sh — training-step throughput of dino next to the official PyTorch DINO.
#
# Builds dinoc, DinoDSL and dino-run in release mode, compiles the two benchmark configs of
# docs/PLATFORM.md §5 (fmnist: Samples/fashion_mnist.swift defaults; tiny224:
# Samples/vit_tiny_dino.swift defaults, batch 8), then for each (config, threads) runs
# `dino-run benchmark` and tools/bench_step_torch.py REPEATS times, alternating, and prints
# the median over the repeats of each run's median images/s and matmul GFLOP/s, the peak
# resident memory of each whole process (GNU time's maximum RSS; the largest over the
# repeats), and the ratios dino/PyTorch of speed and of memory.
#
# Usage: tools/bench_step.sh [path/to/facebookresearch/dino]
#   The official code's checkout: the argument, else $DINO_REPO (required unless TORCH=0).
#   Needs GNU time (/usr/bin/time, Debian package `time`). Other settings
#   (environment, with defaults):
#   REPEATS=3  CONFIGS="fmnist tiny224"  THREADS="1 2"
#   FMNIST_STEPS=5  TINY_STEPS=3  WARMUP=1  TORCH=1 (0: dino only)  LOG=/tmp/bench_step.log
#   LIMIT_FMNIST=500M LIMIT_TINY224=900M (optional: also compile the config with
#   `dinoc compile --memory-limit`, run that plan right after the default one each repeat,
#   and print its images/s, peak RSS and RSS ratio to PyTorch in three more columns)
#   BASE_RUN=path/to/another/dino-run (optional: also run it each repeat for a before/after
#   column; e.g. a release build of an earlier commit). When a dinoc sits next to it (a
#   release build folder), the base plans are compiled by that dinoc, so a base whose op
#   table differs (plans record its fingerprint) runs its own plans of the same configs.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
REPEATS=${REPEATS:-3}
CONFIGS=${CONFIGS:-"fmnist tiny224"}
THREADS=${THREADS:-"1 2"}
DINO_REPO=${1:-${DINO_REPO:-}}
FMNIST_STEPS=${FMNIST_STEPS:-5}
TINY_STEPS=${TINY_STEPS:-3}
WARMUP=${WARMUP:-1}
TORCH=${TORCH:-1}
LOG=${LOG:-${TMPDIR:-/tmp}/bench_step.log}
plans=${TMPDIR:-/tmp}/dino_bench_step
if [ "$TORCH" = 1 ] && [ ! -f "$DINO_REPO/main_dino.py" ]; then
  echo "bench_step.sh: error: DINO_REPO='$DINO_REPO' is not a facebookresearch/dino checkout" \
    "(no main_dino.py); set DINO_REPO to one, or TORCH=0 to time dino alone" >&2
  exit 2
fi
if ! /usr/bin/time -f '%M' true 2>/dev/null; then
  echo "bench_step.sh: error: GNU time (/usr/bin/time) is missing; install it:" \
    "apt-get install time (or tools/install-packages.sh)" >&2
  exit 2
fi
mkdir -p "$plans"
: > "$LOG"

cd "$root"
swift build -c release --product dinoc >/dev/null
swift build -c release --product DinoDSL >/dev/null
swift build -c release --product dino-run >/dev/null
bin=$(swift build -c release --show-bin-path)
"$bin/dinoc" compile Samples/fashion_mnist.swift -o "$plans/fmnist.plan.bin"
"$bin/dinoc" compile Samples/vit_tiny_dino.swift -o "$plans/tiny224.plan.bin"
LIMIT_FMNIST=${LIMIT_FMNIST:-}
LIMIT_TINY224=${LIMIT_TINY224:-}
# the --memory-limit of config $1 (empty: none)
limit_of() { if [ "$1" = fmnist ]; then echo "$LIMIT_FMNIST"; else echo "$LIMIT_TINY224"; fi; }
[ -n "$LIMIT_FMNIST" ] && "$bin/dinoc" compile Samples/fashion_mnist.swift \
  -o "$plans/fmnist.limit.plan.bin" --memory-limit "$LIMIT_FMNIST"
[ -n "$LIMIT_TINY224" ] && "$bin/dinoc" compile Samples/vit_tiny_dino.swift \
  -o "$plans/tiny224.limit.plan.bin" --memory-limit "$LIMIT_TINY224"
base_plan=$plans  # where BASE_RUN's plans are: ours, or its own dinoc's
if [ -n "$BASE_RUN" ] && [ -x "$(dirname "$BASE_RUN")/dinoc" ]; then
  base_plan=$plans/base
  mkdir -p "$base_plan"
  "$(dirname "$BASE_RUN")/dinoc" compile Samples/fashion_mnist.swift -o "$base_plan/fmnist.plan.bin"
  "$(dirname "$BASE_RUN")/dinoc" compile Samples/vit_tiny_dino.swift \
    -o "$base_plan/tiny224.plan.bin"
fi

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# field after "images/s: " / before " GFLOP/s (median)" of a run's output
ips() { sed -n 's/^images\/s: \([0-9.]*\) (median).*/\1/p'; }
gfs() { sed -n 's/.*GFLOP\/step; \([0-9.]*\) GFLOP\/s (median).*/\1/p'; }
# largest number on stdin
largest() { sort -g | tail -n 1; }
# ratio a/b with two decimals and an x, "-" when either is missing
ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; fi; }
# runs "$@" under GNU time: its stdout to stdout, its peak RSS in MiB appended to file $rss
timed() { /usr/bin/time -f '%M' -o "$plans/rss.kib" "$@"; awk '{ printf "%.0f\n", $1 / 1024 }' "$plans/rss.kib" >> "$rss"; }

echo "uptime at start: $(uptime)" | tee -a "$LOG"
row() {
  printf '%-8s %-7s %-11s %-13s %-12s %-14s %-8s %-10s %-11s %-10s %-10s %-11s %-9s %-9s\n' "$@"
}
row config threads dino_img/s dino_GFLOP/s torch_img/s torch_GFLOP/s speed dino_MiB torch_MiB \
  memory base_img/s limit_img/s limit_MiB limit_mem
for config in $CONFIGS; do
  steps=$FMNIST_STEPS
  [ "$config" = tiny224 ] && steps=$TINY_STEPS
  for t in $THREADS; do
    : > "$plans/d.txt"; : > "$plans/t.txt"; : > "$plans/b.txt"
    : > "$plans/dm.txt"; : > "$plans/tm.txt"; : > "$plans/l.txt"; : > "$plans/lm.txt"
    limit=$(limit_of "$config")
    r=1
    while [ "$r" -le "$REPEATS" ]; do
      out=$(rss="$plans/dm.txt" timed "$bin/dino-run" benchmark "$plans/$config.plan.bin" \
        --threads "$t" --steps "$steps" --warmup "$WARMUP")
      printf '== dino %s threads %s repeat %s\n%s\n' "$config" "$t" "$r" "$out" >> "$LOG"
      echo "$out" | ips >> "$plans/d.txt"; echo "$out" | gfs >> "$plans/dg.txt.$config.$t"
      if [ -n "$limit" ]; then
        out=$(rss="$plans/lm.txt" timed "$bin/dino-run" benchmark \
          "$plans/$config.limit.plan.bin" --threads "$t" --steps "$steps" --warmup "$WARMUP")
        printf '== limit %s %s threads %s repeat %s\n%s\n' "$limit" "$config" "$t" "$r" \
          "$out" >> "$LOG"
        echo "$out" | ips >> "$plans/l.txt"
      fi
      if [ "$TORCH" = 1 ]; then
        out=$(rss="$plans/tm.txt" timed python3 tools/bench_step_torch.py \
          --dino-repo "$DINO_REPO" --config "$config" --threads "$t" --steps "$steps" \
          --warmup "$WARMUP" 2>/dev/null)
        printf '== torch %s threads %s repeat %s\n%s\n' "$config" "$t" "$r" "$out" >> "$LOG"
        echo "$out" | ips >> "$plans/t.txt"; echo "$out" | gfs >> "$plans/tg.txt.$config.$t"
      fi
      if [ -n "$BASE_RUN" ]; then
        out=$("$BASE_RUN" benchmark "$base_plan/$config.plan.bin" --threads "$t" \
          --steps "$steps" --warmup "$WARMUP")
        printf '== base %s threads %s repeat %s\n%s\n' "$config" "$t" "$r" "$out" >> "$LOG"
        echo "$out" | ips >> "$plans/b.txt"
      fi
      r=$((r + 1))
    done
    di=$(median < "$plans/d.txt"); dg=$(median < "$plans/dg.txt.$config.$t")
    dm=$(largest < "$plans/dm.txt")
    ti=-; tg=-; bi=-; tm=-; li=-; lm=-
    [ -n "$BASE_RUN" ] && bi=$(median < "$plans/b.txt")
    [ -n "$limit" ] && li=$(median < "$plans/l.txt") && lm=$(largest < "$plans/lm.txt")
    if [ "$TORCH" = 1 ]; then
      ti=$(median < "$plans/t.txt"); tg=$(median < "$plans/tg.txt.$config.$t")
      tm=$(largest < "$plans/tm.txt")
    fi
    rm -f "$plans/dg.txt.$config.$t" "$plans/tg.txt.$config.$t"
    row "$config" "$t" "$di" "$dg" "$ti" "$tg" "$(ratio "$di" "$ti")" "$dm" "$tm" \
      "$(ratio "$dm" "$tm")" "$bi" "$li" "$lm" "$(ratio "$lm" "$tm")"
  done
done
echo "uptime at end: $(uptime)" | tee -a "$LOG"
echo "every run's output: $LOG"
