#!/usr/bin/env bash
# The main job on a fresh machine: Debian packages, a release build, the bundled
# Fashion-MNIST data, then the samples compiled and run:
#   1. Samples/mlp.swift              compile, dump, exec on random input
#   2. Samples/fashion_mnist_cpu.swift  DINO pretraining under a time budget
#      (DEMO_BUDGET, default 15m) on the 60000 training images, then what it learned:
#      k-NN (k=20) of the trained teacher, of the same network untrained and of the raw
#      pixels on the 10000 validation images, a linear probe, attention maps of a few
#      validation images, and the backbone exported under the official names.
# It ends with one table. Everything lands in runs/demo/ (DEMO_OUT). DEMO_BUDGET=0 stops
# after the crops; DEMO_DATA=DIR (with DIR/train and DIR/val) uses another image folder.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${DEMO_BUDGET:-15m}
threads=${DEMO_THREADS:-$(nproc)}
out=${DEMO_OUT:-runs/demo}
data=${DEMO_DATA:-data/fashion-mnist}
bin=.build/release
demo_start=$(date +%s)

bash tools/install-packages.sh
echo "== build (release)"
swift build -c release
if [ -z "${DEMO_DATA:-}" ]; then
  echo "== data: Fashion-MNIST as PNG folders"
  python3 tools/prepare_fashion_mnist.py --out "$data"
fi
mkdir -p "$out"

echo "== Samples/mlp.swift: compile, dump, exec"
"$bin/dinoc" compile Samples/mlp.swift -o "$out/mlp.plan.bin"
"$bin/dinoc" dump "$out/mlp.plan.bin" --memory | tail -n 4
python3 tools/random_safetensors.py "$out/mlp.in.safetensors" x=8,32
"$bin/dino-run" exec "$out/mlp.plan.bin" --program forward --inputs "$out/mlp.in.safetensors" \
  -o "$out/mlp.out.safetensors" --threads "$threads"
echo "wrote $out/mlp.out.safetensors"

echo "== Samples/fashion_mnist_cpu.swift: compile"
plan="$out/fmnist.plan.bin"
# shellcheck disable=SC2086
"$bin/dinoc" compile Samples/fashion_mnist_cpu.swift -o "$plan" ${DEMO_DEFINES:-}
"$bin/dinoc" dump "$plan" --memory | grep -E "^(memory|persistent)"
echo "== the multi-crop views"
"$bin/dino-run" crops "$plan" --data "$data/train" -o "$out/crops.png" --count 4
if [ "$budget" = "0" ]; then
  echo "== done (DEMO_BUDGET=0): $out"
  exit 0
fi

echo "== DINO pretraining for $budget on $threads threads"
run="$out/fmnist"
rm -rf "$run"
"$bin/dino-run" train "$plan" --data "$data/train" --budget "$budget" --threads "$threads" \
  --output "$run" --log-every 100 | tee "$out/train.txt"
ck="$run/checkpoint.safetensors"

echo "== what the teacher learned"
"$bin/dino-run" features "$plan" --checkpoint "$ck" --data "$data/train" \
  -o "$out/train.feats.safetensors" --threads "$threads"
"$bin/dino-run" features "$plan" --checkpoint "$ck" --data "$data/val" \
  -o "$out/val.feats.safetensors" --threads "$threads"
"$bin/dino-run" knn --train-features "$out/train.feats.safetensors" \
  --val-features "$out/val.feats.safetensors" --k 20 | tee "$out/knn.trained.txt"
"$bin/dinoc" compile Samples/linear_probe.swift -o "$out/probe.plan.bin" \
  -D features="$(python3 -c "import json,struct,sys
f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]
print(json.loads(f.read(n))['features']['shape'][1])" "$out/train.feats.safetensors")" -D classes=10
"$bin/dino-run" linear --probe "$out/probe.plan.bin" \
  --train-features "$out/train.feats.safetensors" --val-features "$out/val.feats.safetensors" \
  -o "$out/linear.json" --threads "$threads" | tail -n 3
echo "== baselines: the same network untrained, and raw pixels"
"$bin/dino-run" knn "$plan" --untrained --train "$data/train" --val "$data/val" --k 20 \
  --threads "$threads" | tee "$out/knn.untrained.txt"
"$bin/dino-run" knn "$plan" --pixels --train "$data/train" --val "$data/val" --k 20 \
  --threads "$threads" | tee "$out/knn.pixels.txt"
echo "== attention maps and export"
images=()  # the first validation image of each of the first four classes
for class in "$data"/val/*/; do
  files=("$class"*)  # sorted by the glob; no pipe (pipefail would see head's SIGPIPE)
  if [ -f "${files[0]}" ]; then images+=("${files[0]}"); fi
  if [ "${#images[@]}" -ge 4 ]; then break; fi
done
"$bin/dino-run" attention "$plan" --checkpoint "$ck" --threshold 0.6 -o "$out/attention.png" \
  --threads "$threads" --image "${images[@]}"
"$bin/dino-run" export "$plan" --checkpoint "$ck" -o "$out/backbone.safetensors"

python3 - "$out" "$(($(date +%s) - demo_start))" <<'EOF'
import json, re, sys
out, total = sys.argv[1], int(sys.argv[2])
def top1(name):
    text = open(f"{out}/{name}").read()
    return float(re.findall(r"Top1: ([0-9.]+)", text)[-1])
train = open(f"{out}/train.txt").read()
budget = re.search(r"→ (\d+) iterations", train)
batch = int(re.search(r"batch (\d+)", train).group(1))
resized = re.findall(r": (\d+) iterations instead of", train)  # the run followed its pace
steps = int(resized[-1]) if resized else int(budget.group(1)) if budget else 0
m = re.search(r"Training time (\d+):(\d+):(\d+)", train)
seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
entropy = None
for line in open(f"{out}/fmnist/log.jsonl"):
    record = json.loads(line)
    entropy = (record.get("teacher_entropy"), record.get("ln_k"))
linear = json.load(open(f"{out}/linear.json"))
rows = [
    ("k-NN top-1, trained teacher (k=20)", f"{top1('knn.trained.txt'):.2f} %"),
    ("k-NN top-1, same network untrained", f"{top1('knn.untrained.txt'):.2f} %"),
    ("k-NN top-1, raw pixels", f"{top1('knn.pixels.txt'):.2f} %"),
    ("linear probe top-1, trained teacher", f"{linear['top1']:.2f} % (best of the swept lr: {linear['lr']})"),
    ("training time", f"{seconds // 60} min {seconds % 60} s, {steps} iterations"),
    ("training speed", f"{steps * batch / max(seconds, 1):.1f} images/s"),
    ("teacher entropy at the end", f"{entropy[0]:.3f} nats of ln K = {entropy[1]:.3f}" if entropy and entropy[0] is not None else "n/a"),
    ("whole demo", f"{total // 60} min {total % 60} s"),
]
width = max(len(r[0]) for r in rows)
print("== result")
for name, value in rows:
    print(f"{name.ljust(width)}  {value}")
print(f"pictures: {out}/crops.png, {out}/attention.png, {out}/fmnist/curves.png")
EOF
