"""Fixtures for the tests of the `lowrank` Python package (tests/python_pkg).

ctest runs them against the package staged in the build tree (PYTHONPATH=<build>/python,
LOWRANK_CLI=<build>/examples/lowrank); scripts/test.sh runs them once more against a
`pip install .` in a fresh venv, where the CLI is the wheel's `lowrank` script."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import lowrank


def pytest_report_header(config):
    return [f"lowrank {lowrank.__version__} from {os.path.dirname(lowrank.__file__)}",
            f"lowrank.cuda_info(): {lowrank.cuda_info()}"]


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("LOWRANK_CLI") or shutil.which("lowrank")
    if not path or not os.path.exists(path):
        pytest.fail("the `lowrank` CLI is needed: set LOWRANK_CLI or put it on PATH")

    def run(*args):
        proc = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"lowrank {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def subspace_sine(a, b):
    """Sine of the largest principal angle between the column spaces of a and b (float64),
    as ‖(I − QaQaᵀ) Qb‖₂ (accurate to rounding, unlike sqrt(1 − cos²))."""
    qa, _ = np.linalg.qr(np.asarray(a, np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, np.float64))
    return float(np.linalg.norm(qb - qa @ (qa.T @ qb), 2))


def decaying(rng, m, n, dtype=np.float64):
    """A matrix with singular values 1/(1+i): a clear gap structure for subspace checks."""
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return ((u / (1.0 + np.arange(k))) @ v.T).astype(dtype)
