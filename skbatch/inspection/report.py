"""What a finished search did: a per-candidate table (scores, fit times, devices, failures) and a plot.

Both read ``cv_results_``, which every scikit-learn search and
scikit-optimize's BayesSearchCV fill the same way. Which device each
(candidate, split) fit used, how long it really trained and why a failed
fit failed are not in ``cv_results_``: the estimators write them as records
into their ``cache_dir`` (see :mod:`skbatch.cache.store`). A record is matched to
its (candidate, split) by the fingerprint of the candidate's params and of
the fold's labels ``y[train]``: the labels reach the estimator unchanged
even inside a Pipeline, where ``X`` has been transformed. So the report
takes the search's ``X`` and ``y``, recomputes the splits with
``check_cv`` as the search did, and fingerprints each fold.
"""

import math
import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted

from .._compat import safe_indexing
from .._optional import import_optional
from ..cache.keys import (
    UnfingerprintableParamError,
    data_fingerprint,
    params_fingerprint,
)
from ..cache.store import FitCache
from ..estimators.network_step import network_step

__all__ = ["search_report", "plot_search"]


def _short_names(names):
    """Map ``'mlpclassifier__lr'`` to ``'lr'`` wherever the short name stays unique."""
    short = {name: name.rsplit("__", 1)[-1] for name in names}
    counts = pd.Series(list(short.values())).value_counts()
    return {name: s if counts[s] == 1 else name for name, s in short.items()}


def _main_metric(search):
    results = search.cv_results_
    if "mean_test_score" in results:
        return "score"
    if isinstance(search.refit, str):
        return search.refit
    return sorted(k.removeprefix("rank_test_") for k in results if k.startswith("rank_test_"))[0]


def _error_score_is_nan(search):
    error_score = getattr(search, "error_score", np.nan)
    return isinstance(error_score, numbers.Real) and math.isnan(error_score)


def _split_records(search, X, y, groups, records):
    """The record of each (candidate, split) fit: a list per candidate of one per split, None if unknown."""
    cv = check_cv(search.cv, y, classifier=is_classifier(search.estimator))
    splits = list(cv.split(X, y, groups))
    y_fps = [data_fingerprint(safe_indexing(y, train)) for train, _ in splits]
    # The fold's X is the estimator's X only without a Pipeline in between;
    # it tells apart folds whose labels happen to be equal.
    torch_is_outer = network_step(search.estimator)[1] == ""
    by_key = {}
    for record in records:
        by_key.setdefault((record.get("params_fingerprint"), record.get("y_fingerprint")), []).append(record)

    table = []
    for params in search.cv_results_["params"]:
        candidate, _ = network_step(clone(search.estimator).set_params(**params), nested=True)
        try:
            params_fp = params_fingerprint(candidate)
        except UnfingerprintableParamError:  # never cached, so no record to find
            params_fp = None
        row = []
        for (train, _), y_fp in zip(splits, y_fps):
            found = by_key.get((params_fp, y_fp), [])
            if len(found) > 1 and torch_is_outer:
                x_fp = data_fingerprint(safe_indexing(X, train))
                found = [r for r in found if r.get("x_fingerprint") == x_fp]
            # Several fits with equal labels behind a Pipeline: not attributable.
            row.append(found[0] if len(found) == 1 else None)
        table.append(row)
    return table


