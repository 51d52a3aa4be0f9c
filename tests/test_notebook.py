"""The quickstart notebook runs top to bottom in a fresh kernel of this environment, so it never rots."""

from pathlib import Path

import pytest

from limits import HANG_LIMIT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebooks" / "quickstart.ipynb"
KERNEL = "skbatch-tests"


@pytest.fixture
def kernel_of_this_python(tmp_path, monkeypatch):
    """A kernel spec naming this interpreter, found before any 'python3' the user has registered."""
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    # The kernel inherits these. pytest-xdist already keeps every core busy, so
    # the notebook runs on one: one torch thread (extra ones spin against each
    # other), and n_jobs=-1 means one joblib job rather than worker processes.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")
    return KERNEL


@pytest.mark.slow
def test_quickstart_notebook_runs(kernel_of_this_python, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit the notebook without outputs"
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel_of_this_python, timeout=HANG_LIMIT, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "{'mlpclassifier__batch_size': " in text and "best CV accuracy: " in text
    # No warning of any kind (tqdm's "IProgress not found" without ipywidgets was the first thing a user saw).
    stderr = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"the notebook wrote to stderr: {stderr}"
    assert not [o for o in outputs if "Warning" in str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))]
    # Each search shows a live widget bar, which opens with its total, not "0fit [00:00, ?fit/s]".
    bars = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(bars) == 2, "the search and the resumed search each show a widget bar"
    first_render = bars[0]["data"]["text/plain"]
    assert "0/18" in first_render and "0fit [" not in first_render, first_render
    # The widgets' final state is saved with the notebook: the resumed search's bar says its fits came from the cache.
    models = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    # tqdm.notebook writes figure spaces (U+2007) where the text bar has spaces.
    labels = [m["state"]["value"].replace("\u2007", " ") for m in models if m["model_name"] == "HTMLModel"]
    assert [label for label in labels if "18/18" in label and "18 from cache" in label], labels
    assert "True" in [o["data"]["text/plain"] for o in outputs if o.output_type == "execute_result"], (
        "the resumed search finds the same best_params_"
    )
    table = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert table and "mean_test_score" in table[-1]["data"]["text/html"] and "n_failed_fits" in table[-1]["data"]["text/html"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2, "plot_search and the fit-time plot"
