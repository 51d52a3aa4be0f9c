"""The param and attribute descriptions the estimators share, written once and substituted into their docstrings.

A class docstring names an entry on a line of its own, ``{batch_size}``, or a
group of entries, ``{training_params}``; :func:`fill_doc` replaces the line with
the entry's numpydoc text at that indentation. Where a classifier and a
regressor legitimately differ (what ``early_stopping`` watches, the loss),
an entry holds one text per kind. ``tests/test_docstrings.py`` checks that the
rendered docstrings document exactly each class's signature, with its defaults.
"""

import re
import textwrap

from sklearn.base import ClassifierMixin

__all__ = ["ATTRIBUTES", "PARAMS", "TEXTS", "fill_doc"]

# One entry per param: the numpydoc header line and its description,
# unindented. A dict entry holds one text per kind ('classifier', 'regressor').
PARAMS = {
    # -- the network, for TorchClassifier and TorchRegressor --------------------
    "module": """\
module : type of torch.nn.Module, default=None
    The network class, not an instance. Required: ``fit`` refuses None.""",
    "module_kwargs": """\
module_kwargs : dict, default=None
    Further constructor arguments for ``module``; they must not repeat
    the arguments ``fit`` fills in.""",
    "image_shape": """\
image_shape : tuple of int, default=None
    Shape to reshape each row of a 2-D ``X`` to before it reaches the
    module, e.g. ``(1, 8, 8)`` for digits as one-channel images. The
    module then gets ``input_shape`` instead of ``n_features_in``. Leave
    None for tabular data or for ``X`` that already has 3 or more
    dimensions.""",
    # -- the network, for MLPClassifier and MLPRegressor ------------------------
    "hidden_layer_sizes": """\
hidden_layer_sizes : tuple of int, int or str, default=(100,)
    Width of each hidden layer: ``(128, 64)``, ``128``, or ``'128-64'``
    (the form to use in scikit-optimize's ``Categorical``).""",
    "activation": """\
activation : {'relu', 'tanh', 'logistic', 'identity', 'gelu'}, default='relu'
    Nonlinearity after each hidden layer.""",
    "dropout": """\
dropout : float, default=0.0
    Probability of zeroing a hidden unit during training, in [0, 1).""",
    "loss": """\
loss : {'squared_error', 'poisson'}, default='squared_error'
    The loss minimised. ``'poisson'`` is scikit-learn's: the half Poisson
    deviance with a log link, so the network's output goes through
    ``exp`` and predictions are positive; ``y`` must be non-negative.""",
    # -- training, for every estimator (BaseTorchEstimator's params) ------------
    "batch_size": """\
batch_size : int, 'auto', 'full' or 'max', default='auto'
    Samples per gradient step. ``'auto'`` is ``min(200, n_samples)`` as
    in scikit-learn; ``-1`` or ``'full'`` is full-batch gradient descent;
    a batch size above the number of training samples is clamped to it;
    ``1`` is online learning. ``'max'`` is the largest batch whose
    training step fits device memory, found in each ``fit`` by
    :func:`find_max_batch_size` (usually every sample on the CPU). The
    size really used is ``batch_size_``.""",
    "drop_last": """\
drop_last : bool, default=False
    Skip the last, smaller batch of each epoch. 1050 samples at batch
    size 100 make 11 updates per epoch, or 10 with ``drop_last=True``.""",
    "accumulation_steps": """\
accumulation_steps : int, default=1
    Compute each batch in this many slices and add up their gradients
    before one update: the update of ``batch_size`` samples in the memory
    of ``batch_size / accumulation_steps``. With ``batch_size='max'`` the
    slice is the largest that fits, and the batch that many times larger.""",
    "lr_scaling": """\
lr_scaling : {'linear', 'sqrt'} or None, default=None
    Make the learning rate follow the batch size, so a search over
    ``batch_size`` compares each size at a fitting rate: ``lr`` is the
    rate at ``base_batch_size``, and training uses
    ``lr * b / base_batch_size`` (``'linear'``, Goyal et al. 2017) or
    ``lr * sqrt(b / base_batch_size)`` (``'sqrt'``, Krizhevsky 2014),
    where ``b`` is the first epoch's batch size, ``batch_size_curve_[0]``.
    None uses ``lr`` as given. The rate used is ``lr_``.""",
    "base_batch_size": """\
base_batch_size : int, default=200
    Batch size at which ``lr`` holds under ``lr_scaling``; 200 is what
    ``batch_size='auto'`` gives on 200 samples or more.""",
    "batch_size_milestones": """\
batch_size_milestones : int, sequence of int or None, default=None
    Grow the batch size during training instead of decaying the
    learning rate (Smith et al. 2017): multiply it by
    ``batch_size_growth`` every that many epochs (an int, e.g. 10), or
    after each listed epoch (strictly increasing, e.g. ``(10, 20)``),
    up to the number of samples. The learning rate stays at ``lr_``. With
    ``batch_size='max'`` the grown batches are accumulated over slices
    that fit. None keeps the batch size constant.""",
    "batch_size_growth": """\
batch_size_growth : float or 'noise', default=2.0
    Factor, above 1, applied at each of ``batch_size_milestones``.
    ``'noise'`` instead grows the batch at every epoch toward the gradient
    noise scale measured during training (McCandlish et al. 2018's
    adaptive batch size, the critical batch size as it rises while the
    loss falls), at most doubling per epoch, never shrinking, and within
    the largest batch that fits in memory (found as for
    ``batch_size='max'``, in ``max_batch_search_``); it records
    ``noise_scale_curve_`` as ``track_noise_scale`` does, and needs
    ``batch_size_milestones=None`` and a stochastic solver (``'lbfgs'``
    trains on one full batch). The learning rate stays at ``lr_``.""",
    "track_noise_scale": """\
track_noise_scale : bool, default=False
    Estimate the gradient noise scale ``B_simple`` (McCandlish et al.
    2018), the batch size beyond which larger batches stop paying off,
    during training, from the gradients training computes (pairs of
    consecutive batches, two-batch estimator), and record it per epoch in
    ``noise_scale_curve_``. For an exact value at the end, see
    :func:`skbatch.gradient_noise_scale`.""",
    "max_epochs": """\
max_epochs : int, default=200
    Most passes over the training data per ``fit``; with ``'lbfgs'``, most
    L-BFGS iterations, as scikit-learn's ``max_iter``. Reaching it
    without meeting the stopping rule warns with a
    :class:`~sklearn.exceptions.ConvergenceWarning`, as scikit-learn does.""",
    "max_iter": """\
max_iter : int or None, default=None
    scikit-learn's name for ``max_epochs``; None uses ``max_epochs``. Set
    one of the two: both set to different values (``max_epochs`` away
    from its default) is an error in ``fit``.""",
    "lr": """\
lr : float, default=1e-3
    Initial learning rate.""",
    "learning_rate_init": """\
learning_rate_init : float or None, default=None
    scikit-learn's name for ``lr``; None uses ``lr``. Set one of the two:
    both set to different values (``lr`` away from its default) is an
    error in ``fit``.""",
    "solver": """\
solver : {'adam', 'adamw', 'sgd', 'lbfgs'}, default='adam'
    Optimizer. ``'lbfgs'`` trains as scikit-learn's MLP does: scipy's
    L-BFGS-B on the full batch (``batch_size``, including ``'max'``, and
    ``batch_size_milestones`` are ignored, ``accumulation_steps`` still
    splits each pass), stopping at ``max_epochs`` iterations, ``max_fun``
    loss evaluations or a gradient below ``tol``, with a
    ``ConvergenceWarning`` when a limit stops it. It ignores ``lr``, the
    schedules, ``n_iter_no_change`` and ``early_stopping``, and has no
    ``partial_fit``.""",
    "momentum": """\
momentum : float, default=0.9
    Momentum for ``'sgd'``.""",
    "nesterovs_momentum": """\
nesterovs_momentum : bool, default=True
    Nesterov momentum for ``'sgd'`` (when ``momentum > 0``).""",
    "beta_1": """\
beta_1 : float, default=0.9
    Decay rate of the first moment estimates for ``'adam'`` and ``'adamw'``.""",
    "beta_2": """\
beta_2 : float, default=0.999
    Decay rate of the second moment estimates for ``'adam'`` and ``'adamw'``.""",
    "epsilon": """\
epsilon : float, default=1e-8
    Numerical stability term for ``'adam'`` and ``'adamw'``.""",
    "alpha": """\
alpha : float, default=1e-4
    L2 penalty on the weights (not the biases), as scikit-learn defines
    it: each batch's loss gains ``0.5 * alpha * sum(||W||^2) / n_rows``
    (``n_rows`` the rows of the batch), and ``loss_`` and
    ``loss_curve_`` include it. For ``'adamw'``, whose decay is
    decoupled from the gradient, ``alpha`` is torch's ``weight_decay``
    instead: each step multiplies the weights by ``1 - lr * alpha``,
    and the loss holds no penalty.""",
    "learning_rate": """\
learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
    Schedule of the rate, with ``solver='sgd'`` only, as in scikit-learn's
    MLP (other solvers keep ``lr_``; pass a skorch ``LRScheduler`` in
    ``callbacks`` to schedule them). After each epoch, ``'invscaling'``
    sets the rate to ``lr_ / (t_ + 1) ** power_t``, ``t_`` the samples
    seen; ``'adaptive'`` keeps it until more than ``n_iter_no_change``
    epochs in a row miss the stopping rule's ``tol``, then divides it by
    5 instead of stopping, and stops once it is at most 1e-6.""",
    "power_t": """\
power_t : float, default=0.5
    Exponent of ``'invscaling'``.""",
    "early_stopping": {
        "classifier": """\
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data (stratified)
    and judge each epoch by its accuracy: an epoch that does not beat the
    best so far by ``tol`` is a miss, and training stops once more than
    ``n_iter_no_change`` epochs in a row miss, restoring the weights of
    the best accuracy. Otherwise each epoch is judged by its training
    loss, which must fall below the best so far minus ``tol``. These are
    scikit-learn's rules. ``partial_fit`` refuses ``early_stopping=True``,
    as scikit-learn's does.""",
        "regressor": """\
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data and judge each
    epoch by its R²: an epoch that does not beat the best so far by
    ``tol`` is a miss, and training stops once more than
    ``n_iter_no_change`` epochs in a row miss, restoring the weights of
    the best R². Otherwise each epoch is judged by its training loss,
    which must fall below the best so far minus ``tol``. These are
    scikit-learn's rules. ``partial_fit`` refuses ``early_stopping=True``,
    as scikit-learn's does.""",
    },
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Share held out with ``early_stopping``.""",
    "n_iter_no_change": """\
n_iter_no_change : int or np.inf, default=10
    Training stops once more than this many epochs in a row fail to
    improve by ``tol`` (see ``early_stopping``); ``np.inf`` never stops
    early.""",
    "tol": """\
tol : float, default=1e-4
    Smallest change that counts as an improvement; with ``'lbfgs'``,
    scipy's ``gtol``: stop when no projected gradient entry exceeds it.""",
    "max_fun": """\
max_fun : int, default=15000
    With ``'lbfgs'`` only: most loss evaluations (scipy's ``maxfun``), as in
    scikit-learn's MLP.""",
    "shuffle": """\
shuffle : bool, default=True
    Draw a new sample order every epoch.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, dropout, shuffling and the validation
    split. An int gives identical predictions on every fit.""",
    "warm_start": """\
warm_start : bool, default=False
    Continue from the weights and optimizer state of the last ``fit``
    (scikit-learn's MLP starts a fresh optimizer). The stopping rule's
    count and best score carry over, as scikit-learn's do.""",
    "device": """\
device : str, torch.device or DevicePool, default='auto'
    ``'auto'`` holds a free slot of ``DevicePool('auto')``, one per
    visible GPU, for the duration of each fit, so that the fits of a
    parallel search spread over the GPUs; without a GPU it is the CPU.
    A :class:`DevicePool` names the devices and the fits per device.
    ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` pin the device and take no
    slot. Resolved in ``fit``, in the process that trains. A fit that
    held a slot moves the network to the CPU when it hands the slot
    back, so ``predict`` runs there.""",
    "verbose": """\
verbose : int, default=0
    ``0`` prints nothing; ``1`` prints a line per epoch (skorch's table:
    epoch, training loss, held-out scores, seconds); ``2`` also shows a
    progress bar over the batches of each epoch that lasts over a
    second (``tqdm.auto``: a widget in a notebook), for progress within
    one long fit.""",
    "callbacks": """\
callbacks : list or None, default=None
    skorch callbacks to train with, after skbatch's own: instances of
    ``skorch.callbacks.Callback`` (``EpochScoring``, ``Checkpoint``,
    ``GradientNormClipping``, your own) or ``(name, callback)`` pairs.
    Each ``fit`` runs deep copies, so the param is never filled in
    (``clone`` and ``get_params`` see it as given); the copies that ran
    are in ``net_.callbacks_``, and what they record per epoch is in
    ``history_``. A name that skbatch's or skorch's own callbacks use
    (``'stopping'``, ``'valid_loss'``, ...) is refused. Callbacks run
    inside each fit's own loop, so a fused search trains these
    candidates one by one.""",
    "cache_dir": """\
cache_dir : str, path-like or None, default=None
    Folder where each finished ``fit`` is kept, keyed on the params
    (all but ``cache_dir`` and ``verbose``) and a fingerprint of the
    training data. A later ``fit`` with the same params and data
    restores it instead of training, so a search that was interrupted
    and runs again with the same folder trains only the fits it had not
    finished. Each fit also leaves a record (device, fit time, epochs,
    batch size, and the error if it failed) that
    :func:`skbatch.search_report` reads. A param, not a global setting,
    because a search's worker processes see only the estimator. None
    caches nothing. See :mod:`skbatch.cache.store`.""",
}

