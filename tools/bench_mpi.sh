#!/bin/sh
# tools/bench_mpi.sh — data-parallel scaling of `dino-run train` over MPI.
#
# Builds dinoc and dino-run in release mode, compiles Samples/fashion_mnist_cpu.swift at
# BATCH images per process, then trains ITERATIONS iterations on DATA three ways, each
# process with 1 kernel thread and 1 loader thread:
#   one    1 process;
#   shm    mpirun -np 2 on this machine (Open MPI's shared-memory transport);
#   veth   mpirun -np 2 with the ranks in two network namespaces joined by a veth pair,
#          TCP only (btl tcp,self): real network traffic between them (needs root, `ip`).
# Each runs REPEATS times, alternating; the medians are printed: global images/s
# (log.jsonl's intervals after the first, which holds the warm-up), the scaling efficiency
# of the two-process runs (their images/s over twice the one-process images/s), the bytes
# all-reduced per step and the milliseconds per step spent in MPI calls and waiting for
# the gradient sums (the run's `Communication:` line, measured inside dino-run; it
# includes waiting for the slower rank), then the time of the same all-reduce alone over
# each transport (tools/bench_allreduce.c: MPI_Allreduce of the gradient floats, 20 times).
#
# Usage: tools/bench_mpi.sh            (as root for the veth run; VETH=0 skips it)
#   Environment, with defaults: DATA=data/fashion-mnist/train (tools/demo.sh writes it)
#   BATCH=32  ITERATIONS=60  LOG_EVERY=10  REPEATS=3 (runs alternate; medians reported)
#   BUILD=1 (0: use .build/release as it is)
#   VETH=1  WORK=${TMPDIR:-/tmp}/dino_bench_mpi
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$root/data/fashion-mnist/train}
BATCH=${BATCH:-32}
ITERATIONS=${ITERATIONS:-60}
REPEATS=${REPEATS:-3}
LOG_EVERY=${LOG_EVERY:-10}
BUILD=${BUILD:-1}
VETH=${VETH:-1}
WORK=${WORK:-${TMPDIR:-/tmp}/dino_bench_mpi}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

if [ ! -d "$DATA" ]; then
  echo "bench_mpi.sh: error: DATA='$DATA' is no image folder; run tools/demo.sh" \
    "(it writes data/fashion-mnist) or set DATA" >&2
  exit 2
fi
if ! command -v mpirun >/dev/null; then
  echo "bench_mpi.sh: error: mpirun is missing: run tools/install-packages.sh" >&2
  exit 2
fi
if [ "$VETH" = 1 ] && { [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; }; then
  echo "bench_mpi.sh: error: the veth run needs root and iproute2's ip; VETH=0 skips it" >&2
  exit 2
fi
cd "$root"
if [ "$BUILD" = 1 ]; then
  swift build -c release --product dinoc >/dev/null
  swift build -c release --product dino-run >/dev/null
fi
bin=$root/.build/release
rm -rf "$WORK"
mkdir -p "$WORK"
"$bin/dinoc" compile Samples/fashion_mnist_cpu.swift -o "$WORK/plan.bin" -D batch="$BATCH" \
  >/dev/null
mpicc -O2 tools/bench_allreduce.c -o "$WORK/bench_allreduce"

# dino-run train's arguments for output folder $1.
train_args() {
  echo "train $WORK/plan.bin --data $DATA --output $1 --iterations $ITERATIONS --threads 1" \
    "--workers 1 --log-every $LOG_EVERY --save-every 0 --save-every-minutes 0"
}
mpi_common="--bind-to none --oversubscribe --mca btl_vader_single_copy_mechanism none"

# Global images/s of run folder $1: log.jsonl's intervals after the first.
images_per_s() {
  python3 - "$1/log.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()][1:]
# Each interval: images_per_s = batch · steps / seconds, so over all of them
# images/s = Σ steps / Σ (steps / images_per_s).
print("%.1f" % (sum(r["steps"] for r in rows)
                / sum(r["steps"] / r["images_per_s"] for r in rows)))
EOF
}

# The gradient floats of a run's stdout file $1 (its "MB of gradients").
gradient_floats() {
  python3 - "$1" <<'EOF'
import re, sys
for line in open(sys.argv[1]):
    m = re.search(r"\(([\d.]+) MB of gradients", line)
    if m: print(int(float(m.group(1)) * 1e6 / 4))
EOF
}

# The "Communication:" figures of stdout file $1: MB per step, ms in MPI, ms waiting.
communication() {
  python3 - "$1" <<'EOF'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"Communication: \d+ ranks, ([\d.]+) MB all-reduced per step .*?, "
                 r"([\d.]+) ms per step in MPI calls, of which ([\d.]+) ms waiting", line)
    if m: print(*m.groups())
EOF
}

