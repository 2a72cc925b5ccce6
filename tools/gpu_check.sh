#!/usr/bin/env bash
# GPU check: the real train / resume / test / infer commands on synthetic data, the CUDA tests
# and the full-size benchmarks, each step checked, logged to $OUT/<step>.log and summarised in
# $OUT/summary.json; the exit status is non-zero when a step failed (tools/gpu_check.py).
# Sized for one H100 lent for 8 minutes (--budget 450 s by default).
#
#   bash tools/gpu_check.sh                      # on the GPU machine (exits 2 without a GPU)
#   CPU_SMOKE=1 bash tools/gpu_check.sh          # the same steps on the CPU, tiny sizes
#   bash tools/gpu_check.sh --list               # the steps; --steps a,b,c runs a selection
#   bash tools/gpu_check.sh --fail-step NAME     # self-test: step NAME fails on purpose
#
# OUT (default ./gpu_check_out) receives the logs; PYTHON picks the interpreter (default
# .venv/bin/python if present, else python3). Wheels missing on the GPU machine can be carried
# in .whl/ and are installed into /tmp/site.
set -euo pipefail
if [[ -n "${OUT:-}" && "$OUT" != /* ]]; then
    export OUT="$PWD/$OUT"  # relative to where the script was started, not the repository
fi
cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then
    PY=$PYTHON
elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python
else
    PY=python3
fi

if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

exec "$PY" tools/gpu_check.py "$@"
