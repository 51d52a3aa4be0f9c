"""The ``skbatch search`` command's ``--param`` specs: parsed into values, ranges and search spaces."""

import contextlib
import math
import re
from dataclasses import dataclass
from numbers import Integral, Real

import scipy.stats

from ._optional import import_optional
from .cli_data import CommandLineError

__all__ = ["parse_param"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The ints numpy can draw, high end excluded: randint draws up to high + 1.
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class _Range:
    """A ``--param name=low:high[:log]`` range: searched by the random and Bayesian searches."""

    low: Real
    high: Real
    log: bool

    @property
    def is_integer(self):
        return isinstance(self.low, Integral) and isinstance(self.high, Integral)


class _LogUniformInt:
    """Integers whose logarithm is uniform, in the ``rvs`` form RandomizedSearchCV samples from.

    scipy's ``loguniform`` draws floats, and a batch size must be an int;
    skopt's ``Integer(prior='log-uniform')`` draws lists, not scalars.
    """

    def __init__(self, low, high):
        self.low, self.high = low, high
        # Flooring a draw from [low, high + 1) gives every int from low to high.
        self._floats = scipy.stats.loguniform(low, high + 1)

    def rvs(self, random_state=None):
        return int(self._floats.rvs(random_state=random_state))

    def __repr__(self):
        return f"log-uniform int in [{self.low}, {self.high}]"


def _parse_scalar(text):
    """``'16'`` -> 16, ``'1e-3'`` -> 0.001, ``'true'`` -> True, anything else stays a string."""
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "none":
        return None
    for number in (int, float):
        with contextlib.suppress(ValueError):
            return number(text)
    return text


def parse_param(text):
    """Parse one ``--param`` argument into its name and what to search.

    Parameters
    ----------
    text : str
        ``name=low:high`` or ``name=low:high:log`` (a range; ints when both
        ends are ints), ``name=a,b,c`` (a list of values), or ``name=value``
        (a fixed value, not searched).

    Returns
    -------
    name : str
    spec : _Range, list or scalar

    Raises
    ------
    CommandLineError
        If the text follows none of these forms.
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not _NAME.match(name) or not value:
        raise CommandLineError(
            f"--param {text!r} is malformed: write name=low:high[:log], name=a,b,c or name=value, e.g. --param lr=1e-4:1e-1:log"
        )
    if ":" in value:
        return name, _parse_range(name, value)
    if "," in value:
        items = [item.strip() for item in value.split(",")]
        if not all(items):
            raise CommandLineError(f"--param {text!r} has an empty value in its list: write name=a,b,c")
        return name, [_parse_scalar(item) for item in items]
    return name, _parse_scalar(value)


def _parse_range(name, value):
    parts = value.split(":")
    scale = parts[2].lower() if len(parts) == 3 else "linear"
    ends = [_parse_scalar(p.strip()) for p in parts[:2]]
    numeric = all(isinstance(e, Real) and not isinstance(e, bool) for e in ends)
    if len(parts) not in (2, 3) or scale not in {"log", "linear"} or not numeric:
        raise CommandLineError(
            f"--param {name}={value} is not a range: write {name}=low:high or {name}=low:high:log "
            "with numbers for low and high, e.g. --param batch_size=16:512:log"
        )
    low, high = ends
    if not all(math.isfinite(e) for e in ends):
        raise CommandLineError(f"--param {name}={value}: low and high must be finite numbers, got {low} and {high}")
    if any(isinstance(e, Integral) and not _INT64[0] <= e < _INT64[1] for e in ends):
        # numpy draws ints of 64 bits at most; scipy would fail inside the search with a traceback.
        raise CommandLineError(f"--param {name}={value}: integer ends must lie between -2**63 and 2**63 - 2, got {low} and {high}")
    if not low < high:
        raise CommandLineError(f"--param {name}={value}: low must be below high, got {low} and {high}")
    if scale == "log" and low <= 0:
        raise CommandLineError(f"--param {name}={value}: a log range needs low > 0, got {low}")
    return _Range(low, high, log=scale == "log")


def _search_space(specs, search, prefix):
    """Turn parsed specs into the ``param_grid``/``param_distributions``/``search_spaces`` of a search.

    ``prefix`` is the path of the network's params inside the searched
    pipeline (``'mlpclassifier__'``), as :func:`~skbatch.estimators.network_step.network_step` finds it.
    """
    space = {}
    for name, spec in specs.items():
        key = f"{prefix}{name}"
        if search == "grid":
            if isinstance(spec, _Range):
                raise CommandLineError(
                    f"--param {name}: grid search needs a list of values, not a range; list them "
                    f"({name}=a,b,c) or use --search random or --search bayes"
                )
            space[key] = spec
        elif search == "random":
            space[key] = _random_distribution(spec) if isinstance(spec, _Range) else spec
        else:
            space[key] = _bayes_dimension(spec)
    return space


def _random_distribution(spec):
    if spec.is_integer:
        return _LogUniformInt(spec.low, spec.high) if spec.log else scipy.stats.randint(spec.low, spec.high + 1)
    if spec.log:
        return scipy.stats.loguniform(spec.low, spec.high)
    return scipy.stats.uniform(spec.low, spec.high - spec.low)


def _skopt(module):
    """scikit-optimize's ``module``; without it, a one-line error naming the extra."""
    try:
        return import_optional(module, needed_by="--search bayes")
    except ModuleNotFoundError as error:
        if error.name != "skopt":
            raise
        raise CommandLineError(str(error)) from error


def _bayes_dimension(spec):
    space = _skopt("skopt.space")
    Categorical, Integer, RealDimension = space.Categorical, space.Integer, space.Real

    if not isinstance(spec, _Range):
        # Categorical keeps each value's own type, so [64, '128-64'] stays usable.
        return Categorical(spec)
    prior = "log-uniform" if spec.log else "uniform"
    dimension = Integer if spec.is_integer else RealDimension
    return dimension(spec.low, spec.high, prior=prior)
