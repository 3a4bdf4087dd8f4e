"""Shared by the scale tests: the repository's paths, the lowrank CLI given by ctest, the tiny
Llama that bench/scale/make_llama2_7b.py generates for them, and a safetensors reader that
returns stored bytes (the references these tests compare with are byte-exact)."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "bench" / "scale" / "make_llama2_7b.py"
CLI = os.environ.get("LOWRANK_CLI", "")
# A 5-layer Llama in the HF layout, bf16, sharded into many small files (the planner leaves the
# first and last layers out, so 5 layers leave it room for a 30 % reduction).
TINY = ["--hidden-size", "64", "--intermediate-size", "172", "--num-attention-heads", "4", "--num-key-value-heads", "4",
        "--vocab-size", "300", "--layers", "5", "--max-shard-gb", "0.0002"]

requires_cli = pytest.mark.skipif(not CLI or not os.path.exists(CLI), reason="LOWRANK_CLI (the lowrank binary) not given")


def safetensors_header(path: Path) -> dict:
    b = path.read_bytes()
    (n,) = struct.unpack("<Q", b[:8])
    return json.loads(b[8:8 + n])


def safetensors_entries(path: Path) -> dict:
    """name -> (dtype, shape, stored bytes) of one safetensors file."""
    b = path.read_bytes()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    return {k: (e["dtype"], e["shape"], b[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]])
            for k, e in header.items() if k != "__metadata__"}


def make_tiny_model_and_plan(d: Path) -> tuple[Path, Path]:
    """The tiny Llama under d/model and a rank-4 γ of 30 % for it (d/plan.json)."""
    model, plan = d / "model", d / "plan.json"
    subprocess.run([sys.executable, str(GEN), "--out", str(model), *TINY], check=True, capture_output=True)
    subprocess.run([CLI, "plan", "--config", str(model / "config.json"), "--target-reduction", "0.3", "--rank", "4",
                    "--method", "svd", "--out", str(plan)], check=True, capture_output=True)
    return model, plan
