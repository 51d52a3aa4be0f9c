"""The user's skorch callbacks (the ``callbacks`` param): checked, and copied for each fit.

scikit-learn estimators must not change their params, and skorch
initializes and fills the callbacks it is given; so each fit gets deep
copies, and the instances in the param stay as the user made them. The
copies that ran are in the fitted ``net_.callbacks_``.
"""

import copy

from skorch.callbacks import Callback

from .._compat import InvalidParameterError

__all__ = ["user_callbacks"]


def _name(callback):
    # skorch's own naming of a callback given without a name.
    return callback.__name__ if isinstance(callback, type) else type(callback).__name__


def user_callbacks(callbacks, *, reserved, owner):
    """Copies of ``callbacks`` to hand to one fit's net, after its own.

    Parameters
    ----------
    callbacks : list or None
        The estimator's ``callbacks`` param: skorch callbacks (instances
        or classes) and ``(name, callback)`` pairs.
    reserved : collection of str
        Names of the callbacks the net already has (skbatch's and skorch's
        defaults), which a user's callback must not take.
    owner : str
        Estimator name, for error messages.

    Returns
    -------
    list
        The items of ``callbacks``, each callback deep-copied.

    Raises
    ------
    InvalidParameterError
        For an item that is not a callback or a pair, or a name taken
        twice or by one of the net's own callbacks.
    """
    if callbacks is None:
        return []
    copies, names = [], set()
    for position, item in enumerate(callbacks):
        named = isinstance(item, (tuple, list))
        name, callback = item if named and len(item) == 2 else (None, item)
        is_callback = isinstance(callback, Callback) or (isinstance(callback, type) and issubclass(callback, Callback))
        if (named and not isinstance(name, str)) or not is_callback:
            raise InvalidParameterError(
                f"callbacks[{position}] of {owner} must be a skorch callback (an instance of "
                "skorch.callbacks.Callback) or a (name, callback) pair; "
                f"got {item!r}."
            )
        name = name if named else _name(callback)
        if name in reserved:
            raise InvalidParameterError(
                f"callbacks[{position}] of {owner} is named {name!r}, the name of one of the "
                f"callbacks skbatch trains with ({', '.join(sorted(reserved))}). Give it another "
                f"name: callbacks=[('my_{name}', callback)]."
            )
        if named and name in names:
            raise InvalidParameterError(
                f"callbacks[{position}] of {owner} is named {name!r}, like an earlier one. Give each (name, callback) pair its own name."
            )
        names.add(name)
        callback = copy.deepcopy(callback)
        copies.append((name, callback) if named else callback)
    return copies
