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
# For each it prints the global images/s (log.jsonl's intervals after the first, which
# holds the warm-up), the scaling efficiency of the two-process runs (their images/s over
# twice the one-process images/s), the bytes all-reduced per step and the milliseconds per
# step spent in MPI calls and waiting for the gradient sums (the run's `Communication:`
# line, measured inside dino-run).
#
# Usage: tools/bench_mpi.sh            (as root for the veth run; VETH=0 skips it)
#   Environment, with defaults: DATA=data/fashion-mnist/train (tools/demo.sh writes it)
#   BATCH=32  ITERATIONS=60  LOG_EVERY=10  BUILD=1 (0: use .build/release as it is)
#   VETH=1  WORK=${TMPDIR:-/tmp}/dino_bench_mpi
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$root/data/fashion-mnist/train}
BATCH=${BATCH:-32}
ITERATIONS=${ITERATIONS:-60}
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

echo "== one process, batch $BATCH, 1 thread"
# shellcheck disable=SC2046
"$bin/dino-run" $(train_args "$WORK/one") </dev/null >"$WORK/one.out" 2>&1
one=$(images_per_s "$WORK/one")
echo "images/s $one"

echo "== mpirun -np 2 (shared memory), batch $BATCH per process, 1 thread each"
# shellcheck disable=SC2046,SC2086
mpirun -np 2 $mpi_common "$bin/dino-run" $(train_args "$WORK/shm") </dev/null \
  >"$WORK/shm.out" 2>&1
shm=$(images_per_s "$WORK/shm")
set -- $(communication "$WORK/shm.out")
echo "images/s $shm, efficiency $(python3 -c "print('%.1f %%' % (100 * $shm / (2 * $one)))")," \
  "$1 MB all-reduced per step, $2 ms/step in MPI calls ($3 ms waiting for gradients)"

if [ "$VETH" = 1 ]; then
  echo "== mpirun -np 2 in two network namespaces over a veth pair (TCP), batch $BATCH each"
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
  # shellcheck disable=SC2046,SC2086
  ip netns exec dino_bench_a mpirun -np 2 --host 10.213.0.1:1,10.213.0.2:1 $mpi_common \
    --mca plm_rsh_agent "$WORK/agent.sh" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.213.0.0/24 --mca oob_tcp_if_include 10.213.0.0/24 \
    "$bin/dino-run" $(train_args "$WORK/veth") </dev/null >"$WORK/veth.out" 2>&1
  veth=$(images_per_s "$WORK/veth")
  set -- $(communication "$WORK/veth.out")
  echo "images/s $veth, efficiency" \
    "$(python3 -c "print('%.1f %%' % (100 * $veth / (2 * $one)))")," \
    "$1 MB all-reduced per step, $2 ms/step in MPI calls ($3 ms waiting for gradients)"
fi
echo "(outputs and logs under $WORK)"
