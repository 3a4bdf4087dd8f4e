#!/usr/bin/env python3
"""Reference answers for the GSM8K filter/metric tests (tests/eval/fixtures/gsm8k_lm_eval.json),
computed by lm-evaluation-harness's own code: RegexFilter (strict-match: the gsm8k.yaml pattern,
take first; flexible-extract: its pattern, group_select -1) and exact_match_hf_evaluate with the
task's regexes_to_ignore and ignore_case. The C++ test checks examples/engine/eval/gsm8k.hpp against
every case.

Cases: hand-written responses (edge cases of both regexes and of the normalisation) and, when
given, the generations of a `lowrank eval --tasks gsm8k --json OUT` run (real model output).

lm_eval's package __init__ imports its model backends (torch, transformers); only lm_eval.api
and lm_eval.filters are needed, so the package is registered without running its __init__.
Environment used: a venv with `pip install --no-deps lm_eval==0.4.9` plus the modules its
api/filters import (numpy, evaluate, sacrebleu, sqlitedict, ...), e.g.
  PYTHONPATH=/tmp/gsm-lmeval/lib/python3.11/site-packages /tmp/rt-venv-torch/bin/python \\
      scripts/make_gsm8k_fixture.py [--generations out/gsm8k_dense_20.json]
"""
import argparse
import importlib.metadata as md
import importlib.util
import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

JANET = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at "
         "the farmer’s market.\n#### 18")
HAND = [
    (" She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7\n\n", "x\n#### 7"),
    ("He pays $1,200 then $50.\n#### 1,250", "x\n#### 1250"),
    ("#### -5 and later #### 6", "x\n#### -5"),
    ("#### -5 and later #### 6", "x\n#### 6"),
    ("She ends with 3.5 liters\n#### 3.50", "x\n#### 3.5"),
    ("#### .", "x\n#### 0"),
    ("The answer is 42.", "x\n#### 42"),
    ("#### $12", "x\n#### 12"),
    ("###  7", "x\n#### 7"),
    ("", "x\n#### 0"),
    ("Costs $5. Total 18.", "x\n#### 18"),
    ("Result: 1,000,000.\n", "x\n#### 1000000"),
    ("a 5 b 12", "x\n#### 12"),
    ("x = 7\n", "x\n#### 7"),
    ("it is -3 now", "x\n#### -3"),
    ("it is - 3 now", "x\n#### -3"),
    ("no digits here", "x\n#### 1"),
    (" So the total is $1,250.", "x\n#### 1,250"),
    (" #### 1250 but then 7 more", "x\n#### 1,250"),
    ("18.0 is it", JANET),
    ("#### 18", JANET),
    ("$18", JANET),
    ("#### 18.", JANET),
    ("#### 1.2.3", "x\n#### 1.2.3"),
    ("####18", JANET),
    ("#### ,,", "x\n#### 0"),
    ("The ratio is 3:4 and 0.5", "x\n#### .5"),
    ("-.5 and -", "x\n#### -.5"),
    ("A\n#### 7\nQuestion: more #### 9", "x\n#### 7"),
    ("Total: 1,234.56 dollars.", "x\n#### 1234.56"),
]


def load_lm_eval():
    spec = importlib.util.find_spec("lm_eval")
    if spec is None:
        raise SystemExit("lm_eval is not importable (pip install --no-deps lm_eval==0.4.9; see the docstring)")
    pkg = types.ModuleType("lm_eval")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["lm_eval"] = pkg
    from lm_eval.filters.extraction import RegexFilter
    from lm_eval.api.metrics import exact_match_hf_evaluate
    return RegexFilter, exact_match_hf_evaluate


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generations", type=Path, help="results JSON of lowrank eval --tasks gsm8k (adds its outputs)")
    ap.add_argument("--data", type=Path, default=Path.home() / ".cache" / "lowrank" / "eval-data")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "eval" / "fixtures" / "gsm8k_lm_eval.json")
    a = ap.parse_args()
    RegexFilter, exact_match = load_lm_eval()
    strict = RegexFilter(regex_pattern=r"#### (\-?[0-9\.\,]+)")  # gsm8k.yaml, filter strict-match
    flexible = RegexFilter(regex_pattern=r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1)
    ignore = [",", "\\$", "(?s).*#### ", "\\.$"]

    def em(p, r):
        return bool(exact_match([p], [r], regexes_to_ignore=ignore, ignore_case=True,
                                ignore_punctuation=False)["exact_match"])

    cases = list(HAND)
    if a.generations:
        task = json.loads(a.generations.read_text())["tasks"]["gsm8k"]
        refs = {}
        with open(a.data / task["dataset"]["file"], encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                refs[str(d["id"])] = d["answer"]
        cases += [(o["generation"], refs[o["id"]]) for o in task["outputs"]]
    out = []
    for resp, ref in cases:
        s = list(strict.apply([[resp]], [None]))[0][0]
        f = list(flexible.apply([[resp]], [None]))[0][0]
        out.append({"response": resp, "reference": ref, "strict": s, "flexible": f,
                    "strict_ok": em(s, ref), "flexible_ok": em(f, ref)})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "provenance": {"generator": "scripts/make_gsm8k_fixture.py", "lm_eval": md.version("lm_eval"),
                       "python": sys.version.split()[0],
                       "what": "lm_eval.filters.extraction.RegexFilter (gsm8k strict-match / flexible-extract) and "
                               "lm_eval.api.metrics.exact_match_hf_evaluate (regexes_to_ignore, ignore_case)",
                       "generations": str(a.generations) if a.generations else None},
        "cases": out}, ensure_ascii=False, indent=1) + "\n")
    print("wrote", a.out, len(out), "cases")


if __name__ == "__main__":
    sys.exit(main())
