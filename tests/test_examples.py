"""Every gallery example runs on a CPU and saves its figure, so none of them rots.

The docs build (tests/test_docs.py) does not run them; this runs each one in
its own process, so pytest-xdist spreads them over the workers.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from limits import HANG_LIMIT

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("plot_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_saves_its_figure(example, tmp_path):
    # pytest-xdist already keeps every core busy, so the example runs on one:
    # one torch thread (extra ones spin against each other: a small grid took
    # 140 s instead of 6 s), and n_jobs=-1 means one joblib job, not worker
    # processes that each import torch again.
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "LOKY_MAX_CPU_COUNT": "1"}
    result = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_LIMIT, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert list(tmp_path.glob("*.png")), f"{example.name} saved no figure"
