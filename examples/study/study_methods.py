"""The method axis and the layer-removal baseline of a study: points that are not one `lowrank eval`
of a γ on the dense model.

Method points (experiment "tradeoff", field "methods"): the dense model compressed with
`lowrank compress --method M` to the *same parameter budget* as a plain-truncation point of the
trade-off curve, then evaluated like every other point (same profile, paired with the dense
baseline). Three cached steps, each a point of its own kind (study_exec.run_point runs them):

  calibrate  `lowrank calibrate MODEL --text T --windows N --context L --seed S`, once per
             (model sha256, text sha256, N, L, S): CACHE/calib/KEY.stats.safetensors
  compress   `lowrank compress MODEL --method M --keep K --calib STATS`, once per (model sha256,
             method, K, calibration key): CACHE/compressed/KEY.safetensors (+ its manifest)
  eval       `lowrank eval CACHE/compressed/KEY.safetensors` with the profile's tasks

The budget. A plain point removes R = P_total − P_after parameters of the model's P_total
(`lowrank plan --gamma FILE --json`: parameters.before / .after). compress counts only the linear
parameters L (q/k/v/o/gate/up/down; `lowrank design-space --json`: parameters.linear) and spends
⌊K·L⌋ of them, so the same budget is the linear budget B = L − R, asked for as
K = (B + ½)/L (so that ⌊K·L⌋ = B despite rounding). The driver then *checks* what the CLI did:
compress's manifest must record linear_budget == B and linear_parameters.before == L, its summary
parameters.before == P_total, and the evaluation must report the compressed model's parameter
count (model.parameters) == compress's parameters.after. A method never spends more than B
(uniform ranks and structured channel counts round down), so its point sits at or just past the
plain point's reduction; the report uses each point's achieved reduction.

Only Llama-family models: `lowrank compress` refuses BERT (the driver skips such models and says
so). The calibration text must not be one the profile evaluates (refused when its sha256 equals
an evaluated file's).

Layer removal ("layer_removal": true in rank / position / distance / tradeoff): the same layer
sets as the rank-1 points with each listed block skipped (`lowrank eval --skip-layers LIST`: the
residual stream passes through the block unchanged). Llama-family only (the BERT runtime has no
such switch).
"""
from __future__ import annotations

import json
from pathlib import Path


def skip_id(layers) -> str:
    """File-name id of a layer-removal point (1-based layers)."""
    return "skip-L" + "-".join(map(str, sorted(layers)))


def keep_for_budget(linear_total: int, budget: int) -> str:
    """compress's --keep K (printed so that it parses to the same double) with ⌊K·L⌋ = budget for
    budget in [1, L]: K = (budget + ½)/L, or 1 for the whole budget. The CLI's recorded budget is
    checked afterwards (study_exec), so a rounding surprise fails loudly instead of shifting it."""
    if not 0 < budget <= linear_total:
        raise ValueError(f"linear budget {budget} is outside (0, {linear_total}]")
    return "1" if budget == linear_total else repr((budget + 0.5) / linear_total)


class CalibPoint:
    """`lowrank calibrate` once per (model, text, windows, context, seed)."""

    kind = "calibrate"

    def __init__(self, model, text: Path, windows: int, context: int, seed: int, runner):
        self.model, self.text, self.windows, self.context, self.seed = model, Path(text), windows, context, seed
        self.text_sha256 = runner.hashes(self.text)
        self.key = runner.point_key({"kind": self.kind, "model_sha256": model.sha256, "text_sha256": self.text_sha256,
                                     "windows": windows, "context": context, "seed": seed})
        self.path = runner.cache / "points" / f"{self.key}.json"
        self.artifact = runner.cache / "calib" / f"{self.key}.stats.safetensors"
        self.profile_key = f"{model.id}:calibrate"
        self.needs = []
        self.label = f"{model.id} calibrate {self.text.name} {windows}x{context} seed {seed}"

    def result_name(self) -> str:
        return f"{self.model.id}-calibrate-{self.key[:12]}.json"

    def spec_fields(self, runner) -> dict:
        return {"argv": ["calibrate", self.model.path, "--text", str(self.text), "--windows", str(self.windows),
                         "--context", str(self.context), "--seed", str(self.seed), "--out", "{out}"],
                "artifact": str(self.artifact),
                "calibrate": {"model_sha256": self.model.sha256, "text": str(self.text), "text_sha256": self.text_sha256,
                              "windows": self.windows, "context": self.context, "seed": self.seed}}


class CompressPoint:
    """`lowrank compress --method M` at the linear budget B (see the module docstring)."""

    kind = "compress"

    def __init__(self, model, method: str, budget: int, calib: CalibPoint, runner, alloc: str = "uniform"):
        if model.params_linear is None:
            raise SystemExit(f"model {model.id}: `lowrank design-space --json` reports no parameters.linear")
        self.model, self.method, self.budget, self.calib, self.alloc = model, method, int(budget), calib, alloc
        self.keep = keep_for_budget(model.params_linear, self.budget)
        self.key = runner.point_key({"kind": self.kind, "model_sha256": model.sha256, "method": method, "keep": self.keep,
                                     "alloc": alloc, "calibration": calib.key})
        self.path = runner.cache / "points" / f"{self.key}.json"
        self.artifact = runner.cache / "compressed" / f"{self.key}.safetensors"
        self.profile_key = f"{model.id}:compress:{method}"
        self.needs = [calib]
        self.label = f"{model.id} compress {method} K={float(self.keep):.4f}"

    def result(self) -> dict:
        return json.loads(self.path.read_text())

    def result_name(self) -> str:
        return f"{self.model.id}-compress-{self.method}-K{float(self.keep):.4f}.json"

    def spec_fields(self, runner) -> dict:
        return {"argv": ["compress", self.model.path, "--method", self.method, "--keep", self.keep, "--alloc", self.alloc,
                         "--calib", str(self.calib.artifact), "--threads", str(runner.threads), "--quiet",
                         "--json", "{json_out}", "--out", "{out}"],
                "artifact": str(self.artifact),
                "compress": {"model_sha256": self.model.sha256, "method": self.method, "keep": self.keep,
                             "linear_budget": self.budget, "linear_total": self.model.params_linear,
                             "params_total": self.model.params_total, "calibration_key": self.calib.key}}

