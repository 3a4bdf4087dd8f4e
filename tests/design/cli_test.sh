#!/bin/sh
# CLI checks for `lowrank design-space` and `lowrank plan`: usage: cli_test.sh path/to/lowrank
# Exits non-zero on the first failed check.
set -u
L="$1"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$L" design-space --arch llama2-7b > "$T/ds.txt" || fail "design-space llama2-7b"
grep -q "2234207627120641" "$T/ds.txt" || fail "Theorem 3.1 count for llama2-7b"
grep -q "O(2^39)" "$T/ds.txt" || fail "study exponent for llama2-7b (7 tensors)"
"$L" design-space --arch llama2-7b --tensors q,k,v,o,gate --json > "$T/ds.json" || fail "design-space --json"
grep -q '"study_exponent": 37' "$T/ds.json" || fail "5-tensor exponent 37"
"$L" design-space --arch nope 2> "$T/err" && fail "unknown --arch accepted"
grep -q -- "--arch" "$T/err" || fail "error does not name --arch"
"$L" design-space --arch bert-base --tensors q,gate 2> "$T/err" && fail "bad --tensors accepted"
grep -q -- "--tensors" "$T/err" || fail "error does not name --tensors"

"$L" plan --arch llama2-7b --target-reduction 0.09 --out "$T/g.json" > "$T/plan.txt" || fail "plan 0.09"
grep -q "3, 18, 32" "$T/plan.txt" || fail "plan 0.09 layers"
grep -q '"indexing": 1' "$T/g.json" || fail "gamma indexing"
for bad in "0.1 --rank 2000" "1.5" "0.1 --skip-first 30 --skip-last 5" "0.99" "0.1 --tensors q,zz"; do
  # shellcheck disable=SC2086
  "$L" plan --arch llama2-7b --target-reduction $bad --out "$T/bad.json" 2> "$T/err" && fail "plan accepted: $bad"
  [ -e "$T/bad.json" ] && fail "partial output after: $bad"
  ls "$T" | grep -q "bad.json.tmp" && fail "temp file left after: $bad"
  grep -q "^lowrank: plan: --" "$T/err" || fail "error does not name the argument: $bad ($(cat "$T/err"))"
done
# plan --json: γ with the library's id, parameter accounting and every weight it touches.
# Reference numbers by hand: SmolLM2-135M has 134,515,008 parameters; rank-8 tucker2 saves per
# layer 2·(576² − (576·8 + 64 + 8·576)) + 2·(192·576 − (192·8 + 64 + 576·8))
#   + 3·(1536·576 − (1536·8 + 64 + 576·8)) = 3,457,088, so two layers leave 127,600,832.
"$L" plan --arch smollm2-135m --target-reduction 0.03 --rank 8 --json > "$T/plan.json" || fail "plan --json"
grep -q '"format": "lowrank.plan"' "$T/plan.json" || fail "plan --json format"
grep -q '"id": "g-[0-9a-f]\{16\}"' "$T/plan.json" || fail "plan --json id"
grep -q '"before": 134515008' "$T/plan.json" || fail "plan --json parameters before"
grep -q '"after": 127600832' "$T/plan.json" || fail "plan --json parameters after"
grep -q '"layers_needed": 2' "$T/plan.json" || fail "plan --json planner"
[ "$(grep -c '"kept_dense": false' "$T/plan.json")" = 14 ] || fail "plan --json: 14 weights"
# --gamma: q at rank 300 in svd form saves nothing ((576+576)·300 > 576²): kept dense, counted
# dense in "after", factorised (13,824 more) in "after_all_factorised".
cat > "$T/g300.json" <<'G'
{"model": "smollm2-135m", "method": "svd", "indexing": 0, "layers": [4], "tensors": ["q", "down"],
 "ranks": {"q": 300, "down": 64}}
G
"$L" plan --arch smollm2-135m --gamma "$T/g300.json" --json > "$T/g300.out" || fail "plan --gamma --json"
grep -q '"kept_dense": true' "$T/g300.out" || fail "plan --gamma: q kept dense"
grep -q '"after": 133765440' "$T/g300.out" || fail "plan --gamma: after (down saves 576·1536 − 2112·64)"
grep -q '"after_all_factorised": 133779264' "$T/g300.out" || fail "plan --gamma: after_all_factorised"
"$L" plan --arch llama2-7b --gamma "$T/g300.json" --json 2> "$T/err" && fail "plan --gamma for another model accepted"
grep -q "^lowrank: plan: --gamma" "$T/err" || fail "plan --gamma error does not name the argument"
echo "cli checks passed"
