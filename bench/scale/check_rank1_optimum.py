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
import struct
import sys
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import svds


def read_bf16(path: Path, name: str) -> np.ndarray:
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        e = json.loads(fh.read(n))[name]
        if e["dtype"] != "BF16":
            sys.exit(f"{path}: {name} is {e['dtype']}, expected BF16")
        a, b = e["data_offsets"]
        fh.seek(8 + n + a)
        raw = np.frombuffer(fh.read(b - a), dtype=np.uint16)
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(e["shape"]).astype(np.float64)


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model, man = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    shard_of = json.loads((model / "model.safetensors.index.json").read_text())["weight_map"]
    reported = {t["name"]: t for t in man["tensors"] if t.get("rank")}
    for name in sys.argv[3:]:
        if name not in reported:
            sys.exit(f"{sys.argv[2]}: {name} was not decomposed")
        if reported[name]["rank"] != 1:
            sys.exit(f"{sys.argv[2]}: {name} has rank {reported[name]['rank']}, this check is for rank 1")
        w = read_bf16(model / shard_of[name], name)
        s1 = svds(w, k=1, tol=1e-10, return_singular_vectors=False)[0]
        optimum = (1 - s1 * s1 / float((w * w).sum())) ** 0.5
        got = reported[name]["rel_error"]
        print(f"{name} {list(w.shape)}: optimum {optimum:.6f}, reported {got:.6f}, ratio {got / optimum:.7f}, "
              f"{reported[name]['algorithm']}")


if __name__ == "__main__":
    main()
