#!/usr/bin/env bash
# GPU check (benchmarks.md §3): CUDA unit tests + tools/benchmark.py on the real PCPR config,
# fp32 and bf16, train and test, the optimizer step alone, JSON lines written to $OUT
# (default ./gpu_check_out).
# Sized to finish in < 8 minutes on one H100 (random weights, pretrained=None).
#
#   bash tools/gpu_check.sh             # on the GPU machine, from the repository root
#   bash tools/gpu_check.sh --dry-run   # CPU smoke test: same commands, --small, 1 iteration
#   CPU_SMOKE=1 bash tools/gpu_check.sh # same as --dry-run
#
# Wheels missing on the GPU machine can be carried in .whl/ and are installed into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=${CPU_SMOKE:-0}
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[[ -x .venv/bin/python && "$DRY_RUN" == 1 ]] && PY=.venv/bin/python

if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

CONFIG=configs/pcpr/gtaHR2csHR_pcpr.py
if [[ "$DRY_RUN" == 1 ]]; then
    SIZE=(--small); TRAIN_ITERS=(--iters 1 --warmup 0); TEST_ITERS=(--iters 1 --warmup 0)
    TEST_SELECTION=(tests/perf -m "cuda or not slow")
else
    SIZE=(); TRAIN_ITERS=(--iters 10 --warmup 3); TEST_ITERS=(--iters 5 --warmup 2)
    TEST_SELECTION=(tests/perf -m cuda)
fi

"$PY" - <<'PY' | tee "$OUT/env.txt"
import torch
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
if torch.cuda.is_available():
    print('device', torch.cuda.get_device_name(0))
PY

echo "== CUDA unit tests" | tee "$OUT/pytest.txt"
"$PY" -m pytest -q "${TEST_SELECTION[@]}" 2>&1 | tail -n 30 | tee -a "$OUT/pytest.txt" || true

: > "$OUT/benchmark.jsonl"
for mode in train test; do
    for precision in None bf16; do
        [[ $mode == train ]] && ITERS=("${TRAIN_ITERS[@]}") || ITERS=("${TEST_ITERS[@]}")
        echo "== benchmark $mode mixed_precision=$precision"
        timeout 300 "$PY" tools/benchmark.py "$CONFIG" --mode "$mode" "${SIZE[@]}" "${ITERS[@]}" \
            --cfg-options "mixed_precision=$precision" uda.pseudo_threshold=0.0 \
            2>> "$OUT/benchmark.stderr" | tee -a "$OUT/benchmark.jsonl" \
            || echo "{\"mode\": \"$mode\", \"mixed_precision\": \"$precision\", \"error\": true}" \
                | tee -a "$OUT/benchmark.jsonl"
    done
done
# The optimizer step alone: grouped AdamW (default) vs torch's per-group step.
for foreach in None False; do
    echo "== benchmark optimizer optimizer.foreach=$foreach"
    timeout 120 "$PY" tools/benchmark.py "$CONFIG" --mode optimizer "${SIZE[@]}" "${TRAIN_ITERS[@]}" \
        --cfg-options "optimizer.foreach=$foreach" \
        2>> "$OUT/benchmark.stderr" | tee -a "$OUT/benchmark.jsonl" \
        || echo "{\"mode\": \"optimizer\", \"foreach\": \"$foreach\", \"error\": true}" \
            | tee -a "$OUT/benchmark.jsonl"
done
echo "== results in $OUT"
