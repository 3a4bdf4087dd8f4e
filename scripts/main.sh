#!/usr/bin/env bash
# The README's main command: on a fresh machine, install the dependencies, fetch the default
# real models (SmolLM2-135M-Instruct GGUF, all-MiniLM-L6-v2) and the evaluation data, build the
# `lowrank` CLI, and run the default study (examples/study/studies/default.json: every
# experiment of the founding study, sized for a 2-core machine) which writes the report, the
# figures and the result JSONs outside the checkout, to ~/.cache/lowrank/study/default/ (printed
# at the end; override with LOWRANK_STUDY_OUTPUT), so the checkout stays clean.
#   LOWRANK_STUDY=path/to/study.json   another study description (e.g. examples/study/studies/paper.json)
#   LOWRANK_STUDY_ARGS="--only tradeoff"  extra arguments for `lowrank_study.py run`
#   LOWRANK_STUDY_ARGS="--publish"        also regenerate the committed report in docs/study/default/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash scripts/install_deps.sh
VENV="${LOWRANK_VENV:-$ROOT/.venv-main}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check numpy matplotlib

step "build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON -DLOWRANK_BUILD_TESTS=OFF -DLOWRANK_BUILD_BENCH=OFF >/dev/null
cmake --build build -j2 --target lowrank_cli
LR="$ROOT/build/examples/lowrank"

step "real models and evaluation data"
"$VENV/bin/python" scripts/fetch_assets.py --data

step "compress SmolLM2-135M (lowrank calibrate + compress; docs/compress.md)"
CACHE="${LOWRANK_CACHE:-$HOME/.cache/lowrank}"
MODEL="$CACHE/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA="$CACHE/eval-data"
METHOD="${LOWRANK_COMPRESS_METHOD:-struct}"
KEEP="${LOWRANK_COMPRESS_KEEP:-0.8}"
WORK="$CACHE/compress-main"
mkdir -p "$WORK"
[ -s "$WORK/austen.stats.safetensors" ] ||
  "$LR" calibrate "$MODEL" --text "$DATA/austen.train.txt" --windows 64 --context 512 --seed 0 --out "$WORK/austen.stats.safetensors"
OUT="$WORK/smollm2-$METHOD-k$KEEP.safetensors"
"$LR" compress "$MODEL" --keep "$KEEP" --method "$METHOD" --calib "$WORK/austen.stats.safetensors" --out "$OUT" --json "$WORK/compress-$METHOD-k$KEEP.json"
[ -s "$WORK/dense.eval.json" ] ||
  "$LR" eval "$MODEL" --tasks ppl:austen,ppl:kjv --ppl-windows 40 --data "$DATA" --no-efficiency --json "$WORK/dense.eval.json"
"$LR" eval "$OUT" --tasks ppl:austen,ppl:kjv --ppl-windows 40 --data "$DATA" --no-efficiency --json "$WORK/$METHOD-k$KEEP.eval.json"
"$VENV/bin/python" - "$WORK/dense.eval.json" "$WORK/$METHOD-k$KEEP.eval.json" "$METHOD" "$KEEP" <<'PY'
import json, sys
dense, comp = (json.load(open(p)) for p in sys.argv[1:3])
print(f"held-out perplexity, SmolLM2-135M dense vs {sys.argv[3]} keeping {sys.argv[4]} of the linear parameters "
      "(calibrated on austen.train):")
for t in ("ppl:austen", "ppl:kjv"):
    d = dense["tasks"][t]["metrics"]["perplexity"]["value"]
    c = comp["tasks"][t]["metrics"]["perplexity"]["value"]
    print(f"  {t:11s} dense {d:8.3f}   compressed {c:8.3f}   ratio {c / d:6.3f}")
PY
[ "${LOWRANK_SKIP_STUDY:-0}" = "1" ] && { step "done (compression only)"; exit 0; }

step "study (examples/study/lowrank_study.py)"
STUDY="${LOWRANK_STUDY:-examples/study/studies/default.json}"
OUTARG=()
[ -n "${LOWRANK_STUDY_OUTPUT:-}" ] && OUTARG=(--out "$LOWRANK_STUDY_OUTPUT")
# shellcheck disable=SC2086
"$VENV/bin/python" examples/study/lowrank_study.py run "$STUDY" --lowrank "$LR" "${OUTARG[@]}" ${LOWRANK_STUDY_ARGS:-}
step "done (the report's path is printed above)"
