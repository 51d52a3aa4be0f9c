"""scikit-learn's names for two params skbatch names as skorch does: ``learning_rate_init`` and ``max_iter``.

Each alias is a real param (a field, a constraint, a docstring entry), so
grids, ``set_params``, ``get_params`` and ``clone`` take it. It defaults to
None, meaning "use the skbatch name", so that a grid over either name works
alone. The one place that decides which value a fit uses is
:func:`resolve_alias`; ``fit`` calls :func:`check_aliases` first.
"""

from .._compat import InvalidParameterError

__all__ = ["ALIASES", "check_aliases", "resolve_alias"]

# alias -> the skbatch param it stands for. The skbatch param's default is
# read from the estimator's dataclass field, so it is declared once.
ALIASES = {"learning_rate_init": "lr", "max_iter": "max_epochs"}


def _default(estimator, name):
    return type(estimator).__dataclass_fields__[name].default


def resolve_alias(estimator, name):
    """The value of ``name`` (``'lr'`` or ``'max_epochs'``) a fit uses, after its alias.

    The alias wins when it is set (not None); the two may both be set only
    to the same value (:func:`check_aliases`).
    """
    for alias, own in ALIASES.items():
        if own == name:
            value = getattr(estimator, alias, None)
            return getattr(estimator, name) if value is None else value
    return getattr(estimator, name)


def check_aliases(estimator):
    """Raise if an alias and its skbatch param are both set to different values.

    The skbatch param counts as set when it differs from its default: an
    explicit ``lr=1e-3`` cannot be told apart from the default, and then
    the alias is used.
    """
    for alias, own in ALIASES.items():
        value, own_value = getattr(estimator, alias, None), getattr(estimator, own)
        if value is None or own_value == _default(estimator, own) or own_value == value:
            continue
        raise InvalidParameterError(
            f"{type(estimator).__name__} got {own}={own_value!r} and {alias}={value!r}, two names "
            f"for one setting ({alias} is scikit-learn's name for {own}). Set only one of them: "
            f"leave {alias}=None to use {own}, or leave {own} at its default "
            f"{_default(estimator, own)!r} to use {alias}."
        )
