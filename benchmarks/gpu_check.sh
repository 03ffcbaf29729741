#!/usr/bin/env bash
# Everything a CUDA GPU changes, measured by one command (under 5 minutes on a GPU).
#
#   benchmarks/gpu_check.sh                  # on the first CUDA GPU
#   benchmarks/gpu_check.sh --device cpu     # the same checks on the CPU
#   benchmarks/gpu_check.sh --quick          # tiny sizes, a smoke run (the test suite: --device cpu --quick)
#
# 1. Per-sample gradients: benchmarks/bench_gradients.py --device DEVICE: images/s of
#    transform, of the floor (one batched forward + backward) and of the authors'
#    batch-1 loop, and the ratios transform / floor and transform / loop.
# 2. fit and transform of GradientFeatureTransformer and ActivationFeatureTransformer
#    on DEVICE against the batch-1 torch.autograd (forward-hook) loop on the CPU, with a
#    CPU copy of the fitted module.  Tolerances of tests/numerics.py: float32 GPU
#    kernels sum in other orders than the CPU's, TF32 is switched off (with TF32 on,
#    products round their inputs to 10 bits and no float32 tolerance holds), so
#    |got - expected| <= 64 EPS * max|block| + 64 EPS * |expected| on a GPU
#    (CUDA_ATOL, CUDA_RTOL; EPS = 2**-23), 8 EPS and 32 EPS on the CPU.  The script
#    prints the share of the tolerance the worst element uses, and fails above 1.
# 3. IQA: skgrad.iqa computes in NumPy float64 on the CPU (parity with the authors'
#    MATLAB code to 1e-8); it has no torch/GPU variant, so nothing of it runs on the
#    GPU (benchmarks/bench_iqa_speed.py measures it).
#
# Environment: PYTHON (default .venv/bin/python, else python3).  Exit code 0 when
# every check passes, 1 when one fails, 2 for a bad argument or a missing GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
DEVICE=cuda
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=${2:?--device needs a value}; shift 2 ;;
        --device=*) DEVICE=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
# (the CPU is always there: no torch import, 1.2 s of CPU, to find it)
if [ "$DEVICE" != cpu ] && ! "$PY" -c "import sys, torch; d = torch.device(sys.argv[1]); sys.exit(0 if d.type == 'cpu' or torch.cuda.is_available() else 1)" "$DEVICE" 2>/dev/null; then
    echo "gpu_check.sh: --device $DEVICE: no such device here (torch.cuda.is_available() is False); use --device cpu" >&2
    exit 2
fi
START=$(date +%s)
BENCH_ARGS=(--device "$DEVICE" --skip-memory)
if [ "$QUICK" = 1 ]; then BENCH_ARGS+=(--n 64 --repeats 1 --loop-n 8 --fit-n 64 --batch-size 32)
else BENCH_ARGS+=(--repeats 3); fi

echo "== 1. per-sample gradients on $DEVICE (benchmarks/bench_gradients.py ${BENCH_ARGS[*]})"
"$PY" -W ignore benchmarks/bench_gradients.py "${BENCH_ARGS[@]}"

echo
echo "== 2. fit/transform on $DEVICE against the batch-1 loop on the CPU"
"$PY" -W ignore - "$DEVICE" "$QUICK" <<'PYTHON'
import copy
import sys
import time

import numpy as np
import torch

sys.path.insert(0, "tests")
from numerics import BLOCK_ATOL, CUDA_ATOL, CUDA_RTOL, ORACLE_RTOL, feature_blocks, loop_oracle  # noqa: E402
from test_cuda import activation_loop_oracle  # noqa: E402

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.datasets import load_real_digits  # noqa: E402

device, quick = sys.argv[1], sys.argv[2] == "1"
if torch.device(device).type == "cuda":
    print(f"GPU: {torch.cuda.get_device_name(device)}; TF32 off for the check")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
atol, rtol = (CUDA_ATOL, CUDA_RTOL) if torch.device(device).type == "cuda" else (BLOCK_ATOL, ORACLE_RTOL)
digits = load_real_digits(size=28).images
X = np.repeat(digits[: 64 if quick else 2048, ..., None], 3, axis=-1)
n_check = 8 if quick else 128
worst_all = 0.0
for cls in (GradientFeatureTransformer, ActivationFeatureTransformer):
    start = time.perf_counter()
    est = cls(epochs=1 if quick else 5, batch_size=32 if quick else 64, random_state=0, device=device).fit(X)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    got = est.transform(X)
    transform_s = time.perf_counter() - start
    got = got[:n_check].astype(np.float64)
    module = copy.deepcopy(est.module_).cpu().eval()
    x = (torch.from_numpy(X[:n_check]).to(torch.float32) * (1 / 255)).permute(0, 3, 1, 2).contiguous()
    if cls is GradientFeatureTransformer:
        expected = loop_oracle(module, x, list(est.layers_.items()))
    else:
        expected = activation_loop_oracle(module, x, est.layers_)
    expected = expected.detach().numpy().astype(np.float64)
    worst = 0.0
    for cols in feature_blocks(est.get_feature_names_out()).values():
        d, a = expected[:, cols], got[:, cols]
        bound = atol * np.abs(d).max() + rtol * np.abs(d)
        excess = np.abs(a - d) / np.where(bound > 0, bound, np.inf)
        worst = max(worst, float(np.max(np.where((bound == 0) & (a != d), np.inf, excess))))
    worst_all = max(worst_all, worst)
    print(f"{cls.__name__:<30} fit {len(X)} images {fit_s:6.2f} s, transform {len(X) / transform_s:9.0f} "
          f"images/s on {est.device_}; {n_check} images against the CPU loop: the worst element uses "
          f"{worst:.3f} of the tolerance ({'OK' if worst <= 1 else 'FAILED'})")
print(f"tolerance: |got - expected| <= {atol / 2**-23:.0f} EPS * max|block| + {rtol / 2**-23:.0f} EPS * |expected|")
sys.exit(0 if worst_all <= 1 else 1)
PYTHON

echo
echo "== 3. IQA: NumPy float64 on the CPU, no torch/GPU variant: nothing to run on $DEVICE"
echo "   (python benchmarks/bench_iqa_speed.py measures gradient_quality, skgrad iqa and the start-up)"
echo
echo "gpu_check.sh: every check passed on $DEVICE in $(( $(date +%s) - START )) s"
