"""README.md as a new user meets it: each python block runs alone, and the files it names exist."""

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from limits import HANG_LIMIT
from skbatch import cli

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def _run_alone(index, code, tmp_path, fresh_python):
    """One block in a process of its own, in an empty folder, as if pasted into a new file and run by ``python``."""
    folder = tmp_path / f"block{index}"
    folder.mkdir()
    try:
        result = fresh_python.run(["-c", code], cwd=folder, timeout=HANG_LIMIT)
    except subprocess.TimeoutExpired:
        return index, None, f"timed out after {HANG_LIMIT} s"
    return index, result.returncode, result.stderr[-3000:]


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 6, "the block pattern no longer matches README.md's ```python fences"


@pytest.mark.slow
def test_every_python_block_runs_alone(tmp_path, fresh_python):
    # One at a time: the fixture's processes no longer import torch first,
    # so each block costs its own work, and pytest-xdist keeps the other core busy.
    outcomes = [_run_alone(index, code, tmp_path, fresh_python) for index, code in enumerate(BLOCKS)]
    failures = [f"block {i} (starts {BLOCKS[i].splitlines()[0]!r}) exited {rc}:\n{err}" for i, rc, err in outcomes if rc != 0]
    assert not failures, "\n\n".join(failures)


def test_the_command_line_section_names_the_files_the_command_writes(tmp_path):
    section = README.read_text().split("## Searches from the command line", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w.-]+\.(?:csv|json))`", section))
    assert named, "the section names no output file"
    report = pd.DataFrame({"lr": [0.01], "mean_test_score": [0.9]})
    cli.write_results(report, tmp_path, {"best_score": 0.9})
    written = {path.name for path in tmp_path.iterdir()}
    assert named <= written, f"README names {sorted(named - written)}, the command writes {sorted(written)}"
