"""``make gpu-check`` exists, and where CUDA is absent it says so and exits 0 at once."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from limits import HANG_LIMIT

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: the script runs every check")
def test_gpu_check_skips_with_a_message_and_exits_0_without_cuda():
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, capture_output=True, text=True, timeout=HANG_LIMIT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gpu-check: skipped:")
    assert "no CUDA device" in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gpu_check_runs_the_script_after_installing():
    # -n prints the commands without running them: the install, then the script.
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-W", "pyproject.toml", "gpu-check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    commands = done.stdout.splitlines()
    assert any("pip install" in line for line in commands)
    assert commands[-1].endswith("benchmarks/gpu_check.py")
