"""Every gallery example runs on a CPU and saves its figure, so none of them rots.

The docs build (tests/test_docs.py) does not run them; this runs each one in
its own process (the ``fresh_python`` fixture of conftest.py), so pytest-xdist
spreads them over the workers.
"""

from pathlib import Path

import pytest

from limits import HANG_LIMIT

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("plot_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_saves_its_figure(example, tmp_path, fresh_python):
    result = fresh_python.run([example], cwd=tmp_path, timeout=HANG_LIMIT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert list(tmp_path.glob("*.png")), f"{example.name} saved no figure"
