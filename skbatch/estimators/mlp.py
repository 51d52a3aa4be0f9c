"""MLPClassifier: scikit-learn's multilayer perceptron params, trained by PyTorch."""

from numbers import Integral, Real

from .._compat import Interval, InvalidParameterError, StrOptions
from ..training.modules import ACTIVATIONS, MLPModule
from .targets import BaseTorchClassifier, BaseTorchRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "parse_hidden_layer_sizes"]


def parse_hidden_layer_sizes(value, owner="MLPClassifier", *, param="hidden_layer_sizes", allow_empty=False):
    """Return ``hidden_layer_sizes`` (or another list of layer sizes) as a tuple of positive ints.

    Parameters
    ----------
    value : int, str or sequence of int
        ``(128, 64)``, ``[128, 64]``, ``128`` (one layer) or ``'128-64'``.
        The string form exists for scikit-optimize, whose ``Categorical``
        cannot hold tuples: ``Categorical(['64', '128-64'])`` works.
    owner : str, default='MLPClassifier'
        Estimator name for the error message.
    param : str, default='hidden_layer_sizes'
        Param name for the error message.
    allow_empty : bool, default=False
        Accept ``()``, ``[]`` and ``''`` as no layers at all.

    Returns
    -------
    tuple of int

    Raises
    ------
    InvalidParameterError
        If the value is empty (unless allowed) or holds anything but positive ints.
    """
    if allow_empty and isinstance(value, (str, tuple, list)) and len(value) == 0:
        return ()
    if isinstance(value, str):
        parts = value.split("-")
        sizes = tuple(int(p) if p.strip().isdigit() else None for p in parts) if value else ()
    elif isinstance(value, Integral) and not isinstance(value, bool):
        sizes = (value,)
    else:
        try:
            sizes = tuple(value)
        except TypeError:
            sizes = (None,)
    valid = sizes and all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    )
    if not valid:
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} must be a non-empty "
            "tuple of positive ints such as (128, 64), an int, or a string such "
            f"as '128-64'. Got {value!r} instead."
        )
    return tuple(int(s) for s in sizes)


