import json
import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def cli():
    """Runs the `lowrank` CLI (LOWRANK_CLI); returns the CompletedProcess."""
    path = os.environ.get("LOWRANK_CLI")
    if not path or not os.path.exists(path):
        pytest.fail("LOWRANK_CLI must point at the built `lowrank` executable")

    def run(*args, check=True):
        proc = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"lowrank {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    run.path = path
    return run


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
