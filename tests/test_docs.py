"""The documentation builds with warnings as errors, and the user guide's code runs as written."""

import doctest
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skbatch
from limits import HANG_LIMIT

ROOT = Path(__file__).resolve().parent.parent
GUIDE_PAGES = sorted(p for p in (ROOT / "docs" / "user_guide").glob("*.rst") if ">>>" in p.read_text())
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
# What the build writes into the source tree; the test builds a copy without it.
BUILD_OUTPUT = shutil.ignore_patterns("_build", "generated", "auto_examples", "api.rst", "sg_execution_times.rst", "*.png")


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx_gallery")
    # The gallery is built without running the examples, and the notebook page
    # without running the notebook: tests/test_examples.py and
    # tests/test_notebook.py run them, so running them here too would only cost time.
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=BUILD_OUTPUT)
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=BUILD_OUTPUT)
    html = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-D",
            "plot_gallery=0",
            "-D",
            "nb_execution_mode=off",
            "-d",
            str(tmp_path / "doctrees"),
            str(tmp_path / "docs"),
            str(html),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Every public name gets an API page and every example a gallery page, with no list to keep up to date.
    for name in skbatch.__all__:
        assert (html / "generated" / f"skbatch.{name}.html").is_file(), name
    for example in EXAMPLES:
        assert (html / "auto_examples" / f"{example.stem}.html").is_file(), example.name
    assert "skbatch search" in (html / "user_guide" / "command_line.html").read_text()
    # The quickstart notebook is a page, linked from the front page.
    assert "skbatch quickstart" in (html / "notebooks" / "quickstart.html").read_text()
    assert 'href="notebooks/quickstart.html"' in (html / "index.html").read_text()


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=lambda p: p.name)
def test_user_guide_code_runs(page):
    results = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {page.name} failed"
