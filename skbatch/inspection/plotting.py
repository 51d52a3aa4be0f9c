"""Figures for batch-size trade-offs and learning curves (matplotlib, imported on first use)."""

from .._optional import import_optional

__all__ = ["plot_batch_size_study", "plot_learning_curves"]

_STUDY_NEEDS = ("batch_size_used", "samples_per_second", "peak_memory_mib", "train_score", "cv_score")


def _pyplot(needed_by):
    # Deferred: importing skbatch should not pay for matplotlib, nor need it.
    return import_optional("matplotlib.pyplot", needed_by=needed_by)


def _label_sizes(ax, sizes):
    """The batch sizes studied as the x ticks of a log axis, plain numbers, no minor labels to overlap."""
    from matplotlib.ticker import NullFormatter, NullLocator

    distinct = sorted(set(int(s) for s in sizes))
    ax.set_xticks(distinct, [str(s) for s in distinct], rotation=45 if len(distinct) > 5 else 0)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _mark_resolved_sizes(ax, data, values):
    """Name the points whose ``batch_size`` was not a number (``'max'``, ``'auto'``, ``'full'``, -1)."""
    for asked, used, value in zip(data["batch_size"], data["batch_size_used"], values):
        if isinstance(asked, str) or asked == -1:
            ax.annotate(
                f"'{asked}' = {used}" if isinstance(asked, str) else f"{asked} = {used}",
                (used, value),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize="small",
            )