if [ "$VETH" = 1 ]; then
  cleanup() {
    ip netns del dino_bench_a 2>/dev/null || true
    ip netns del dino_bench_b 2>/dev/null || true
  }
  trap cleanup EXIT
  cleanup
  ip netns add dino_bench_a
  ip netns add dino_bench_b
  ip link add dino_veth_a type veth peer name dino_veth_b
  ip link set dino_veth_a netns dino_bench_a
  ip link set dino_veth_b netns dino_bench_b
  ip -n dino_bench_a addr add 10.213.0.1/24 dev dino_veth_a
  ip -n dino_bench_b addr add 10.213.0.2/24 dev dino_veth_b
  for ns in dino_bench_a dino_bench_b; do
    ip -n $ns link set lo up
  done
  ip -n dino_bench_a link set dino_veth_a up
  ip -n dino_bench_b link set dino_veth_b up
  # mpirun starts the remote rank's daemon through this agent instead of ssh.
  cat >"$WORK/agent.sh" <<'EOF'
#!/bin/sh
shift
exec ip netns exec dino_bench_b sh -c "$*"
EOF
  chmod +x "$WORK/agent.sh"
fi
veth_mpirun="ip netns exec dino_bench_a mpirun -np 2 --host 10.213.0.1:1,10.213.0.2:1
  $mpi_common --mca plm_rsh_agent $WORK/agent.sh --mca btl tcp,self
  --mca btl_tcp_if_include 10.213.0.0/24 --mca oob_tcp_if_include 10.213.0.0/24"

# Runs configuration $1 (one, shm, veth) as repeat $2; its folder is $WORK/$1.$2.
run() {
  out=$WORK/$1.$2
  case $1 in
    # shellcheck disable=SC2046
    one) "$bin/dino-run" $(train_args "$out") ;;
    # shellcheck disable=SC2046,SC2086
    shm) mpirun -np 2 $mpi_common "$bin/dino-run" $(train_args "$out") ;;
    # shellcheck disable=SC2046,SC2086
    veth) $veth_mpirun "$bin/dino-run" $(train_args "$out") ;;
  esac </dev/null >"$out.out" 2>&1
  echo "$1 $(images_per_s "$out") $(communication "$out.out")" >>"$WORK/results"
  echo "  #$2: $(tail -1 "$WORK/results")  (load average $(cut -d' ' -f1 /proc/loadavg))"
}

configs="one shm"
[ "$VETH" = 1 ] && configs="$configs veth"
: >"$WORK/results"
echo "== $REPEATS repeats of: $configs (batch $BATCH per process, 1 thread, 1 loader each)"
repeat=1
while [ "$repeat" -le "$REPEATS" ]; do
  for config in $configs; do run "$config" "$repeat"; done
  repeat=$((repeat + 1))
done
floats=$(gradient_floats "$WORK/shm.1.out")
# shellcheck disable=SC2086
shm_alone=$(mpirun -np 2 $mpi_common "$WORK/bench_allreduce" "$floats" 20 2>&1 | tail -1)
veth_alone=""
# shellcheck disable=SC2086
[ "$VETH" = 1 ] && veth_alone=$($veth_mpirun "$WORK/bench_allreduce" "$floats" 20 2>&1 | tail -1)

# Medians per configuration, efficiency against twice the one-process images/s; then the
# best run of each (the quietest moment of a shared machine).
python3 - "$WORK/results" "$shm_alone" "$veth_alone" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
def median(name, i):
    return statistics.median(r[i] for r in rows[name])
one = median("one", 0)
print("%-6s %10s %11s %9s %12s %12s" % ("run", "images/s", "efficiency", "MB/step",
                                      "MPI ms/step", "wait ms/step"))
print("%-6s %10.1f" % ("one", one))
for name in ("shm", "veth"):
    if name in rows:
        print("%-6s %10.1f %10.1f%% %9.3f %12.2f %12.2f" % (
            name, median(name, 0), 100 * median(name, 0) / (2 * one), median(name, 1),
            median(name, 2), median(name, 3)))
best = {name: max(r[0] for r in rows[name]) for name in rows}
print("best runs: " + ", ".join(
    "%s %.1f images/s%s" % (name, best[name], "" if name == "one" else
                            " (%.1f%%)" % (100 * best[name] / (2 * best["one"])))
    for name in ("one", "shm", "veth") if name in best))
print("the gradient all-reduce alone, shared memory: " + sys.argv[2])
if sys.argv[3]:
    print("the gradient all-reduce alone, TCP over veth: " + sys.argv[3])
EOF
echo "(outputs and logs under $WORK)"
