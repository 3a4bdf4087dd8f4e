#!/usr/bin/env python3
"""Reads `lowrank eval --output-path DIR --log-samples` output the way lm-evaluation-harness's own
tooling reads its results, and fails on anything it would not accept.

  python scripts/check_lm_eval_output.py DIR       (needs lm_eval ≥ 0.4.13 and pydantic)

Checks, with lm_eval's code as the reference:
  * lm_eval.utils.get_results_filenames / get_sample_results_filenames / get_latest_filename /
    get_file_datetime find the files and parse their date ids (as EvaluationTracker does when it
    collects results for the Hub or Zeno);
  * the results document validates against lm_eval.result_schema.EvalResults, and every samples
    line against SampleResult (pydantic TypeAdapter over lm_eval's own TypedDicts);
  * lm_eval.utils.make_table renders it (the table `lm_eval` prints), and every results[task] has
    the "acc,none"-style keys third-party scripts read.
Prints the table; exit status 1 on a problem.
"""
import glob
import json
import os
import sys


def check(directory):
    from lm_eval import utils
    from lm_eval.result_schema import EvalResults, SampleResult
    from pydantic import TypeAdapter
    files = sorted(glob.glob(os.path.join(directory, "**", "*.json*"), recursive=True))
    results = utils.get_results_filenames(files)
    samples = utils.get_sample_results_filenames(files)
    if not results:
        raise SystemExit("%s: no results_*.json found" % directory)
    latest = utils.get_latest_filename(results)
    for f in results + samples:
        utils.get_file_datetime(f)  # raises on a date id lm-eval cannot parse
    with open(latest, encoding="utf-8") as f:
        doc = json.load(f)
    TypeAdapter(EvalResults).validate_python(doc)
    sample_adapter = TypeAdapter(SampleResult)
    n_samples = 0
    for s in samples:
        with open(s, encoding="utf-8") as f:
            for line in f:
                sample_adapter.validate_python(json.loads(line))
                n_samples += 1
    for task, r in doc["results"].items():
        metrics = [k for k in r if "," in k]
        if not metrics:
            raise SystemExit("%s: results[%s] has no metric,filter keys" % (latest, task))
        for k in metrics:
            if not isinstance(r[k], (int, float)) and r[k] != "N/A":
                raise SystemExit("%s: results[%s][%s] = %r is not a number" % (latest, task, k, r[k]))
        if task not in doc["n-samples"] or task not in doc["versions"] or task not in doc["n-shot"]:
            raise SystemExit("%s: %s missing from n-samples / versions / n-shot" % (latest, task))
    print(utils.make_table(doc))
    print("%s: valid (EvalResults), %d tasks; %d samples files, %d lines valid (SampleResult)"
          % (latest, len(doc["results"]), len(samples), n_samples))
    return doc


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    check(sys.argv[1])