def plot_batch_size_study(study, *, title=None):
    """Speed, memory and scores against batch size, on one figure.

    Parameters
    ----------
    study : pandas.DataFrame
        What :func:`batch_size_study` returns.
    title : str, default=None
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels sharing a logarithmic batch-size axis, with the batch
        sizes studied as its ticks: training samples per second, peak
        device memory (a note where it was not measured, as on the CPU),
        and training and cross-validated scores, named after the study's
        metric, with the gap between them shaded. A batch size asked for
        by name (``'max'``, ``'auto'``, ``'full'``) is labelled with the size
        it resolved to.

    Raises
    ------
    ValueError
        If ``study`` lacks a column the figure needs.

    See Also
    --------
    batch_size_study : Build the table.
    """
    missing = [c for c in _STUDY_NEEDS if c not in getattr(study, "columns", ())]
    if missing:
        raise ValueError(f"study lacks the columns {missing}; pass the DataFrame that skbatch.batch_size_study returns.")
    plt = _pyplot("plot_batch_size_study")
    data = study.sort_values("batch_size_used", kind="stable")
    sizes = data["batch_size_used"].to_numpy()
    metric = study.attrs.get("scoring", "score")
    fig, (ax_speed, ax_memory, ax_score) = plt.subplots(1, 3, figsize=(13, 4), sharex=True)

    # One axis: a second one (seconds per epoch) was unreadable without a legend
    # and says the same thing once the number of samples is fixed.
    ax_speed.plot(sizes, data["samples_per_second"], "o-", label="one fit on all rows")
    ax_speed.set_ylabel("training samples per second")
    ax_speed.set_title("speed")
    ax_speed.legend(loc="best", fontsize="small")
    _mark_resolved_sizes(ax_speed, data, data["samples_per_second"])

    memory = data["peak_memory_mib"]
    if memory.notna().any():
        ax_memory.plot(sizes, memory, "o-", color="tab:purple", label="peak allocated")
        ax_memory.legend(loc="best", fontsize="small")
        _mark_resolved_sizes(ax_memory, data, memory)
    else:
        ax_memory.text(
            0.5,
            0.5,
            "no device memory count on the CPU\n(torch counts CUDA memory only)",
            ha="center",
            va="center",
            transform=ax_memory.transAxes,
        )
        ax_memory.set_yticks([])
    ax_memory.set_ylabel("peak device memory (MiB)")
    ax_memory.set_title("memory")

    ax_score.plot(sizes, data["train_score"], "o-", label="train")
    ax_score.plot(sizes, data["cv_score"], "o-", label="cross-validated")
    ax_score.fill_between(sizes, data["cv_score"], data["train_score"], alpha=0.2, label="gap")
    ax_score.set_ylabel(metric)
    ax_score.set_title("generalization")
    ax_score.legend(loc="best", fontsize="small")
    _mark_resolved_sizes(ax_score, data, data["cv_score"])

    _mark_recommendation(data, ax_speed, (ax_speed, ax_memory, ax_score))
    for ax in (ax_speed, ax_memory, ax_score):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.margins(y=0.15)  # room for the labels of named sizes
    _label_sizes(ax_speed, sizes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _curves_of_estimators(estimators):
    if not estimators:
        raise ValueError("estimators is empty; pass a dict such as {'batch 32': fitted_clf}.")
    unfitted = [label for label, est in estimators.items() if not hasattr(est, "net_")]
    if unfitted:
        raise ValueError(f"The estimators {unfitted} are not fitted; call fit before plotting their curves.")
    curves = {}
    for label, est in estimators.items():
        history = est.net_.history
        curves[label] = {key: list(history[:, key]) for key in ("train_loss", "valid_loss", "valid_acc") if key in history[-1]}
    return curves


def _curves_of_study(study):
    curves = study.attrs.get("learning_curves")
    if not curves:
        raise ValueError(
            "This DataFrame holds no learning curves (batch_size_study keeps them in "
            "study.attrs['learning_curves'], which pandas drops on some operations, such as concat). "
            "Pass the DataFrame batch_size_study returned, or a dict of fitted estimators "
            "such as {'batch 32': fitted_clf}."
        )
    return curves


def plot_learning_curves(estimators, *, title=None):
    """Loss, and held-out accuracy where recorded, per epoch: per batch size of a study, or per estimator.

    Parameters
    ----------
    estimators : pandas.DataFrame or dict of str to fitted estimator
        What :func:`batch_size_study` returns (the curves of its timed fit
        at each batch size), or the label of each curve (e.g.
        ``"batch 32"``) and a fitted skbatch estimator.
    title : str, default=None
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Training loss per epoch (solid) and validation loss (dashed) on the
        left; validation accuracy on the right. Validation curves exist for
        estimators fitted with ``early_stopping=True``, the only fits that
        hold data out.

    Raises
    ------
    ValueError
        If ``estimators`` is empty, holds an unfitted estimator, or is a
        DataFrame without the curves :func:`batch_size_study` keeps.
    """
    if hasattr(estimators, "attrs") and hasattr(estimators, "columns"):
        curves = _curves_of_study(estimators)
    else:
        curves = _curves_of_estimators(estimators)
    plt = _pyplot("plot_learning_curves")
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4))
    any_score = False
    for label, curve in curves.items():
        epochs = range(1, len(curve["train_loss"]) + 1)
        (line,) = ax_loss.plot(epochs, curve["train_loss"], label=f"{label} train")
        if "valid_loss" in curve:
            ax_loss.plot(epochs, curve["valid_loss"], "--", color=line.get_color(), label=f"{label} valid")
        if "valid_acc" in curve:
            ax_score.plot(epochs, curve["valid_acc"], color=line.get_color(), label=label)
            any_score = True
    from matplotlib.ticker import LogFormatter, MaxNLocator

    class PlainLogFormatter(LogFormatter):
        """matplotlib's choice of which log ticks to label, written 0.6 rather than 6e-01."""

        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    for ax in (ax_loss, ax_score):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax_loss.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax_loss.legend(fontsize="small")
    ax_score.set_xlabel("epoch")
    ax_score.set_ylabel("validation accuracy")
    if any_score:
        ax_score.legend(fontsize="small")
    else:
        ax_score.text(0.5, 0.5, "no held-out data:\nfit with early_stopping=True", ha="center", va="center", transform=ax_score.transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _mark_recommendation(data, ax_speed, axes):
    """Draw the goodput on the speed panel and mark the recommended batch size, with its CV score, on every panel.

    Kept apart from the panels' own drawing: it only adds to them, and does
    nothing for a table without the columns (one made before they existed).
    """
    if "goodput" not in data or not data["recommended"].any():
        return
    sizes = data["batch_size_used"].to_numpy()
    ax_speed.plot(sizes, data["goodput"], "^-", color="tab:green", label="goodput (useful samples / s)")
    ax_speed.legend(fontsize="small", loc="center right")
    best = data[data["recommended"]].iloc[0]
    label = (
        f"recommended: {best['batch_size_used']:g}\n"
        f"(noise scale {best['noise_scale']:.0f}, CV score {best['cv_score']:.3f} ± {best['cv_score_std']:.3f})"
    )
    for ax in axes:
        ax.axvline(best["batch_size_used"], color="tab:green", linestyle=":", linewidth=1.5)
    axes[-1].annotate(
        label,
        xy=(best["batch_size_used"], best["cv_score"]),
        xytext=(0.97, 0.97),
        textcoords="axes fraction",
        ha="right",
        va="top",
        fontsize="small",
        color="tab:green",
        arrowprops={"arrowstyle": "->", "color": "tab:green"},
    )
