#!/usr/bin/env bash
# The efficiency study at Llama-2-7B's real shapes, on the CPU (issue #18; docs/scale.md):
#   1. generate the 7B-shaped model (bench/scale/make_llama2_7b.py; ~13.5 GB, cached),
#   2. for each reduction of the founding study's Table 4.2: `lowrank plan` (rank 1, whole layers,
#      first two layers spared), `lowrank decompose --method svd --svd-method $SVD_METHOD` to a
#      factorised file — wall time and peak memory (bench/scale/peak_rss.py); SVD_METHOD defaults
#      to randomized (rank 1 of a 4096×11008 weight: a few thin GEMMs instead of a full gesdd;
#      the manifest records each weight's measured error), exact reproduces the gesdd run,
#   3. `lowrank bench-model --weights bf16` of the dense model and of every factorised file:
#      prefill and decode latency, weight bytes, peak memory,
#   4. bench/scale/summarize.py: the table and the slopes (latency and memory change per 1 % of
#      parameters removed; the founding study: ≈ 0.5 % and ≈ 0.4 %, Figures 4.2/4.4).
#
#   bench/scale/run_llama2_7b.sh [OUT_DIR]            full run (default OUT_DIR bench-results/scale)
#   SHORT=1 bench/scale/run_llama2_7b.sh [OUT_DIR]    a 4-layer stack of the same model (2.1 GB), two plans:
#                                                     proves the pipeline in ~10 min on the loaded 2-core VM
#
# Needs a quiet machine for the full run: the dense model alone is 13.5 GB of bf16 in memory (the
# loader rounds each tensor to bf16 as it reads it, so no float32 copy of the model exists), and
# the latencies are only meaningful without other jobs. Expected wall time of the full run on the
# idle 2-core VM: see docs/scale.md ("expected time").
# Disk: the model plus one factorised file at a time (deleted after its benchmark), ~27 GB.
#
# Environment: LOWRANK (default build/examples/lowrank), PY (a python with numpy, default python3),
# PHASE (all | decompose | bench: on a shared machine, decompose while others work — every
# factorised file is kept, ~56 GB for the five default reductions — then bench when it is quiet;
# bench deletes each file after its benchmark unless KEEP=1), REDUCTIONS, SVD_METHOD (randomized), THREADS (2), PROMPT (64), DECODE (8), BATCH (1), REPEATS (2), WORK (where factorised
# files go, default OUT_DIR/work), KEEP=1 keeps the factorised files.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench-results/scale}
LOWRANK=${LOWRANK:-build/examples/lowrank}
PY=${PY:-python3}
THREADS=${THREADS:-2}
if [ "${SHORT:-0}" = 1 ]; then
  LAYERS=4; REDUCTIONS=${REDUCTIONS:-"0.15 0.30"}; PROMPT=${PROMPT:-32}; DECODE=${DECODE:-4}
  OUT="$OUT-short"
else
  LAYERS=32; REDUCTIONS=${REDUCTIONS:-"0.06 0.09 0.15 0.21 0.33"}; PROMPT=${PROMPT:-64}; DECODE=${DECODE:-8}
fi
BATCH=${BATCH:-1}; REPEATS=${REPEATS:-2}; SVD_METHOD=${SVD_METHOD:-randomized}; PHASE=${PHASE:-all}
case "$PHASE" in all|decompose|bench) ;; *) echo "PHASE must be all, decompose or bench, not '$PHASE'"; exit 2;; esac
WORK=${WORK:-$OUT/work}
mkdir -p "$OUT" "$WORK"
[ -x "$LOWRANK" ] || { echo "no lowrank binary at $LOWRANK (build lowrank_cli or set LOWRANK)"; exit 2; }
RSS="$PY bench/scale/peak_rss.py"
log() { printf '%s  load %s  %s\n' "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" | tee -a "$OUT/run.log"; }

log "generate: $LAYERS layers"
MODEL=$($RSS --json "$OUT/generate.rss.json" -- $PY bench/scale/make_llama2_7b.py --layers "$LAYERS" | tail -1)
log "model $MODEL"
"$LOWRANK" inspect "$MODEL" --json > "$OUT/inspect.json"

BENCH=(bench-model --weights bf16 --threads "$THREADS" --prompt-tokens "$PROMPT" --decode-tokens "$DECODE"
       --batch "$BATCH" --repeats "$REPEATS" --warmup 1)
if [ "$PHASE" != decompose ]; then
  log "bench dense"
  $RSS --json "$OUT/bench-dense.rss.json" -- "$LOWRANK" "${BENCH[@]}" "$MODEL" > "$OUT/bench-dense.json"
fi

for R in $REDUCTIONS; do
  F="$WORK/factorised-$R.safetensors"
  if [ "$PHASE" = bench ]; then
    [ -f "$F" ] || { log "no $F: run PHASE=decompose first"; exit 2; }
  else
    log "plan $R"
    "$LOWRANK" plan --config "$MODEL/config.json" --target-reduction "$R" --rank 1 --skip-first 2 --method svd \
        --out "$OUT/plan-$R.json" > "$OUT/plan-$R.txt"
    log "decompose $R"
    $RSS --json "$OUT/decompose-$R.rss.json" -- "$LOWRANK" decompose "$MODEL" --plan "$OUT/plan-$R.json" --method svd \
        --svd-method "$SVD_METHOD" --threads "$THREADS" --quiet --out "$F" > "$OUT/decompose-$R.txt"
    cp "${F%.safetensors}.manifest.json" "$OUT/decompose-$R.manifest.json"
  fi
  [ "$PHASE" = decompose ] && continue
  log "bench $R"
  $RSS --json "$OUT/bench-$R.rss.json" -- "$LOWRANK" "${BENCH[@]}" "$F" > "$OUT/bench-$R.json"
  [ "${KEEP:-0}" = 1 ] || rm -f "$F" "${F%.safetensors}.manifest.json"
done
[ "$PHASE" = decompose ] && { log "decomposed; PHASE=bench measures"; exit 0; }
log "summary"
$PY bench/scale/summarize.py "$OUT" | tee "$OUT/summary.md"
