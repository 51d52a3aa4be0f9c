"""Figures for batch-size trade-offs and learning curves (matplotlib, imported on first use)."""

from .._optional import import_optional

__all__ = ["plot_batch_size_study", "plot_learning_curves"]

_STUDY_NEEDS = ("batch_size_used", "samples_per_second", "peak_memory_mib", "train_score", "cv_score")


def _pyplot(needed_by):
    # Deferred: importing skbatch should not pay for matplotlib, nor need it.
    return import_optional("matplotlib.pyplot", needed_by=needed_by)


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
        Three panels sharing a logarithmic batch-size axis: samples per
        second (and seconds per epoch), peak device memory (a note where
        it was not measured, as on the CPU), and training and cross-validated
        scores with the gap between them shaded.

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
        raise ValueError(
            f"study lacks the columns {missing}; pass the DataFrame that "
            "skbatch.batch_size_study returns."
        )
    plt = _pyplot("plot_batch_size_study")
    data = study.sort_values("batch_size_used")
    sizes = data["batch_size_used"].to_numpy()
    fig, (ax_speed, ax_memory, ax_score) = plt.subplots(1, 3, figsize=(13, 4), sharex=True)

    ax_speed.plot(sizes, data["samples_per_second"], "o-", label="samples / s")
    ax_speed.set_ylabel("training samples per second")
    ax_epoch = ax_speed.twinx()
    ax_epoch.plot(sizes, data["seconds_per_epoch"], "s--", color="tab:gray", label="s / epoch")
    ax_epoch.set_ylabel("seconds per epoch")
    ax_speed.set_title("speed")

    memory = data["peak_memory_mib"]
    if memory.notna().any():
        ax_memory.plot(sizes, memory, "o-", color="tab:purple")
    else:
        ax_memory.text(0.5, 0.5, "not measured on this device\n(torch tracks CUDA memory only)",
                       ha="center", va="center", transform=ax_memory.transAxes)
        ax_memory.set_yticks([])
    ax_memory.set_ylabel("peak device memory (MiB)")
    ax_memory.set_title("memory")

    ax_score.plot(sizes, data["train_score"], "o-", label="train")
    ax_score.plot(sizes, data["cv_score"], "o-", label="cross-validated")
    ax_score.fill_between(sizes, data["cv_score"], data["train_score"], alpha=0.2, label="gap")
    ax_score.set_ylabel("score")
    ax_score.set_title("generalization")
    ax_score.legend()

    _mark_recommendation(data, ax_speed, (ax_speed, ax_memory, ax_score))
    for ax in (ax_speed, ax_memory, ax_score):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning_curves(estimators, *, title=None):
    """Loss, and held-out accuracy where recorded, per epoch, from each net's skorch history.

    Parameters
    ----------
    estimators : dict of str to fitted BaseTorchClassifier
        Label of each curve (e.g. ``"batch 32"``) and the fitted estimator.
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
        If ``estimators`` is empty or holds an unfitted estimator.
    """
    if not estimators:
        raise ValueError("estimators is empty; pass a dict such as {'batch 32': fitted_clf}.")
    unfitted = [label for label, est in estimators.items() if not hasattr(est, "net_")]
    if unfitted:
        raise ValueError(f"The estimators {unfitted} are not fitted; call fit before plotting their curves.")
    plt = _pyplot("plot_learning_curves")
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4))
    any_score = False
    for label, est in estimators.items():
        history = est.net_.history
        epochs = history[:, "epoch"]
        line, = ax_loss.plot(epochs, history[:, "train_loss"], label=f"{label} train")
        if "valid_loss" in history[-1]:
            ax_loss.plot(
                epochs, history[:, "valid_loss"], "--", color=line.get_color(), label=f"{label} valid"
            )
        if "valid_acc" in history[-1]:
            ax_score.plot(epochs, history[:, "valid_acc"], color=line.get_color(), label=label)
            any_score = True
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.legend(fontsize="small")
    ax_score.set_xlabel("epoch")
    ax_score.set_ylabel("validation accuracy")
    if any_score:
        ax_score.legend(fontsize="small")
    else:
        ax_score.text(0.5, 0.5, "no held-out data:\nfit with early_stopping=True",
                      ha="center", va="center", transform=ax_score.transAxes)
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
        label, xy=(best["batch_size_used"], best["cv_score"]), xytext=(0.97, 0.97), textcoords="axes fraction",
        ha="right", va="top", fontsize="small", color="tab:green", arrowprops={"arrowstyle": "->", "color": "tab:green"},
    )
