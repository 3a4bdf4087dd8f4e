#!/usr/bin/env bash
# Whole-model decomposition time of a Llama-2-7B-shaped model on a GPU (random weights of the
# real shapes, generated on the device; see llama2_7b_decompose.cpp), plus the Google Benchmark
# model case of bench_cuda. For a machine with an NVIDIA GPU and the CUDA toolkit >= 12; not
# meaningful (it stops with "no CUDA device") anywhere else.
#
#   bench/cuda/run_llama2_7b.sh [BUILD_DIR] [OUT_DIR]     (defaults: build-cuda-bench, bench-results/cuda)
#
# Environment: JOBS (build parallelism, default 4), RANK (default 256), METHODS (default
# "randomized exact tucker2"), LAYERS (default 32).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-cuda-bench}
OUT=${2:-bench-results/cuda}
JOBS=${JOBS:-4}
RANK=${RANK:-256}
LAYERS=${LAYERS:-32}
METHODS=${METHODS:-"randomized exact tucker2"}
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLOWRANK_CUDA=ON -DLOWRANK_BUILD_BENCH=ON \
      -DLOWRANK_BUILD_TESTS=OFF -DLOWRANK_BUILD_EXAMPLES=OFF > "$OUT/cmake.log"
cmake --build "$BUILD" -j"$JOBS" --target llama2_7b_decompose bench_cuda > "$OUT/build.log"

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" || true

for m in $METHODS; do
  echo "== $m, rank $RANK, $LAYERS layers"
  "$BUILD/bench/cuda/llama2_7b_decompose" --method "$m" --rank "$RANK" --layers "$LAYERS" \
      --json "$OUT/llama2_7b_${m}_r${RANK}.json" | tee "$OUT/llama2_7b_${m}_r${RANK}.txt"
done

echo "== bench_cuda BM_llama2_7b_randomized (one random matrix per shape, reused)"
"$BUILD/bench/cuda/bench_cuda" --benchmark_filter='BM_llama2_7b' \
    --benchmark_out="$OUT/bench_cuda_llama2.json" --benchmark_out_format=json | tee "$OUT/bench_cuda_llama2.txt"
echo "results in $OUT"