def search_report(search, X=None, y=None, *, groups=None, cache_dir=None):
    """Summarise a finished search: one row per candidate, best first.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV, BayesSearchCV or Halving search
        Its estimator is a skbatch estimator, or a Pipeline (or other
        meta-estimator) holding one. Other estimators get the columns that
        ``cv_results_`` alone gives.
    X, y : array-like, default=None
        The data the search was fitted on. With both, and a cache
        directory, each split gets the device it ran on, its training time
        and its failure, read from the fit records; without, the report
        holds what ``cv_results_`` holds.
    groups : array-like, default=None
        The ``groups`` the search was fitted with, for group-aware splitters.
    cache_dir : str or path-like, default=None
        Where the fit records are. Defaults to the skbatch estimator's own
        ``cache_dir`` param.

    Returns
    -------
    pandas.DataFrame
        Sorted by rank, one row per candidate:

        - one column per searched param, named without the pipeline step
          prefix where that stays unambiguous;
        - ``mean_test_score``, ``std_test_score``, ``rank_test_score`` (or
          the same per metric, with multi-metric scoring),
          ``mean_fit_time``, ``std_fit_time``, ``mean_score_time``, and
          ``mean_train_score`` where the search computed it;
        - ``split{k}_test_score`` for each split k;
        - ``n_failed_fits``, ``n_failed_scores`` (fits that trained, by
          their record, but whose score is NaN: the scorer failed, e.g.
          ``roc_auc`` on three classes) and ``errors`` (the messages of the
          failed fits and scores, prefixed by their split, or empty);
        - with records: ``split{k}_device``, ``split{k}_fit_time`` (the
          training time recorded when the fit first ran, also when the
          search restored it from the cache; for a fit trained fused, its
          share of the stack's time: the stack's seconds divided by its
          models), ``mean_training_time`` (their mean, over the splits with a record) and ``devices``
          (the distinct devices of the candidate's fits).

        ``report.attrs["param_columns"]`` lists the param columns.

    Notes
    -----
    A split with no matching record (no cache directory, a splitter that
    shuffles without a fixed ``random_state``, or two folds with identical
    labels behind a Pipeline, or a Halving search with the default
    ``resource='n_samples'``, which trains on subsamples of the folds)
    shows NaN in its device and fit-time columns.
    Without records a failed fit is recognised only when ``error_score``
    is NaN (scikit-learn's default); with records, whatever its value.
    A failed scoring is told from a failed fit by the record alone (a NaN
    score behind an 'ok' record), so only with records and a NaN
    ``error_score``; without records a NaN score is reported as "fit or
    scoring failed".

    ``mean_fit_time`` is ``cv_results_``'s: the time of each fit's call in
    this search, which for a fit restored from the cache is the restore
    time. The fused searches add each fused fit's share of its stack's
    training to it (see :class:`skbatch.FusedSearchMixin`); what a fit
    first took, in this search or an earlier one, is ``mean_training_time``.

    See Also
    --------
    plot_search : Score against each searched param.
    skbatch.cache.store.load_fit_records : Every record of a cache directory.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skbatch import MLPClassifier, search_report
    >>> X, y = load_iris(return_X_y=True)
    >>> net = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=5, device="cpu", random_state=0)
    >>> search = GridSearchCV(net, {"lr": [1e-3, 1e-2]}, cv=3).fit(X, y)
    >>> report = search_report(search, X, y)
    >>> list(report["lr"])
    [0.01, 0.001]
    """
    check_is_fitted(search, "cv_results_")
    results = search.cv_results_
    n_candidates = len(results["params"])
    metric = _main_metric(search)

    param_names = sorted({name for params in results["params"] for name in params})
    short = _short_names(param_names)
    table = pd.DataFrame(
        {short[name]: [params.get(name, np.nan) for params in results["params"]] for name in param_names},
        index=pd.RangeIndex(n_candidates),
    )
    summary = [
        key
        for key in results
        if key.startswith(("mean_test_", "std_test_", "rank_test_", "mean_train_"))
        or key in ("mean_fit_time", "std_fit_time", "mean_score_time")
    ]
    for key in summary:
        table[key] = np.asarray(results[key])

    test_key = f"split{{}}_test_{metric}"
    n_splits = sum(1 for key in results if key.startswith("split") and key.endswith(f"_test_{metric}"))
    for k in range(n_splits):
        table[test_key.format(k)] = np.asarray(results[test_key.format(k)])

    records = None
    torch_estimator, _ = network_step(search.estimator, nested=True)
    if cache_dir is None and torch_estimator is not None:
        cache_dir = torch_estimator.cache_dir
    if cache_dir is not None and X is not None and y is not None and torch_estimator is not None:
        records = _split_records(search, X, y, groups, FitCache(cache_dir).records())

    if records is not None:
        unexplained = "no record of this fit matched"
    elif cache_dir is None or torch_estimator is None:
        unexplained = "no record of why; give the estimator a cache_dir to keep one"
    else:
        unexplained = "pass X and y to search_report to read why from the records"
    scores = np.column_stack([np.asarray(results[test_key.format(k)], dtype=float) for k in range(n_splits)])
    failed_by_score = np.isnan(scores) if _error_score_is_nan(search) else np.zeros_like(scores, dtype=bool)
    n_failed, n_unscored, errors = [], [], []
    for i in range(n_candidates):
        messages, unscored = [], 0
        for k in range(n_splits):
            record = records[i][k] if records is not None else None
            status = None if record is None else record.get("status")
            if status == "failed":
                messages.append(f"split {k}: {record.get('error')}")
            elif status == "ok" and failed_by_score[i, k]:
                # The record says the network trained: it was the scorer that failed.
                unscored += 1
                messages.append(f"split {k}: scoring failed (the fit trained; its score is NaN)")
            elif failed_by_score[i, k]:
                messages.append(f"split {k}: fit or scoring failed ({unexplained})")
        n_failed.append(len(messages) - unscored)
        n_unscored.append(unscored)
        errors.append("; ".join(messages))
    table["n_failed_fits"] = n_failed
    table["n_failed_scores"] = n_unscored
    table["errors"] = errors

    if records is not None:
        for k in range(n_splits):
            table[f"split{k}_device"] = [_field(records[i][k], "device") for i in range(n_candidates)]
            table[f"split{k}_fit_time"] = [_field(records[i][k], "fit_time", float) for i in range(n_candidates)]
        table["mean_training_time"] = table[[f"split{k}_fit_time" for k in range(n_splits)]].mean(axis=1)
        table["devices"] = [", ".join(sorted({r["device"] for r in row if r is not None and r.get("device")})) for row in records]

    table = table.sort_values(f"rank_test_{metric}", kind="stable").reset_index(drop=True)
    table.attrs["param_columns"] = [short[name] for name in param_names]
    return table


