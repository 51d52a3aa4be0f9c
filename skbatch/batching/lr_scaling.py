"""Learning rate that follows the batch size, so a search over batch size keeps lr meaningful."""

__all__ = ["scaled_lr"]


def scaled_lr(lr, batch_size, rule, base_batch_size):
    """Learning rate for ``batch_size`` under a scaling rule.

    Parameters
    ----------
    lr : float
        Rate at ``base_batch_size``.
    batch_size : int
        Batch size training uses.
    rule : {'linear', 'sqrt'} or None
        ``'linear'``: ``lr * batch_size / base_batch_size`` (Goyal et al.
        2017); ``'sqrt'``: its square root (Krizhevsky 2014); None: ``lr``.
    base_batch_size : int
        Batch size at which ``lr`` holds, >= 1.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For an unknown rule or a base below 1.
    """
    if rule is None:
        return float(lr)
    if base_batch_size < 1:
        raise ValueError(
            f"base_batch_size must be a positive int, the batch size at which lr holds. "
            f"Got {base_batch_size!r}; use e.g. 200, the 'auto' batch size."
        )
    ratio = batch_size / base_batch_size
    if rule == "linear":
        return float(lr * ratio)
    if rule == "sqrt":
        return float(lr * ratio**0.5)
    raise ValueError(f"lr_scaling must be 'linear', 'sqrt' or None. Got {rule!r} instead.")
