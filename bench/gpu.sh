#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, from the repository root with the environment
# active (`make setup`, then `source .venv/bin/activate`):
#
#   bash bench/gpu.sh                         # everything; figures in $OUT (/tmp/resid-atlas-gpu)
#   GPU_CHECK_DEVICE=cpu bash bench/gpu.sh    # dry run of the plumbing on the CPU at tiny sizes
#
# 1. the suite's CUDA tests (`pytest -m cuda`; RESID_ATLAS_REQUIRE_CUDA=1 turns their skip
#    without a GPU into a failure, so nothing passes by being skipped);
# 2. the GPU's measured matmul throughput in float32 and bfloat16 (8192 x 8192);
# 3. bench/seed_scale.py on the six full-size twins (config/seed-scale.yaml) in bfloat16, with
#    the bf16-vs-float32 fidelity of every model's shards, then in float32: tokens/s, the share
#    of the GEMM throughput, peak GPU memory, the studies' full scale extrapolated;
# 4. the default config's extraction (SmolLM2-135M on the whole shipped corpus) through
#    bench/extract.py: float32 and bfloat16, tokens/s against GEMM, bf16 fidelity per layer.
# Copy the printed tables into docs/benchmarks.md ("GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
OUT="${OUT:-/tmp/resid-atlas-gpu}"
mkdir -p "$OUT"

if [ "$DEVICE" = cuda ]; then
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch: run this on a GPU node (GPU_CHECK_DEVICE=cpu: dry run)')"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  SENTENCES=2000 EXTRACT_SENTENCES=0 BATCH=auto THREADS=4 MODELS=""
else
  # The dry run: CPU, the two smallest twins, a handful of sentences and sweep steps.
  SENTENCES=8 EXTRACT_SENTENCES=16 BATCH=8 THREADS=1 MODELS="gpt2-small-full pythia-160m-full"
fi
SEED_SCALE=(python bench/seed_scale.py --device "$DEVICE" --sentences "$SENTENCES"
  --batch-size "$BATCH" --threads "$THREADS")
if [ -n "$MODELS" ]; then
  read -r -a names <<<"$MODELS"
  SEED_SCALE+=(--models "${names[@]}" --steps 10)
fi

failed=()
echo "== 1. CUDA tests"
if [ "$DEVICE" = cuda ]; then
  RESID_ATLAS_REQUIRE_CUDA=1 python -m pytest -q -m cuda -rs tests | tee "$OUT/cuda-tests.txt" ||
    failed+=("CUDA tests")
else
  python -m pytest -q -m cuda --collect-only tests | tail -1 | tee "$OUT/cuda-tests.txt"
fi

echo "== 2. matmul throughput"
python - "$DEVICE" <<'EOF' | tee "$OUT/gemm.txt"
import sys

import torch

sys.path.insert(0, "bench")
from extract import gemm_flops

device = sys.argv[1]
n = 8192 if device == "cuda" else 1024
for dtype in (torch.float32, torch.bfloat16):
    print(f"{device} {str(dtype).removeprefix('torch.')}: {gemm_flops(dtype, n, 10, device) / 1e12:.2f} TFLOP/s")
EOF

echo "== 3. seed-scale bench, bfloat16 (with fidelity against float32), then float32"
rm -f "$OUT/seed_scale.jsonl"
"${SEED_SCALE[@]}" --dtype bfloat16 --fidelity --json "$OUT/seed_scale.jsonl" |
  tee "$OUT/seed_scale_bf16.txt" || failed+=("seed-scale bfloat16")
"${SEED_SCALE[@]}" --dtype float32 --json "$OUT/seed_scale.jsonl" |
  tee "$OUT/seed_scale_fp32.txt" || failed+=("seed-scale float32")

echo "== 4. the default config's extraction (SmolLM2-135M, float32 and bfloat16)"
python bench/extract.py --device "$DEVICE" --sentences "$EXTRACT_SENTENCES" --batch-size "$BATCH" \
  --out "$OUT/extract" | tee "$OUT/extract.txt" || failed+=("default extraction")

echo "figures in $OUT"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
