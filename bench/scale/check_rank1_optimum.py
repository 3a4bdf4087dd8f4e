#!/usr/bin/env python3
"""Independent check of a rank-1 decomposition of the 7B-shaped model (docs/scale.md §4).

    python3 bench/scale/check_rank1_optimum.py MODEL_DIR MANIFEST.json TENSOR [TENSOR …]

For each named weight of the bf16 safetensors model in MODEL_DIR: its largest singular value by
ARPACK (`scipy.sparse.linalg.svds`, k = 1, float64) and ‖W‖_F, hence the Eckart–Young relative
error of the best rank-1 approximation √(1 − σ₁²/‖W‖²_F), printed beside the `rel_error` that
`lowrank decompose` recorded in MANIFEST (e.g. with --svd-method randomized) and their ratio
(≥ 1 by Eckart–Young; 1 when the randomized SVD found the optimum). Needs numpy and scipy.
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import svds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_model_vs_numpy import SafetensorsSource  # noqa: E402


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model, man = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    source = SafetensorsSource(model)
    reported = {t["name"]: t for t in man["tensors"] if t.get("rank")}
    for name in sys.argv[3:]:
        if name not in reported:
            sys.exit(f"{sys.argv[2]}: {name} was not decomposed")
        if reported[name]["rank"] != 1:
            sys.exit(f"{sys.argv[2]}: {name} has rank {reported[name]['rank']}, this check is for rank 1")
        if source.raw(name)[0] != "BF16":
            sys.exit(f"{model}: {name} is {source.raw(name)[0]}, expected BF16")
        w = source.float32(name).astype(np.float64)
        s1 = svds(w, k=1, tol=1e-10, return_singular_vectors=False)[0]
        optimum = (1 - s1 * s1 / float((w * w).sum())) ** 0.5
        got = reported[name]["rel_error"]
        print(f"{name} {list(w.shape)}: optimum {optimum:.6f}, reported {got:.6f}, ratio {got / optimum:.7f}, "
              f"{reported[name]['algorithm']}")


if __name__ == "__main__":
    main()
