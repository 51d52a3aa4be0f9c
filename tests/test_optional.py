"""The optional extras: `import skbatch` loads neither, and each function that needs one names the extra."""

import subprocess
import sys

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV

import skbatch
from skbatch import MLPClassifier, cli, plot_batch_size_study, plot_learning_curves, plot_search
from skbatch._optional import import_optional
from skbatch.fused import search as fused_search
from skbatch.inspection.plotting import _STUDY_NEEDS

PLOT_FIX = r"Install it with: pip install 'skbatch\[plot\]'"
BAYES_FIX = r"Install it with: pip install 'skbatch\[bayes\]'"


@pytest.fixture
def without_matplotlib(monkeypatch):
    # As if not installed, even where an earlier test imported it.
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.fixture
def without_skopt(monkeypatch):
    monkeypatch.setitem(sys.modules, "skopt", None)
    # The class is built once and kept in the module; drop it so it is built again.
    monkeypatch.delitem(vars(fused_search), "FusedBayesSearchCV", raising=False)


@pytest.mark.slow  # a fresh interpreter importing torch: about 5 s of CPU
def test_import_skbatch_loads_neither_skopt_nor_matplotlib():
    code = "import sys, skbatch; loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('skopt', 'matplotlib')); print(loaded)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_plot_search_without_matplotlib_names_the_extra(without_matplotlib):
    # Said before anything else: no search can be plotted without it.
    search = GridSearchCV(MLPClassifier(), {"lr": [1e-3, 1e-2]})
    with pytest.raises(ModuleNotFoundError, match=f"plot_search needs matplotlib, which is not installed. {PLOT_FIX}"):
        plot_search(search)


def test_study_and_learning_curve_plots_without_matplotlib_name_the_extra(without_matplotlib):
    study = pd.DataFrame({column: [1.0] for column in _STUDY_NEEDS})
    with pytest.raises(ImportError, match=f"plot_batch_size_study needs matplotlib.*{PLOT_FIX}"):
        plot_batch_size_study(study)
    X, y = load_iris(return_X_y=True)
    fitted = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=1, device="cpu").fit(X, y)
    with pytest.raises(ImportError, match=f"plot_learning_curves needs matplotlib.*{PLOT_FIX}"):
        plot_learning_curves({"batch 200": fitted})


def test_fused_bayes_search_without_skopt_names_the_extra(without_skopt):
    message = f"FusedBayesSearchCV needs scikit-optimize, which is not installed. {BAYES_FIX}"
    with pytest.raises(ImportError, match=message):
        skbatch.FusedBayesSearchCV  # noqa: B018 (the attribute access is what builds the class)


def test_cli_bayes_search_without_skopt_is_a_command_line_error(without_skopt):
    # main() prints a CommandLineError as one line and exits 1, rather than a traceback.
    with pytest.raises(cli.CommandLineError, match=f"--search bayes needs scikit-optimize.*{BAYES_FIX}"):
        cli._search_space({"lr": cli._Range(1e-4, 1e-1, log=True)}, "bayes", "mlpclassifier__")


def test_a_broken_install_keeps_its_own_error(monkeypatch):
    # matplotlib itself imports, but a part of it does not: installing the
    # extra is not the fix, so the message must not say it is.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ModuleNotFoundError) as error:
        import_optional("matplotlib.pyplot", needed_by="plot_search")
    assert "skbatch[plot]" not in str(error.value)
    assert error.value.name == "matplotlib.pyplot"
