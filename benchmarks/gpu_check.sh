#!/usr/bin/env bash
# One prepared GPU check, at most 5 minutes on one GPU: DPO throughput and MFU of a ~0.5 B model in bf16,
# DPO on SmolLM2-135M through prefkit's real training loop (bf16 autocast), then chapter 04 executed on the GPU. Results go to benchmarks/results/ (commit them with the date and GPU).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with .venv built (make test or make lab)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
stamp=$(date -u +%Y-%m-%d)
{
  echo "# GPU check, $stamp"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$OUT/gpu_check_$stamp.txt"

echo "== DPO throughput (0.5 B, bf16, eager then compiled)" | tee -a "$OUT/gpu_check_$stamp.txt"
timeout 120 $PY benchmarks/gpu_dpo_bench.py --out "$OUT" | tee -a "$OUT/gpu_check_$stamp.txt"
timeout 150 $PY benchmarks/gpu_dpo_bench.py --compile --out "$OUT/compiled" | tee -a "$OUT/gpu_check_$stamp.txt"

echo "== DPO on SmolLM2-135M through prefkit.train.dpo (bf16 autocast, tokens/s, peak memory, MFU)" \
  | tee -a "$OUT/gpu_check_$stamp.txt"
HF_HUB_OFFLINE=1 timeout 90 $PY benchmarks/gpu_train_bench.py --device cuda --dtype bf16 --out "$OUT" \
  | tee -a "$OUT/gpu_check_$stamp.txt"
# CPU smoke test of the same script: bash -c 'python benchmarks/gpu_train_bench.py --device cpu --dtype fp32
#   --steps 2 --batch 2 --max-length 64'

if [ -f chapters/04_dpo.ipynb ]; then
  echo "== chapter 04 on the GPU" | tee -a "$OUT/gpu_check_$stamp.txt"
  start=$(date +%s)
  HF_HUB_OFFLINE=1 timeout 120 .venv/bin/jupyter nbconvert --to notebook --execute chapters/04_dpo.ipynb \
    --output-dir "$OUT" --output "04_dpo_gpu_$stamp.ipynb" --ExecutePreprocessor.timeout=110 \
    && echo "chapter 04 executed in $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu_check_$stamp.txt" \
    || echo "chapter 04 FAILED" | tee -a "$OUT/gpu_check_$stamp.txt"
else
  echo "chapter 04 not written yet: skipped" | tee -a "$OUT/gpu_check_$stamp.txt"
fi
