"""Sphinx configuration: API reference from numpydoc docstrings, the user guide, and a
sphinx-gallery built from ``examples/plot_*.py``.

Build with ``make docs`` (runs the examples) or ``make docs-noplot`` (does not).
"""

import argparse
import inspect
import os
import re
import sys
from pathlib import Path

from sklearn.base import BaseEstimator
from sklearn.model_selection._search import BaseSearchCV

import skbatch
from skbatch import cli

DOCS = Path(__file__).resolve().parent

project = "skbatch"
author = "the skbatch developers"
copyright = "the skbatch developers"
release = skbatch.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]
templates_path = ["_templates"]
# sphinx-gallery writes a downloadable .ipynb next to each example page; those
# are files to download, not pages (myst-nb would read every .ipynb as one).
exclude_patterns = ["_build", "generated/cli", "**.ipynb_checkpoints", "auto_examples/**.ipynb"]

# The quickstart notebook (examples/notebooks/, copied into notebooks/ below) is
# a page of the site, run at build time so its outputs are never stale. It is
# committed without outputs; Sphinx re-reads it, and so runs it, only when it changed.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # its cache_dir goes to a temporary folder, not into docs/
# Anything on stderr (a warning, a fallback text bar) is a Sphinx warning, so -W fails on it.
nb_output_stderr = "warn"
# Unresolved references to other projects (sklearn, torch) stay plain text:
# intersphinx would need the network, which CI machines do not have.
nitpicky = False

autosummary_generate = True
autodoc_typehints = "none"
# The class templates list members through autodoc; numpydoc would list them twice.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"skbatch {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

sphinx_gallery_conf = {
    # Every examples/plot_*.py is a gallery entry and is run by `make docs`;
    # other engineers' examples appear without touching this file.
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/notebooks/",
    "doc_module": ("skbatch",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skbatch": None},
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
}


def _api_sections():
    """Group ``skbatch.__all__`` by defining module, so names other engineers export appear on their own."""
    sections = {}
    for name in sorted(skbatch.__all__):
        obj = getattr(skbatch, name)
        module = getattr(obj, "__module__", "skbatch")
        sections.setdefault(module, []).append((name, obj))
    return dict(sorted(sections.items()))


def _write_api_reference():
    """Write ``api.rst`` (git-ignored) from ``skbatch.__all__``, as scikit-learn renders its API index in conf.py."""
    lines = [
        ".. This file is written by conf.py from skbatch.__all__; edit conf.py, not this file.",
        "",
        "=============",
        "API reference",
        "=============",
        "",
        "Everything below is importable from the top-level package, e.g.",
        "``from skbatch import MLPClassifier``.",
        "",
        ".. currentmodule:: skbatch",
        "",
    ]
    for module, members in _api_sections().items():
        doc = inspect.getdoc(sys.modules[module]) or ""
        title = f"``{module}``"
        lines += [title, "=" * len(title), "", doc.split("\n\n")[0].replace("\n", " "), ""]

        # A search's inherited API is scikit-learn's, documented there (in
        # docstrings that point into scikit-learn's glossary): show its own part.
        def estimator(o):
            return inspect.isclass(o) and issubclass(o, BaseEstimator) and not issubclass(o, BaseSearchCV)

        kinds = {
            "estimator": [n for n, o in members if estimator(o)],
            "class": [n for n, o in members if inspect.isclass(o) and not estimator(o)],
            "function": [n for n, o in members if not inspect.isclass(o)],
        }
        for template, names in kinds.items():
            if names:
                lines += [".. autosummary::", "   :toctree: generated/", f"   :template: {template}.rst", ""]
                lines += [f"   {n}" for n in names] + [""]
    _write_if_changed(DOCS / "api.rst", "\n".join(lines))


def _write_cli_help():
    """Write the ``--help`` text of each command, so the Command line page cannot drift from the code."""
    os.environ["COLUMNS"] = "88"
    parser = cli._build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = DOCS / "generated" / "cli"
    out.mkdir(parents=True, exist_ok=True)
    _write_if_changed(out / "skbatch.txt", parser.format_help())
    _write_if_changed(out / "search.txt", commands.choices["search"].format_help())


def _write_if_changed(path, text):
    # Rewriting an unchanged file would make Sphinx re-read it on every build.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _copy_notebooks():
    """Copy ``examples/notebooks/*.ipynb`` into ``notebooks/`` (git-ignored): Sphinx reads pages only under docs/."""
    out = DOCS / "notebooks"
    out.mkdir(exist_ok=True)
    for notebook in sorted((DOCS.parent / "examples" / "notebooks").glob("*.ipynb")):
        _write_if_changed(out / notebook.name, notebook.read_text())


_write_api_reference()
_write_cli_help()
_copy_notebooks()


_SPHINX_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^>]*>)?`")


def _unlink_foreign_roles(app, what, name, obj, options, lines):
    """Turn ``:ref:`` and ``:term:`` in docstrings inherited from scikit-learn into plain text.

    Those roles point at labels of scikit-learn's own site (its glossary, its
    metadata-routing guide); without intersphinx they cannot resolve here and
    ``-W`` would fail on methods such as ``score`` and ``set_score_request``.
    """
    if getattr(obj, "__module__", "") and obj.__module__.startswith("sklearn"):
        lines[:] = [_SPHINX_ROLE.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _unlink_foreign_roles)