def _field(record, name, kind=None):
    value = None if record is None else record.get(name)
    if value is None:
        return np.nan
    return kind(value) if kind is not None else value


def _is_numeric(values):
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v)) for v in values)


def plot_search(search, params=None, *, ax=None):
    """Plot the mean test score of every candidate against each searched param.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV, BayesSearchCV or Halving search
        The search to plot.
    params : list of str, default=None
        Params to plot, by full name (``'mlpclassifier__lr'``) or short
        name (``'lr'``). Default: every param that took more than one value.
    ax : matplotlib Axes or array of Axes, default=None
        Where to draw, one Axes per param. Default: a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per param: each candidate is a point at its mean test
        score with its standard deviation over splits as an error bar; the
        best candidate is a star. Numeric params spanning a factor of ten
        or more (all positive) get a log axis; others (strings, tuples,
        booleans, None, or mixed types) are categories, in the order the
        grid or search space lists them (else sorted). Candidates whose score is NaN (failed fits) are left out and
        counted in the panel's title. A numeric param with a few
        distinct values (a grid) has those values as ticks; a log axis is
        labelled in plain numbers.

    See Also
    --------
    search_report : The same results as a table.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skbatch import MLPClassifier, plot_search
    >>> X, y = load_iris(return_X_y=True)
    >>> net = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=5, device="cpu", random_state=0)
    >>> search = GridSearchCV(net, {"lr": [1e-3, 1e-2, 1e-1]}, cv=3).fit(X, y)
    >>> fig = plot_search(search)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    plt = import_optional("matplotlib.pyplot", needed_by="plot_search")
    check_is_fitted(search, "cv_results_")
    results = search.cv_results_
    metric = _main_metric(search)
    mean = np.asarray(results[f"mean_test_{metric}"], dtype=float)
    std = np.asarray(results[f"std_test_{metric}"], dtype=float)
    best = int(np.argmin(np.asarray(results[f"rank_test_{metric}"])))

    all_names = sorted({name for p in results["params"] for name in p})
    short = _short_names(all_names)
    if params is None:
        names = [n for n in all_names if len({repr(p.get(n)) for p in results["params"]}) > 1] or all_names
    else:
        lookup = {**{n: n for n in all_names}, **{s: n for n, s in short.items()}}
        unknown = [p for p in params if p not in lookup]
        if unknown:
            raise ValueError(
                f"params={params!r} names {unknown!r}, which the search did not vary. "
                f"Choose among {sorted(set(all_names) | set(short.values()))!r}."
            )
        names = [lookup[p] for p in params]
    if not names:
        raise ValueError("The search has no params to plot: its cv_results_['params'] are all empty.")

    if ax is None:
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), sharey=True, squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(ax)
        if len(axes) != len(names):
            raise ValueError(f"ax holds {len(axes)} Axes for {len(names)} params {names!r}; pass one per param.")
        fig = axes[0].figure

    for axis, name in zip(axes, names):
        rows = [i for i, p in enumerate(results["params"]) if name in p and not math.isnan(mean[i])]
        values = [results["params"][i][name] for i in rows]
        n_failed = sum(1 for p, m in zip(results["params"], mean) if name in p and math.isnan(m))
        if values and _is_numeric(values):
            x = np.asarray(values, dtype=float)
            if x.min() > 0 and x.max() / x.min() >= 10:
                axis.set_xscale("log")
                _plain_log_ticks(axis, x)
            declared = _declared_values(search, name)
            if declared and _is_numeric(declared):  # a grid: label the values searched
                distinct = np.unique(np.asarray(declared, dtype=float))
                axis.set_xticks(distinct, [f"{v:g}" for v in distinct], rotation=45 if len(distinct) > 5 else 0)
            axis.margins(x=0.08)
        else:
            categories = _category_order(search, name, values)
            position = {c: j for j, c in enumerate(categories)}
            x = np.asarray([position[repr(v) if not isinstance(v, str) else v] for v in values], dtype=float)
            axis.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
            axis.set_xlim(-0.5, len(categories) - 0.5)
        axis.errorbar(x, mean[rows], yerr=std[rows], fmt="o", alpha=0.7, capsize=3)
        if best in rows:
            j = rows.index(best)
            axis.plot(x[j], mean[best], "*", markersize=16, color="tab:red", label="best")
            axis.legend(loc="best")
        axis.set_xlabel(short[name])
        axis.set_title(short[name] + (f" ({n_failed} candidates failed)" if n_failed else ""))
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel(f"mean test {_metric_name(search, metric)}")
    fig.tight_layout()
    return fig


def _metric_name(search, metric):
    """What "score" is: the search's scoring string, or the estimator's own score."""
    if metric != "score":
        return metric
    scoring = getattr(search, "scoring", None)
    if isinstance(scoring, str):
        return scoring
    if scoring is None:
        return "R²" if is_regressor(search.estimator) else "accuracy"
    return getattr(scoring, "__name__", "score")


def _category(value):
    return value if isinstance(value, str) else repr(value)


def _declared_values(search, name):
    """The values of ``name`` in the order the search was given them, where it lists them."""
    declared = []
    grids = getattr(search, "param_grid", None) or getattr(search, "param_distributions", None)
    spaces = getattr(search, "search_spaces", None)
    for grid in grids if isinstance(grids, list) else [grids] if grids is not None else []:
        values = grid.get(name) if isinstance(grid, dict) else None
        if isinstance(values, (list, tuple)):
            declared += list(values)
    for space in spaces if isinstance(spaces, list) else [spaces] if spaces is not None else []:
        space = space[0] if isinstance(space, tuple) else space  # BayesSearchCV's (space, n_iter)
        dimension = space.get(name) if isinstance(space, dict) else None
        declared += list(getattr(dimension, "categories", None) or (dimension if isinstance(dimension, list) else []))
    return declared


def _category_order(search, name, values):
    """The categories of a panel: in the grid's order where the search lists them, else sorted."""
    seen = {_category(v) for v in values}
    ordered = [c for c in dict.fromkeys(_category(v) for v in _declared_values(search, name)) if c in seen]
    rest = sorted(seen - set(ordered), key=lambda c: (len(c), c))  # '64' before '128'
    return ordered + rest


def _plain_log_ticks(axis, x):
    """Log-axis ticks as plain numbers, few enough not to overlap.

    matplotlib labels minor ticks (2x10^-2, 3x10^-2, ...) on a range under a
    decade, and writes its major labels as powers of ten: both overlap at
    this width.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = np.log10(x.max() / x.min())
    subs = (1.0,) if decades > 3 else (1.0, 3.0) if decades > 1.5 else (1.0, 2.0, 5.0)
    axis.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