class MLPClassifier(BaseTorchClassifier):
    """Multilayer perceptron classifier in PyTorch, with scikit-learn's param names.

    A grid written for :class:`sklearn.neural_network.MLPClassifier` over
    ``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``,
    ``learning_rate``, ``momentum``, ``batch_size`` and friends runs
    unchanged; the learning rate is ``lr`` and the epoch budget
    ``max_epochs``, as in skorch.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, int or str, default=(100,)
        Width of each hidden layer: ``(128, 64)``, ``128``, or ``'128-64'``
        (the form to use in scikit-optimize's ``Categorical``).
    activation : {'relu', 'tanh', 'logistic', 'identity', 'gelu'}, default='relu'
        Nonlinearity after each hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a hidden unit during training, in [0, 1).
    batch_size : int, 'auto', 'full' or 'max', default='auto'
        Samples per gradient step. ``'auto'`` is ``min(200, n_samples)`` as
        in scikit-learn; ``-1`` or ``'full'`` is full-batch gradient descent;
        a batch size above the number of training samples is clamped to it;
        ``1`` is online learning. ``'max'`` is the
        largest batch whose training step fits device memory, found in each
        ``fit`` by :func:`find_max_batch_size` (usually every sample on the
        CPU). The size really used is ``batch_size_``.
    drop_last : bool, default=False
        Skip the last, smaller batch of each epoch. 1050 samples at batch
        size 100 make 11 updates per epoch, or 10 with ``drop_last=True``.
    accumulation_steps : int, default=1
        Compute each batch in this many slices and add up their gradients
        before one update: the update of ``batch_size`` samples in the memory
        of ``batch_size / accumulation_steps``. With ``batch_size='max'`` the
        slice is the largest that fits, and the batch that many times larger.
    lr_scaling : {'linear', 'sqrt'} or None, default=None
        Make the learning rate follow the batch size, so a search over
        ``batch_size`` compares each size at a fitting rate: ``lr`` is the
        rate at ``base_batch_size``, and training uses
        ``lr * batch_size_ / base_batch_size`` (``'linear'``, Goyal et al.
        2017) or ``lr * sqrt(batch_size_ / base_batch_size)`` (``'sqrt'``,
        Krizhevsky 2014). None uses ``lr`` as given. The rate used is ``lr_``.
    base_batch_size : int, default=200
        Batch size at which ``lr`` holds under ``lr_scaling``; 200 is what
        ``batch_size='auto'`` gives on 200 samples or more.
    batch_size_milestones : int, sequence of int or None, default=None
        Grow the batch size during training instead of decaying the
        learning rate (Smith et al. 2017): multiply it by
        ``batch_size_growth`` every that many epochs (an int, e.g. 10), or
        after each listed epoch (strictly increasing, e.g. ``(10, 20)``),
        up to the number of samples. The learning rate stays at ``lr_``. With
        ``batch_size='max'`` the grown batches are accumulated over slices
        that fit. None keeps the batch size constant.
    batch_size_growth : float, default=2.0
        Factor, above 1, applied at each of ``batch_size_milestones``.
    max_epochs : int, default=200
        Most passes over the training data per ``fit``.
    lr : float, default=1e-3
        Initial learning rate.
    solver : {'adam', 'adamw', 'sgd'}, default='adam'
        Optimizer.
    momentum : float, default=0.9
        Momentum for ``'sgd'``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``'sgd'`` (when ``momentum > 0``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates for ``'adam'`` and ``'adamw'``.
    epsilon : float, default=1e-8
        Numerical stability term for ``'adam'`` and ``'adamw'``.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as the optimizer's weight
        decay; decoupled for ``'adamw'``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule, for every solver (scikit-learn applies it to ``'sgd'``
        only): ``'invscaling'`` uses ``lr / epoch ** power_t``;
        ``'adaptive'`` divides the rate by 5 each time two epochs in a row
        fail to lower the training loss by ``tol``.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when its accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, restoring the best weights. Otherwise
        stop when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Smallest change that counts as an improvement.
    shuffle : bool, default=True
        Draw a new sample order every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical predictions on every fit.
    warm_start : bool, default=False
        Continue from the weights and optimizer state of the last ``fit``.
    device : str, torch.device or DevicePool, default='auto'
        ``'auto'`` holds a free slot of ``DevicePool('auto')``, one per
        visible GPU, for the duration of each fit, so that the fits of a
        parallel search spread over the GPUs; without a GPU it is the CPU.
        A :class:`DevicePool` names the devices and the fits per device.
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` pin the device and take no
        slot. Resolved in ``fit``, in the process that trains. A fit that
        held a slot moves the network to the CPU when it hands the slot
        back, so ``predict`` runs there.
    verbose : int, default=0
        Print a line per epoch when positive.
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
        caches nothing. See :mod:`skbatch.cache.store`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.module_`` is the torch module.
    device_ : torch.device
        Device the network trained on in the last call to ``fit`` or
        ``partial_fit``.
    device_uuid_ : str or None
        That GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it),
        the same whatever index a process sees it under; None on the CPU.
    device_slot_ : str or None
        The :class:`DevicePool` slot the last call held,
        ``'<uuid or cpu>#<k>'``; None where it held none.
    fit_time_ : float
        Seconds the last call trained, from the moment it held its device
        (waiting for a slot not included).
    peak_memory_ : int or None
        Most device memory, in bytes, that torch allocated during the last
        call; None on the CPU, where torch keeps no such count.
    batch_size_ : int
        Batch size used in the last call to ``fit`` or ``partial_fit``.
    n_updates_per_epoch_ : int
        Optimizer steps in the last epoch.
    n_iter_ : int
        Epochs trained, over all calls since the weights were initialised.
    loss_ : float
        Training loss of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch.
    validation_scores_ : list of float or None
        Held-out accuracy per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    batch_size_curve_ : list of int
        Batch size of every epoch; it changes with ``batch_size_milestones``.
    lr_ : float
        Learning rate the optimizer started from, after ``lr_scaling``.
    max_batch_search_ : MaxBatchSearch or None
        With ``batch_size='max'``: the largest slice that fitted
        (``batch_size``) and the probes run to find it. Else None.

    See Also
    --------
    TorchClassifier : The same training around a torch module of your own.
    MLPRegressor : The same network for regression targets.
    sklearn.neural_network.MLPClassifier : scikit-learn's NumPy implementation.

    Notes
    -----
    Inputs are converted to float32 and labels to class indices. Training
    batches are slices of tensors moved to the device once per ``fit``,
    which keeps the cost per step close to a hand-written PyTorch loop.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, max_epochs=5,
    ...                     random_state=0, device="cpu").fit(X / 16, y)
    >>> clf.batch_size_, clf.n_updates_per_epoch_
    (32, 57)
    """

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like", str, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_size="auto",
        drop_last=False,
        accumulation_steps=1,
        lr_scaling=None,
        base_batch_size=200,
        batch_size_milestones=None,
        batch_size_growth=2.0,
        max_epochs=200,
        lr=1e-3,
        solver="adam",
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        alpha=1e-4,
        learning_rate="constant",
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        warm_start=False,
        device="auto",
        verbose=0,
        cache_dir=None,
    ):
        super().__init__(
            batch_size=batch_size,
            drop_last=drop_last,
            accumulation_steps=accumulation_steps,
            lr_scaling=lr_scaling,
            base_batch_size=base_batch_size,
            batch_size_milestones=batch_size_milestones,
            batch_size_growth=batch_size_growth,
            max_epochs=max_epochs,
            lr=lr,
            solver=solver,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            alpha=alpha,
            learning_rate=learning_rate,
            power_t=power_t,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            shuffle=shuffle,
            random_state=random_state,
            warm_start=warm_start,
            device=device,
            verbose=verbose,
            cache_dir=cache_dir,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout

    def _check_params(self):
        parse_hidden_layer_sizes(self.hidden_layer_sizes, type(self).__name__)

    def _build_module(self, n_features_in, n_classes):
        return MLPModule(
            n_features_in,
            n_classes,
            hidden_layer_sizes=parse_hidden_layer_sizes(self.hidden_layer_sizes),
            activation=self.activation,
            dropout=self.dropout,
        )


class MLPRegressor(BaseTorchRegressor):
    """Multilayer perceptron regressor in PyTorch, with scikit-learn's param names.

    The twin of :class:`MLPClassifier` for real-valued targets, one or
    several: the same params, a squared-error loss, and scikit-learn's
    regressor conventions (``score`` is R², a 1-D ``y`` gives 1-D
    predictions). A grid written for
    :class:`sklearn.neural_network.MLPRegressor` over
    ``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``,
    ``learning_rate``, ``momentum``, ``batch_size`` and friends runs
    unchanged; the learning rate is ``lr`` and the epoch budget
    ``max_epochs``, as in skorch.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss minimised. 'poisson' is scikit-learn's: the half Poisson
        deviance with a log link, so the network's output goes through
        ``exp`` and predictions are positive; ``y`` must be non-negative.
    hidden_layer_sizes : tuple of int, int or str, default=(100,)
        Width of each hidden layer: ``(128, 64)``, ``128``, or ``'128-64'``
        (the form to use in scikit-optimize's ``Categorical``).
    activation : {'relu', 'tanh', 'logistic', 'identity', 'gelu'}, default='relu'
        Nonlinearity after each hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a hidden unit during training, in [0, 1).
    batch_size : int, 'auto', 'full' or 'max', default='auto'
        Samples per gradient step. ``'auto'`` is ``min(200, n_samples)`` as
        in scikit-learn; ``-1`` or ``'full'`` is full-batch gradient descent;
        a batch size above the number of training samples is clamped to it.
        ``'max'`` is the
        largest batch whose training step fits device memory, found in each
        ``fit`` by :func:`find_max_batch_size` (usually every sample on the
        CPU). The size really used is ``batch_size_``.
    drop_last : bool, default=False
        Skip the last, smaller batch of each epoch. 1050 samples at batch
        size 100 make 11 updates per epoch, or 10 with ``drop_last=True``.
    accumulation_steps : int, default=1
        Compute each batch in this many slices and add up their gradients
        before one update: the update of ``batch_size`` samples in the memory
        of ``batch_size / accumulation_steps``. With ``batch_size='max'`` the
        slice is the largest that fits, and the batch that many times larger.
    lr_scaling : {'linear', 'sqrt'} or None, default=None
        Make the learning rate follow the batch size, so a search over
        ``batch_size`` compares each size at a fitting rate: ``lr`` is the
        rate at ``base_batch_size``, and training uses
        ``lr * batch_size_ / base_batch_size`` (``'linear'``, Goyal et al.
        2017) or ``lr * sqrt(batch_size_ / base_batch_size)`` (``'sqrt'``,
        Krizhevsky 2014). None uses ``lr`` as given. The rate used is ``lr_``.
    base_batch_size : int, default=200
        Batch size at which ``lr`` holds under ``lr_scaling``; 200 is what
        ``batch_size='auto'`` gives on 200 samples or more.
    batch_size_milestones : int, sequence of int or None, default=None
        Grow the batch size during training instead of decaying the
        learning rate (Smith et al. 2017): multiply it by
        ``batch_size_growth`` every that many epochs (an int, e.g. 10), or
        after each listed epoch (strictly increasing, e.g. ``(10, 20)``),
        up to the number of samples. The learning rate stays at ``lr_``. With
        ``batch_size='max'`` the grown batches are accumulated over slices
        that fit. None keeps the batch size constant.
    batch_size_growth : float, default=2.0
        Factor, above 1, applied at each of ``batch_size_milestones``.
    max_epochs : int, default=200
        Most passes over the training data per ``fit``.
    lr : float, default=1e-3
        Initial learning rate.
    solver : {'adam', 'adamw', 'sgd'}, default='adam'
        Optimizer.
    momentum : float, default=0.9
        Momentum for ``'sgd'``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``'sgd'`` (when ``momentum > 0``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates for ``'adam'`` and ``'adamw'``.
    epsilon : float, default=1e-8
        Numerical stability term for ``'adam'`` and ``'adamw'``.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as the optimizer's weight
        decay; decoupled for ``'adamw'``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule, for every solver (scikit-learn applies it to ``'sgd'``
        only): ``'invscaling'`` uses ``lr / epoch ** power_t``;
        ``'adaptive'`` divides the rate by 5 each time two epochs in a row
        fail to lower the training loss by ``tol``.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop
        when its R² has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, restoring the best weights. Otherwise
        stop when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Smallest change that counts as an improvement.
    shuffle : bool, default=True
        Draw a new sample order every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical predictions on every fit.
    warm_start : bool, default=False
        Continue from the weights and optimizer state of the last ``fit``.
    device : str, torch.device or DevicePool, default='auto'
        ``'auto'`` holds a free slot of ``DevicePool('auto')``, one per
        visible GPU, for the duration of each fit, so that the fits of a
        parallel search spread over the GPUs; without a GPU it is the CPU.
        A :class:`DevicePool` names the devices and the fits per device.
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` pin the device and take no
        slot. Resolved in ``fit``, in the process that trains. A fit that
        held a slot moves the network to the CPU when it hands the slot
        back, so ``predict`` runs there.
    verbose : int, default=0
        Print a line per epoch when positive.
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
        caches nothing. See :mod:`skbatch.cache.store`.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets: 1 for a 1-D ``y``, else ``y.shape[1]``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    net_ : skorch.NeuralNetRegressor
        The trained skorch net; ``net_.module_`` is the torch module.
    device_ : torch.device
        Device the network trained on in the last call to ``fit`` or
        ``partial_fit``.
    device_uuid_ : str or None
        That GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it),
        the same whatever index a process sees it under; None on the CPU.
    device_slot_ : str or None
        The :class:`DevicePool` slot the last call held,
        ``'<uuid or cpu>#<k>'``; None where it held none.
    fit_time_ : float
        Seconds the last call trained, from the moment it held its device
        (waiting for a slot not included).
    peak_memory_ : int or None
        Most device memory, in bytes, that torch allocated during the last
        call; None on the CPU, where torch keeps no such count.
    batch_size_ : int
        Batch size used in the last call to ``fit`` or ``partial_fit``.
    n_updates_per_epoch_ : int
        Optimizer steps in the last epoch.
    n_iter_ : int
        Epochs trained, over all calls since the weights were initialised.
    loss_ : float
        Training loss of the last epoch: the mean squared error, averaged
        over outputs (scikit-learn's MLPRegressor reports half of it).
    loss_curve_ : list of float
        Training loss of every epoch.
    validation_scores_ : list of float or None
        Held-out R² per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    batch_size_curve_ : list of int
        Batch size of every epoch; it changes with ``batch_size_milestones``.
    lr_ : float
        Learning rate the optimizer started from, after ``lr_scaling``.
    max_batch_search_ : MaxBatchSearch or None
        With ``batch_size='max'``: the largest slice that fitted
        (``batch_size``) and the probes run to find it. Else None.

    See Also
    --------
    TorchRegressor : The same training around a torch module of your own.
    MLPClassifier : The same network for class labels.
    sklearn.neural_network.MLPRegressor : scikit-learn's NumPy implementation.

    Notes
    -----
    Inputs and targets are converted to float32. Scale the targets (for
    instance with :class:`sklearn.compose.TransformedTargetRegressor`):
    the output layer is linear and starts near zero. Training
    batches are slices of tensors moved to the device once per ``fit``,
    which keeps the cost per step close to a hand-written PyTorch loop.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skbatch import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor(hidden_layer_sizes=(64,), batch_size=32, max_epochs=5,
    ...                    random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.batch_size_, reg.n_updates_per_epoch_, reg.predict(X[:2]).shape
    (32, 14, (2,))
    """

    _parameter_constraints: dict = {
        **BaseTorchRegressor._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
        "hidden_layer_sizes": ["array-like", str, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_size="auto",
        drop_last=False,
        accumulation_steps=1,
        lr_scaling=None,
        base_batch_size=200,
        batch_size_milestones=None,
        batch_size_growth=2.0,
        max_epochs=200,
        lr=1e-3,
        solver="adam",
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        alpha=1e-4,
        learning_rate="constant",
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        warm_start=False,
        device="auto",
        verbose=0,
        cache_dir=None,
    ):
        super().__init__(
            batch_size=batch_size,
            drop_last=drop_last,
            accumulation_steps=accumulation_steps,
            lr_scaling=lr_scaling,
            base_batch_size=base_batch_size,
            batch_size_milestones=batch_size_milestones,
            batch_size_growth=batch_size_growth,
            max_epochs=max_epochs,
            lr=lr,
            solver=solver,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            alpha=alpha,
            learning_rate=learning_rate,
            power_t=power_t,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            shuffle=shuffle,
            random_state=random_state,
            warm_start=warm_start,
            device=device,
            verbose=verbose,
            cache_dir=cache_dir,
        )
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout

    def _check_params(self):
        parse_hidden_layer_sizes(self.hidden_layer_sizes, type(self).__name__)

    def _build_module(self, n_features_in, n_outputs):
        return MLPModule(
            n_features_in,
            n_outputs,
            hidden_layer_sizes=parse_hidden_layer_sizes(self.hidden_layer_sizes),
            activation=self.activation,
            dropout=self.dropout,
        )
