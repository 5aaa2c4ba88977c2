#!/usr/bin/env bash
# GPU check of issue 13 (<= 5 min on one GPU): ResNet-20 search + train with --device cuda
# --amp bf16, evaluation on the GPU and on the CPU, one `torchrun --nproc_per_node 1` search
# over NCCL, a search resumed across devices (CUDA -> CPU and CPU -> CUDA), and the
# search/fixed step ratio of bench/search_memory.py on every device.
#
#   bash bench/gpu_check.sh            # on a machine with a CUDA GPU; writes bench/results/gpu_check/
#
# Data: bench/gpu_data.py:templates (synthetic, learnable, 3x32x32, 10 classes; nothing to
# download). Each step's output goes to OUT/<step>.log; OUT/summary.md has one row per step
# (exit code, seconds, last line) and the accuracies. A failing step does not stop the others;
# the script exits 1 if any failed.
# Dry run of the plumbing without a GPU (no AMP, tiny subsets, no search_memory):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_QUICK=1 GPU_CHECK_OUT=/tmp/gpu_check bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DEV=${GPU_CHECK_DEVICE:-cuda}
OUT=${GPU_CHECK_OUT:-bench/results/gpu_check}
QUICK=${GPU_CHECK_QUICK:-0}
AMP=(); [[ $DEV == cuda* ]] && AMP=(--amp bf16)
OTHER=cpu; [[ $DEV == cpu ]] && OTHER=cpu
EPOCHS=3; SUBSET=(); [[ $QUICK == 1 ]] && { EPOCHS=1; SUBSET=(--train-subset 512); }
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.json "$OUT/summary.md"
DATA=(--data bench/gpu_data.py:templates)
ACC=(--accel accel_configs/stripes.yaml --target latency=0.5x)
FAILED=0
{
  echo "# bench/gpu_check.sh — $(date -u '+%Y-%m-%d %H:%M UTC'), device $DEV ${AMP[*]}"
  echo
  echo "| step | rc | seconds | last line |"
  echo "|---|---|---|---|"
} > "$OUT/summary.md"

step() {  # step NAME CMD...: run, log, time, one summary row
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local last; last=$(grep -v '^\s*$' "$OUT/$name.log" | tail -n 1 | tr '|' '/' | cut -c1-160)
  echo "| $name | $rc | $((SECONDS - t0)) | $last |" >> "$OUT/summary.md"
  echo "$name: rc $rc, $((SECONDS - t0)) s"
  [[ $rc == 0 ]] || FAILED=1
  return 0
}

step environment python - <<'PY'
import platform, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "python", platform.python_version())
print("cuda available:", torch.cuda.is_available(), "devices:", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name} {p.total_memory / 2**30:.0f} GiB bf16 {torch.cuda.is_bf16_supported()}")
PY
step search_resnet20 python -m edmips search --model resnet20 "${DATA[@]}" "${ACC[@]}" \
  --epochs "$EPOCHS" --batch-size 256 --device "$DEV" "${AMP[@]}" --workers 2 --pin-memory \
  "${SUBSET[@]}" --no-progress --out "$RUNS/search"
step train_resnet20 python -m edmips train --model resnet20 "${DATA[@]}" \
  --allocation "$RUNS/search/allocation.yaml" --epochs "$EPOCHS" --batch-size 256 \
  --device "$DEV" "${AMP[@]}" "${SUBSET[@]}" --no-progress --out "$RUNS/train"
step evaluate_on_device python -m edmips evaluate --model-file "$RUNS/train/model.pt" \
  --device "$DEV" --json "$OUT/evaluate_on_device.json"
step evaluate_on_cpu python -m edmips evaluate --model-file "$RUNS/train/model.pt" \
  --device cpu --json "$OUT/evaluate_on_cpu.json"
step torchrun_1proc python -m torch.distributed.run --nproc_per_node 1 --master_port 29531 \
  -m edmips search --model resnet20 "${DATA[@]}" "${ACC[@]}" --epochs 1 --batch-size 256 \
  --device "$DEV" "${AMP[@]}" "${SUBSET[@]}" --out "$RUNS/ddp" --no-progress
step resume_dev_to_cpu bash -c "python -m edmips search --model digits_cnn --target bitops=0.5x \
  --epochs 1 --device $DEV --out $RUNS/r1 --no-progress && python -m edmips search \
  --model digits_cnn --target bitops=0.5x --epochs 2 --device $OTHER --resume --out $RUNS/r1 --no-progress"
step resume_cpu_to_dev bash -c "python -m edmips search --model digits_cnn --target bitops=0.5x \
  --epochs 1 --device cpu --out $RUNS/r2 --no-progress && python -m edmips search \
  --model digits_cnn --target bitops=0.5x --epochs 2 --device $DEV --resume --out $RUNS/r2 --no-progress"
if [[ $QUICK != 1 ]]; then
  step search_memory python bench/search_memory.py --device all --steps 5 --batch 32
fi

for f in search/summary.json train/train_summary.json ddp/summary.json r1/summary.json r2/summary.json; do
  [[ -f $RUNS/$f ]] && cp "$RUNS/$f" "$OUT/$(dirname "$f")_$(basename "$f")"
done
python - "$OUT" "$DEV" >> "$OUT/summary.md" <<'PY'
import json, sys
from pathlib import Path
out, dev = Path(sys.argv[1]), sys.argv[2]
def get(name, *keys):
    p = out / name
    if not p.exists():
        return "missing"
    v = json.loads(p.read_text())
    for k in keys:
        v = v[k] if isinstance(v, dict) and k in v else "?"
    return v
print()
print(f"- search (supernet, last epoch) test accuracy: {get('search_summary.json', 'final_test_acc_supernet')}")
print(f"- train test accuracy: {get('train_train_summary.json', 'accuracy')}")
print(f"- evaluate on {dev}: {get('evaluate_on_device.json', 'top1')}, on cpu: {get('evaluate_on_cpu.json', 'top1')}")
print(f"- torchrun world size: {get('ddp_summary.json', 'world_size')}")
log = out / "torchrun_1proc.log"
line = [ln for ln in log.read_text().splitlines() if "DistributedDataParallel" in ln] if log.exists() else []
print(f"- torchrun: {line[0] if line else 'no DistributedDataParallel line'}")
print(f"- resumed runs: {get('r1_summary.json', 'epochs')} and {get('r2_summary.json', 'epochs')} epochs")
PY
echo "wrote $OUT/summary.md"
exit $FAILED
