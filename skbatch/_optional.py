"""Optional dependencies: imported on first use, and named with the extra that installs them when missing.

``import skbatch`` must not pay for scikit-optimize or matplotlib, nor fail
without them; only the function that needs one imports it, through here.
"""

import importlib

__all__ = ["import_optional"]

# Top-level module -> (distribution a user installs, skbatch extra that installs it).
_EXTRAS = {
    "skopt": ("scikit-optimize", "bayes"),
    "matplotlib": ("matplotlib", "plot"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "skops": ("skops", "cli"),
}


def import_optional(module, *, needed_by):
    """Import ``module`` from an optional dependency, or say which extra to install.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``'matplotlib.pyplot'`` or ``'skopt.space'``.
        Its top-level package must be one of the optional dependencies.
    needed_by : str
        What needs it, for the message, e.g. ``'plot_search'``.

    Returns
    -------
    module

    Raises
    ------
    ModuleNotFoundError
        If the optional package is not installed. The message names the
        package and the ``pip install 'skbatch[...]'`` command. A package
        that is installed but fails to import for another reason (one of its
        own dependencies missing, say) raises its own error unchanged, since
        installing the extra is not then the fix.
    """
    top = module.partition(".")[0]
    distribution, extra = _EXTRAS[top]
    try:
        # The package first: it is what is missing when the extra is.
        importlib.import_module(top)
    except ModuleNotFoundError as error:
        if error.name != top:
            raise
        raise ModuleNotFoundError(
            f"{needed_by} needs {distribution}, which is not installed. Install it with: pip install 'skbatch[{extra}]'",
            name=top,
        ) from error
    return importlib.import_module(module)
