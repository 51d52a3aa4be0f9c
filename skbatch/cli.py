"""The ``skbatch`` command: cross-validated searches from a data file, for batch jobs and clusters.

Run ``skbatch search --help`` and ``skbatch demo --help``; the user guide's
"Command line" page walks through a search.
"""

import argparse
import contextlib
import difflib
import json
import math
import sys
import tempfile
import time
import warnings
from numbers import Integral, Real
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from . import demo
from ._compat import Interval, InvalidParameterError
from .cache.atomic import atomic_write
from .cli_data import (
    CommandLineError,
    categorical_columns,
    make_preprocessing,
    read_table,
    split_target,
)
from .cli_params import _Range, _search_space, _skopt, parse_param
from .cli_task import CLASS_LIMIT, choose_task
from .devices.resolve import resolve_device
from .estimators.network_step import network_step
from .fused.search import FusedGridSearchCV, FusedRandomizedSearchCV
from .inspection.progress import progress_bar
from .inspection.report import search_report
from .saving import save

__all__ = ["main"]


def _integers_only(estimator, name):
    """Whether ``name``'s constraints take ints and no other numbers (``batch_size``), or say nothing of numbers.

    A range is typed by the param it is for, not by how its ends are
    written: ``lr=10:100`` must draw floats, since ``lr`` is real-valued.
    """
    numeric = [
        c
        for c in type(estimator)._parameter_constraints.get(name, [])
        if isinstance(c, Interval) or (isinstance(c, type) and issubclass(c, Real))
    ]
    if not numeric:
        return True
    return all((c.type if isinstance(c, Interval) else c) is Integral or c is int for c in numeric)


def _typed_range(estimator, name, spec):
    if spec.is_integer and not _integers_only(estimator, name):
        return _Range(float(spec.low), float(spec.high), log=spec.log)
    return spec


def _check_params_against(estimator, specs, fixed):
    """Fail before any training when a name or value cannot work, rather than after hours of NaN scores."""
    valid = estimator.get_params(deep=False)
    for name in [*specs, *fixed]:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(sorted(valid))}"
            raise CommandLineError(f"--param {name}: {type(estimator).__name__} has no parameter {name!r}; {hint}")
    _validate(estimator, "--max-epochs")
    for name, value in fixed.items():
        _validate(clone(estimator).set_params(**{name: value}), f"--param {name}")
    for name, spec in specs.items():
        values = [spec.low, spec.high] if isinstance(spec, _Range) else spec
        for value in values:
            _validate(clone(estimator).set_params(**{name: value}), f"--param {name}")


def _validate(estimator, option):
    try:
        estimator._validate_params()
        estimator._check_params()
        # The constraints take any str as a device; only resolving it tells 'gpu' from 'cuda'.
        if isinstance(estimator.device, str):
            resolve_device(estimator.device)
    except (InvalidParameterError, ValueError) as exc:
        raise CommandLineError(f"{option}: {exc}") from None


def _to_builtin(value):
    """JSON and printing want plain Python values, not numpy scalars (numpy 2 prints ``np.int64(64)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_to_builtin(v) for v in value]
    if value is np.ma.masked:
        return None
    return value


def _unprefixed(params, prefix):
    return {key.removeprefix(prefix): _to_builtin(value) for key, value in params.items()}


def write_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the whole new one."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _json_safe(value):
    """``value`` with NaN and infinities as None: JSON has no NaN, and ``json.dumps`` would write it anyway."""
    value = _to_builtin(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_results(report, output_dir, summary):
    """Write ``report.csv`` (the search report, best first) and ``results.json`` (summary and candidates).

    ``results.json`` is strict JSON: a NaN score (a failed fit) is ``null``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = output_dir / "report.csv", output_dir / "results.json"
    write_atomic(csv_path, report.to_csv(index=False))
    candidates = json.loads(report.to_json(orient="records"))
    document = _json_safe({**summary, "candidates": candidates})
    write_atomic(json_path, json.dumps(document, indent=2, default=str, allow_nan=False) + "\n")
    return csv_path, json_path


