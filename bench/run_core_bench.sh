#!/usr/bin/env bash
# Runs the core benchmark set behind docs/benchmarks.md and writes JSON + a console table.
#   bash bench/run_core_bench.sh [BUILD_DIR] [OUT_DIR]
# Build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWRANK_BUILD_BENCH=ON && cmake --build build --target bench_core
# Timings are wall-clock (UseRealTime) with OpenBLAS on all cores; run on an idle machine
# (check `uptime`): OpenBLAS threads that share cores with other work spin and inflate wall time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-$ROOT/build/bench-results}"
mkdir -p "$OUT"
echo "load before: $(uptime)" | tee "$OUT/machine.txt"
lscpu | grep -E "Model name|^CPU\(s\)|Thread|L2|L3" >> "$OUT/machine.txt" || true
"$BUILD/bench/bench_core" --benchmark_counters_tabular=true --benchmark_repetitions="${REPS:-3}" \
  --benchmark_report_aggregates_only=true --benchmark_out="$OUT/bench_core.json" --benchmark_out_format=json \
  ${FILTER:+--benchmark_filter="$FILTER"} | tee "$OUT/bench_core.txt"
echo "load after: $(uptime)" | tee -a "$OUT/machine.txt"