# Passages of prose that two docstrings share.
TEXTS = {
    # The inputs of the module contract of TorchClassifier and TorchRegressor.
    "module_inputs": """\
- ``n_features_in`` (int), when each sample is a vector: ``X`` is 2-D
  and ``image_shape`` is None. ``forward`` gets batches of shape
  ``(batch, n_features_in)``;
- ``input_shape`` (tuple of int) instead, when each sample has more
  dimensions: ``X`` of 3 or more dimensions, or rows reshaped by
  ``image_shape``. ``forward`` gets batches of shape
  ``(batch, *input_shape)``, e.g. ``(batch, 1, 8, 8)`` for digits with
  ``image_shape=(1, 8, 8)``;""",
}

# What fit learns, in the order the Attributes section lists it.
ATTRIBUTES = {
    "classes_": """\
classes_ : ndarray of shape (n_classes,)
    Class labels, sorted.""",
    "n_outputs_": """\
n_outputs_ : int
    Number of targets: 1 for a 1-D ``y``, else ``y.shape[1]``.""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen in ``fit``: ``X.shape[1]``, which is the
    channels where ``X`` has 4 dimensions.""",
    "input_shape_": """\
input_shape_ : tuple of int
    Shape of one sample as the module receives it: ``(n_features_in_,)``
    for rows, ``(channels, height, width)`` for images.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Column names, when ``X`` was a DataFrame with string column names.""",
    "net_": {
        "classifier": """\
net_ : skorch.NeuralNetClassifier
    The trained skorch net; ``net_.module_`` is the torch module.""",
        "regressor": """\
net_ : skorch.NeuralNetRegressor
    The trained skorch net; ``net_.module_`` is the torch module.""",
    },
    "device_": """\
device_ : torch.device
    Device the network trained on in the last call to ``fit`` or
    ``partial_fit``.""",
    "device_uuid_": """\
device_uuid_ : str or None
    That GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it),
    the same whatever index a process sees it under; None on the CPU.""",
    "device_slot_": """\
device_slot_ : str or None
    The :class:`DevicePool` slot the last call held,
    ``'<uuid or cpu>#<k>'``; None where it held none.""",
    "fit_time_": """\
fit_time_ : float
    Seconds the last call trained, from the moment it held its device
    (waiting for a slot not included).""",
    "peak_memory_": """\
peak_memory_ : int or None
    Most device memory, in bytes, that torch allocated during the last
    call; None on the CPU, where torch keeps no such count.""",
    "batch_size_": """\
batch_size_ : int
    Batch size of the last epoch trained, ``batch_size_curve_[-1]``: the
    size that really ran, after clamping, ``'max'`` and
    ``batch_size_milestones``.""",
    "n_updates_per_epoch_": """\
n_updates_per_epoch_ : int
    Optimizer steps in the last epoch.""",
    "n_iter_": """\
n_iter_ : int
    Epochs trained by the last call to ``fit`` (1 after ``partial_fit``),
    as in scikit-learn; a warm start counts again from 0.""",
    "t_": """\
t_ : int
    Training samples seen since the weights were initialised, over all
    calls: scikit-learn's count of the optimizer's samples.""",
    "best_loss_": """\
best_loss_ : float or None
    Lowest of ``loss_curve_``; None with ``early_stopping``, which
    watches ``validation_scores_`` instead.""",
    "loss_": {
        "classifier": """\
loss_ : float
    Training loss (cross-entropy) of the last epoch.""",
        "regressor": """\
loss_ : float
    Training loss (mean squared error) of the last epoch.""",
    },
    "loss_curve_": """\
loss_curve_ : list of float
    Training loss of every epoch.""",
    "history_": """\
history_ : list of dict
    One dict per epoch trained, oldest first: skorch's record of it
    (``epoch``; ``train_loss``; ``dur``, its seconds;
    ``train_batch_count``, its updates; with ``early_stopping`` the
    held-out ``valid_loss`` and score; each callback's scores, such as
    an ``EpochScoring``'s, under its name), without the per-batch
    list, plus ``batch_size``, the rows per update. Made from
    ``net_.history`` when read; ``pandas.DataFrame(est.history_)``
    makes it a table.""",
    "validation_scores_": {
        "classifier": """\
validation_scores_ : list of float or None
    Held-out accuracy per epoch with ``early_stopping``, else None.""",
        "regressor": """\
validation_scores_ : list of float or None
    Held-out R² per epoch with ``early_stopping``, else None.""",
    },
    "best_validation_score_": """\
best_validation_score_ : float or None
    Best of ``validation_scores_``.""",
    "batch_size_curve_": """\
batch_size_curve_ : list of int
    Batch size of every epoch; it changes with ``batch_size_milestones``.""",
    "noise_scale_curve_": """\
noise_scale_curve_ : list of float or None
    With ``track_noise_scale``: the gradient noise scale estimated at the
    end of every epoch (NaN where no estimate could be made yet, and
    throughout with ``solver='lbfgs'``, whose one full batch has no
    batch-to-batch noise). Else None.""",
    "lr_": """\
lr_ : float
    Learning rate the optimizer started from, after ``lr_scaling``.""",
    # MLPClassifier and MLPRegressor only ({mlp_attributes}).
    "n_outputs_mlp": """\
n_outputs_ : int
    Width of the output layer: one unit per class, 2 for binary targets
    (scikit-learn's MLP has one logistic unit there).""",
    "coefs_": """\
coefs_ : list of ndarray
    Weights per layer; ``coefs_[i]`` has shape (fan_in, fan_out) as in
    scikit-learn, float32. Views of the trained module's weights (on the
    CPU; copies from a GPU), read at each access: they change if
    training continues, and writing to them changes the model.""",
    "intercepts_": """\
intercepts_ : list of ndarray
    Biases per layer; ``intercepts_[i]`` has shape (fan_out,). Views, as
    ``coefs_``.""",
    "n_layers_": """\
n_layers_ : int
    Layers, input and output included: ``len(hidden_layer_sizes) + 2``.""",
    "out_activation_": {
        "classifier": """\
out_activation_ : str
    ``'softmax'``, for binary targets too.""",
        "regressor": """\
out_activation_ : str
    ``'identity'``: the output layer is linear.""",
    },
    "max_batch_search_": """\
max_batch_search_ : MaxBatchSearch or None
    With ``batch_size='max'``: the largest slice that fitted
    (``batch_size``) and the probes run to find it. Else None.""",
}