def _make_estimator(args, task, specs, fixed):
    try:
        # Checked here as well as in each fit so that a typo fails now, not as a NaN score per fit.
        resolve_device(args.device)
    except ValueError as exc:
        raise CommandLineError(f"--device {args.device}: {exc}") from None
    estimator = task.estimator_class(random_state=args.random_state, device=args.device, cache_dir=args.cache_dir)
    if args.max_epochs is not None:
        estimator.set_params(max_epochs=args.max_epochs)
    _check_params_against(estimator, specs, fixed)
    estimator.set_params(**fixed)
    if args.scoring is not None and args.scoring not in get_scorer_names():
        close = difflib.get_close_matches(args.scoring, get_scorer_names(), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "see sklearn.metrics.get_scorer_names()"
        raise CommandLineError(f"--scoring {args.scoring} is not a scikit-learn scorer name; {hint}")
    return estimator


def _make_search(args, task, pipeline, space):
    common = dict(
        cv=task.cv(args.cv, args.random_state),
        scoring=args.scoring,
        n_jobs=args.n_jobs,
        verbose=args.verbose,
    )
    if args.search == "grid":
        return (FusedGridSearchCV if args.fused else GridSearchCV)(pipeline, space, **common)
    if args.search == "random":
        search_class = FusedRandomizedSearchCV if args.fused else RandomizedSearchCV
        return search_class(pipeline, space, n_iter=args.n_iter, random_state=args.random_state, **common)
    if args.fused:
        from .fused.search import FusedBayesSearchCV as search_class
    else:
        search_class = _skopt("skopt").BayesSearchCV

    return search_class(pipeline, space, n_iter=args.n_iter, random_state=args.random_state, **common)


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run each fit with ``n_threads`` torch threads: in this process, and in the search's worker processes.

    In this process torch's own count is set (and put back after); a fit
    takes its share of it (:func:`skbatch.devices.pool.cpu_thread_share`).
    Worker processes started by joblib's loky backend get
    ``OMP_NUM_THREADS`` and the like set to ``n_threads`` before torch
    loads there (``joblib.parallel_config(inner_max_num_threads=...)``).
    ``None`` changes nothing: torch then uses every core of the machine,
    which on a shared node can make each fit many times slower.
    """
    if n_threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        # joblib takes the thread limit only with a backend named; loky is the default one.
        with joblib.parallel_config(backend="loky", inner_max_num_threads=n_threads):
            yield
    finally:
        torch.set_num_threads(before)


def _last_line(text, limit=300):
    """The line of a traceback or multi-line message that says what went wrong, cut to ``limit`` characters."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _fit(search, X, y, args):
    """Fit the search; return one line per distinct warning, so that the log stays greppable."""
    with warnings.catch_warnings(record=True) as caught, torch_threads(args.threads):
        warnings.simplefilter("always")
        with progress_bar() if args.progress else contextlib.nullcontext():
            try:
                search.fit(X, y)
            except ValueError as exc:
                if "fits failed" not in str(exc):
                    raise
                # scikit-learn's message holds a traceback per kind of failure: keep the error itself.
                raise CommandLineError(f"every fit failed: {_last_line(exc)}") from None
    lines = dict.fromkeys(
        f"{w.category.__name__}: {'scoring failed: ' if 'Scoring failed' in str(w.message) else ''}{_last_line(w.message)}" for w in caught
    )
    return list(lines)


def _check_scores(search, scoring, warned):
    scores = np.asarray(search.cv_results_["mean_test_score"], dtype=float)
    if np.isnan(scores).all():
        reasons = [line for line in warned if "scoring failed: " in line or line.startswith("FitFailedWarning")]
        reason = reasons[0] if reasons else "see the warnings above"
        raise CommandLineError(f"every candidate scored NaN with --scoring {scoring}, so there is no best one ({reason})")


def check_writable(path, option, *, folder=False):
    """Fail now, before any training, if nothing can be written at ``path`` (a file, or a folder with ``folder``).

    The check writes and removes a temporary file where the real one will go,
    as :func:`~skbatch.cache.atomic.atomic_write` will: permissions, a
    read-only or pseudo file system (``/proc``), a file where a folder
    should be, all fail the same way here as they would after the search.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise CommandLineError(f"{option} {path} is a directory; give a file path, e.g. {option} {path / 'model.skbatch'}")
    where = path if folder else path.parent
    existing = next(p for p in [where, *where.parents] if p.exists() or p == p.parent)
    if existing.exists() and not existing.is_dir():
        raise CommandLineError(f"{option} {path}: {existing} is a file, not a folder; give a path in a folder")
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".skbatch-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandLineError(f"{option} {path}: cannot write in {where} ({reason}); give a path in a folder you can write") from None


def _parse_specs(args):
    specs, fixed = {}, {}
    for text in args.param:
        name, spec = parse_param(text)
        if name in specs or name in fixed:
            raise CommandLineError(f"--param {name} is given twice; give each name once")
        (specs if isinstance(spec, (list, _Range)) else fixed)[name] = spec
    if not specs:
        raise CommandLineError("nothing to search: give at least one --param with a list or range, e.g. --param batch_size=16,64,256")
    return specs, fixed


def _check_options(args):
    """The checks that need no data: they fail before the file is read."""
    if args.cv < 2:
        raise CommandLineError(f"--cv must be at least 2, got {args.cv}")
    if args.n_iter < 1:
        raise CommandLineError(f"--n-iter must be at least 1, got {args.n_iter}")
    if args.threads is not None and args.threads < 1:
        raise CommandLineError(f"--threads must be at least 1, got {args.threads}")
    if args.save_model is not None:
        try:
            import skops.io  # noqa: F401
        except ImportError:
            raise CommandLineError("--save-model needs skops, which is not installed: pip install 'skbatch[cli]'") from None


def _losses(specs, fixed):
    """The ``loss`` values the search may train with."""
    loss = specs.get("loss", fixed.get("loss"))
    return set(loss) if isinstance(loss, list) else {loss} - {None}


def _run_search(args):
    specs, fixed = _parse_specs(args)
    _check_options(args)

    def say(line):
        print(f"skbatch: {line}", file=sys.stderr)

    X, y = split_target(read_table(args.data, say=say), args.target, source=str(args.data))
    task = choose_task(y, args.task, args.target, scale_target=args.scale_target, losses=_losses(specs, fixed))
    estimator = task.estimator_class()
    specs = {n: _typed_range(estimator, n, s) if isinstance(s, _Range) else s for n, s in specs.items()}
    estimator = _make_estimator(args, task, specs, fixed)
    task.check_scoring(args.scoring, y)
    scoring = args.scoring or task.default_scoring
    pipeline = task.pipeline(make_preprocessing(X), estimator)
    prefix = network_step(pipeline, nested=True)[1]
    search = _make_search(args, task, pipeline, _search_space(specs, args.search, prefix))
    # Checked now, so that an unusable output path fails before the search, not after it.
    check_writable(args.output_dir, "--output-dir", folder=True)
    if args.save_model is not None:
        check_writable(args.save_model, "--save-model")

    categorical = categorical_columns(X)
    encoded = f" ({len(categorical)} one-hot encoded)" if categorical else ""
    say(f"{task.kind} with {task.estimator_class.__name__}: {task.reason}")
    if task.kind == "regression":
        say(f"target {task.scaling_reason}")
    say(f"{args.search} search on {args.data}: {len(X)} rows, {X.shape[1]} features{encoded}, {task.describe_target(y)}; {args.cv}-fold CV")
    start = time.perf_counter()
    warned = _fit(search, X, y, args)
    elapsed = time.perf_counter() - start
    # Checked first: a search with no usable score ends in one line, not in its warnings.
    _check_scores(search, scoring, warned)
    for line in warned[:5]:
        say(f"warning: {line}")
    report = search_report(search, X, y)

    best_params = _unprefixed(search.best_params_, prefix)
    print(f"best_params_: {best_params}")
    print(f"best CV {scoring}: {search.best_score_:.4f}")
    print(f"search time: {elapsed:.1f} s\n")
    columns = [
        *report.attrs["param_columns"],
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "mean_fit_time",
        "n_failed_fits",
        "n_failed_scores",
    ]
    if "mean_training_time" in report and report["mean_training_time"].notna().any():
        # With --cache-dir: what each fit took when it trained, also if this run restored it.
        # (The report cannot match the records of fits behind a target scaler: a column of NaN says nothing.)
        columns.insert(columns.index("mean_fit_time") + 1, "mean_training_time")
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(report[columns].to_string(float_format=lambda v: f"{v:.4f}"))
    summary = {
        "task": task.kind,
        "task_reason": task.reason,
        "estimator": task.estimator_class.__name__,
        "target_scaled": task.scaled,
        "best_params": best_params,
        "best_score": float(search.best_score_),
        "scoring": scoring,
        "search": args.search,
        "cv": args.cv,
        "n_candidates": len(search.cv_results_["params"]),
        "fixed_params": {**fixed, "max_epochs": estimator.max_epochs},
        "n_failed_fits": int(report["n_failed_fits"].sum()),
        "n_failed_scores": int(report["n_failed_scores"].sum()),
        "data": str(args.data),
        "target": args.target,
        "n_samples": len(X),
        "n_features": X.shape[1],
        "categorical_features": [str(c) for c in categorical],
        "threads": args.threads,
        "search_time_s": elapsed,
    }
    _write_outputs(args, report, summary, search.best_estimator_ if args.save_model is not None else None)
    return 0


def _write_outputs(args, report, summary, model):
    """Write the results, then ``model`` (None: no ``--save-model``), so that a failed model write keeps the results."""
    paths = write_results(report, args.output_dir, summary)
    print(f"\nresults written to {paths[0]} and {paths[1]}")
    if model is None:
        return
    try:
        # Atomic: a failure leaves no partial model file behind.
        save(model, args.save_model)
    except (OSError, TypeError, ValueError) as exc:
        raise CommandLineError(
            f"the best model could not be saved to {args.save_model} ({exc}); the search's results are in {paths[0]} and {paths[1]}"
        ) from None
    write_results(report, args.output_dir, {**summary, "model": str(args.save_model)})
    print(f"best model (refitted on all rows) saved to {args.save_model}")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error of the command."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser():
    parser = _Parser(prog="skbatch", description="Cross-validated searches from a data file, for batch jobs and clusters.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{search,demo}")
    search = commands.add_parser(
        "search",
        help="cross-validated search over an MLPClassifier's or MLPRegressor's params on a CSV or Parquet file",
        description=(
            "Search MLPClassifier params for class labels, or MLPRegressor params for numbers (see "
            "--task), behind a StandardScaler for numeric columns and a OneHotEncoder for text "
            "columns, with cross-validation; print best_params_ and the report, and write "
            "report.csv and results.json. "
            "--param forms: name=low:high[:log] (a range: ints if both ends are ints), "
            "name=a,b,c (a list), name=value (fixed)."
        ),
        epilog=(
            "example: skbatch search data.csv --target label --search bayes --n-iter 20 --cv 5 "
            "--param batch_size=16:512:log --param lr=1e-4:1e-1:log --param hidden_layer_sizes=64,128-64"
        ),
    )
    search.add_argument("data", type=Path, help="CSV file, or Parquet (.parquet, .pq; needs pyarrow)")
    search.add_argument(
        "--target",
        required=True,
        help="name of the column to predict: class labels, or numbers for a regression",
    )
    search.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help=f"auto: regression for fractional numbers and for integers with too many distinct values "
        f"to be classes ({CLASS_LIMIT}); classification otherwise; text with that many values is "
        "refused (default: auto)",
    )
    search.add_argument(
        "--scale-target",
        choices=["auto", "yes", "no"],
        default="auto",
        help="regression: standardise the target in each fold (a TransformedTargetRegressor); auto "
        "does unless its mean and std are already of order one (default: auto)",
    )
    search.add_argument(
        "--search",
        choices=["grid", "random", "bayes"],
        default="random",
        help="GridSearchCV, RandomizedSearchCV or skopt's BayesSearchCV (default: random)",
    )
    search.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="a param to search or fix; repeat for each (e.g. --param lr=1e-4:1e-1:log)",
    )
    search.add_argument("--n-iter", type=int, default=10, help="candidates for random and bayes (default: 10)")
    search.add_argument(
        "--cv",
        type=int,
        default=5,
        help="folds, stratified for classification, shuffled (default: 5)",
    )
    search.add_argument(
        "--scoring",
        default=None,
        help="scikit-learn scorer name, e.g. neg_mean_squared_error (default: accuracy, or r2 for a regression)",
    )
    search.add_argument("--max-epochs", type=int, default=None, help="epochs per fit (default: the estimator's, 200)")
    search.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N' (default: auto)")
    search.add_argument("--n-jobs", type=int, default=None, help="parallel fits; -1 for all cores (default: 1)")
    search.add_argument("--random-state", type=int, default=0, help="seed for folds, sampling and weights (default: 0)")
    search.add_argument(
        "--output-dir",
        type=Path,
        default=Path("skbatch_results"),
        help="where report.csv and results.json go (default: ./skbatch_results)",
    )
    search.add_argument(
        "--cache-dir",
        default=None,
        help="keep every finished fit here; run the same command again after an interruption "
        "and only the missing fits train (default: no cache)",
    )
    search.add_argument(
        "--save-model",
        type=Path,
        default=None,
        metavar="PATH",
        help="save the best candidate, refitted on all rows, with its preprocessing and target scaler, "
        "to PATH (a .skbatch file that loads without running code: see skbatch.load)",
    )
    search.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch threads per fit, in this process and in --n-jobs workers; on a shared node "
        "set it to the cores you were given divided by --n-jobs (default: torch's, every core)",
    )
    search.add_argument(
        "--fused",
        action="store_true",
        help="train the folds of candidates that differ only in lr, alpha or dropout as one "
        "stacked model: the same results, several times faster for small networks",
    )
    search.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it goes to stderr: fits done, elapsed, time left)",
    )
    search.add_argument(
        "--verbose",
        type=int,
        default=0,
        help="scikit-learn's search verbosity: 1 a line per search step, 2 a line per fit (default: 0)",
    )
    # add_help=False: `skbatch demo --help` reaches the demo's own parser, which owns those options.
    commands.add_parser(
        "demo",
        add_help=False,
        help="the bundled demo: a grid search on digits (options: skbatch demo --help)",
    )
    return parser


def main(argv=None):
    """Entry point of the ``skbatch`` console script; returns the exit status."""
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        demo.main(extra, prog="skbatch demo")
        return 0
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _run_search(args)
    except KeyboardInterrupt:
        print("skbatch: interrupted", file=sys.stderr)
        return 130
    except (CommandLineError, OSError, ValueError) as exc:
        # One line, whatever the source: batch-job logs are read with grep and tail.
        print(f"skbatch: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
