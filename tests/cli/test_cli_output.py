"""The ``skbatch search`` command's output: paths checked before training, and results kept whatever fails."""

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from cli_run import run_main

FAST = ["--cv", "2", "--max-epochs", "2", "--no-progress"]


# --- issue 22: the command line never loses a finished search ---------------


@pytest.mark.parametrize(
    "where, match",
    [
        (lambda tmp: tmp, r"--save-model {p} is a directory; give a file path, e.g. --save-model {p}/model.skbatch"),
        (lambda tmp: tmp / "a_file" / "best.skbatch", r"--save-model {p}: {tmp}/a_file is a file, not a folder"),
        (lambda tmp: Path("/proc/skbatch-test/best.skbatch"), r"--save-model {p}: cannot write in /proc/skbatch-test \("),
        (lambda tmp: Path("/proc/best.skbatch"), r"--save-model {p}: cannot write in /proc \("),
    ],
)
def test_save_model_path_is_checked_before_training(iris_csv, tmp_path, capsys, where, match):
    pytest.importorskip("skops.io")
    (tmp_path / "a_file").write_text("")
    path = where(tmp_path)
    status, out, err = run_main(
        [
            "search",
            iris_csv,
            "--target",
            "species",
            "--param",
            "lr=1e-3,1e-2",
            "--save-model",
            path,
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("skbatch: error: ")
    assert re.search(match.format(p=re.escape(str(path)), tmp=re.escape(str(tmp_path))), err), err
    assert "search on" not in err and out == "", "no training before the check"
    # The write check left nothing behind.
    assert os.listdir(tmp_path / "out") == []


def test_a_model_that_fails_to_save_leaves_the_results(iris_csv, tmp_path, capsys, monkeypatch):
    pytest.importorskip("skops.io")
    replace = os.replace

    def disk_full_for_models(src, dst):
        # The disk fills up as the model, the last file written, is moved into place.
        if str(dst).endswith(".skbatch"):
            raise OSError(28, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full_for_models)
    out_dir, model_path = tmp_path / "out", tmp_path / "models" / "best.skbatch"
    status, out, err = run_main(
        [
            "search",
            iris_csv,
            "--target",
            "species",
            "--search",
            "grid",
            "--param",
            "lr=1e-3,1e-2",
            "--save-model",
            model_path,
            "--output-dir",
            out_dir,
            *FAST,
        ],
        capsys,
    )
    assert status == 1
    assert "best_params_: " in out
    assert err.splitlines()[-1] == (
        f"skbatch: error: the best model could not be saved to {model_path} ([Errno 28] No space left on device); "
        f"the search's results are in {out_dir / 'report.csv'} and {out_dir / 'results.json'}"
    )
    summary = json.loads((out_dir / "results.json").read_text())
    assert "model" not in summary and summary["n_candidates"] == 2
    assert len(pd.read_csv(out_dir / "report.csv")) == 2
    assert os.listdir(model_path.parent) == [], "no model and no partial file"


def test_a_huge_range_bound_is_one_line_not_a_traceback(iris_csv, tmp_path, capsys):
    status, out, err = run_main(
        [
            "search",
            iris_csv,
            "--target",
            "species",
            "--param",
            f"max_epochs=1:{10**20}",
            "--n-iter",
            "2",
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 1
    assert err == (
        f"skbatch: error: --param max_epochs=1:{10**20}: integer ends must lie between -2**63 and 2**63 - 2, got 1 and {10**20}\n"
    )