# Groups a docstring can name in one line. The training params are exactly
# BaseTorchEstimator's; tests/test_docstrings.py holds the two in step.
_TARGET_ATTRIBUTES = {"classifier": ["classes_"], "regressor": ["n_outputs_"]}
# The params one estimator adds (documented by name in its docstring), not the training group.
_NETWORK_PARAMS = ["module", "module_kwargs", "image_shape", "hidden_layer_sizes", "activation", "dropout", "loss"]
_TRAINING_PARAMS = [name for name in PARAMS if name not in _NETWORK_PARAMS]
_MLP_ATTRIBUTES = {
    "classifier": ["n_outputs_mlp", "coefs_", "intercepts_", "n_layers_", "out_activation_"],
    "regressor": ["coefs_", "intercepts_", "n_layers_", "out_activation_"],
}
_FITTED_ATTRIBUTES = [name for name in ATTRIBUTES if name not in ("classes_", "n_outputs_", *_MLP_ATTRIBUTES["classifier"])]

_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)\{(?P<name>[a-z_0-9]+)\}[ ]*$", re.MULTILINE)


def _entry(table, name, kind):
    text = table[name]
    return text[kind] if isinstance(text, dict) else text


def _render(name, kind):
    """Numpydoc text, unindented, for an entry or a group of entries."""
    if name == "training_params":
        return "\n".join(_entry(PARAMS, n, kind) for n in _TRAINING_PARAMS)
    if name == "mlp_attributes":
        return "\n".join(_entry(ATTRIBUTES, n, kind) for n in _MLP_ATTRIBUTES[kind])
    if name == "fitted_attributes":
        names = _TARGET_ATTRIBUTES[kind] + _FITTED_ATTRIBUTES
        return "\n".join(_entry(ATTRIBUTES, n, kind) for n in names)
    for table in (PARAMS, ATTRIBUTES, TEXTS):
        if name in table:
            return _entry(table, name, kind)
    raise KeyError(
        f"The docstring placeholder {{{name}}} names no entry of skbatch.estimators._docs. "
        "Add the entry to PARAMS, ATTRIBUTES or TEXTS, or write the text in the docstring."
    )


def fill_doc(cls):
    """Class decorator: replace each placeholder line of ``cls.__doc__`` with its entry.

    The kind of text ('classifier' or 'regressor') follows the class:
    classifiers subclass :class:`sklearn.base.ClassifierMixin`.
    """
    kind = "classifier" if issubclass(cls, ClassifierMixin) else "regressor"

    def substitute(match):
        return textwrap.indent(_render(match["name"], kind), match["indent"])

    cls.__doc__ = _PLACEHOLDER.sub(substitute, cls.__doc__)
    return cls
