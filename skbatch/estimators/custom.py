"""Estimators around any ``torch.nn.Module`` class of the user's, and the contract ``fit`` builds it by."""

import torch

from .._compat import InvalidParameterError
from .input_shapes import IMAGE_SHAPE_CONSTRAINT, ShapedInputMixin
from .targets import BaseTorchClassifier, BaseTorchRegressor

__all__ = ["TorchClassifier", "TorchRegressor"]

# The module contract of TorchClassifier and TorchRegressor.
_INPUT_ARGS = ("n_features_in", "input_shape")


def _check_user_module(estimator, *, output_arg):
    owner = type(estimator).__name__
    if not issubclass(estimator.module, torch.nn.Module):
        raise InvalidParameterError(
            f"The 'module' parameter of {owner} must be a subclass of "
            f"torch.nn.Module (the class, not an instance). Got {estimator.module!r} instead."
        )
    filled = sorted(set(estimator.module_kwargs or {}) & {*_INPUT_ARGS, output_arg})
    if filled:
        raise InvalidParameterError(
            f"The 'module_kwargs' parameter of {owner} must not set {filled}: fit fills "
            f"in {', '.join(_INPUT_ARGS)} and {output_arg} from the data. Remove "
            f"{filled} from module_kwargs."
        )


def _build_user_module(estimator, n_features_in, **outputs):
    """Build ``estimator.module`` with the arguments its contract promises."""
    input_shape = estimator._module_input_shape(n_features_in)
    if len(input_shape) == 1:
        inputs = {"n_features_in": n_features_in}
    else:
        inputs = {"input_shape": input_shape}
    kwargs = {**inputs, **outputs, **(estimator.module_kwargs or {})}
    try:
        return estimator.module(**kwargs)
    except TypeError as error:
        filled = ", ".join(f"{name}={value!r}" for name, value in {**inputs, **outputs}.items())
        raise TypeError(
            f"{type(estimator).__name__} could not build {estimator.module.__name__}({filled}, "
            f"**module_kwargs): {error}. Samples that are vectors (2-D X, image_shape=None) "
            "fill in n_features_in; samples with more dimensions (X of 3+ dimensions, or "
            "image_shape set) fill in input_shape instead."
        ) from error


class TorchClassifier(ShapedInputMixin, BaseTorchClassifier):
    """Classifier around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of classes taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    - ``n_features_in`` (int), when each sample is a vector: ``X`` is 2-D
      and ``image_shape`` is None. ``forward`` gets batches of shape
      ``(batch, n_features_in)``;
    - ``input_shape`` (tuple of int) instead, when each sample has more
      dimensions: ``X`` of 3 or more dimensions, or rows reshaped by
      ``image_shape``. ``forward`` gets batches of shape
      ``(batch, *input_shape)``, e.g. ``(batch, 1, 8, 8)`` for digits with
      ``image_shape=(1, 8, 8)``;
    - ``n_classes`` (int), the number of classes in ``y``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_classes=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    unnormalised scores (logits) of shape ``(batch, n_classes)``; the loss
    is ``torch.nn.CrossEntropyLoss``.

    Parameters
    ----------
    module : type of torch.nn.Module
        The network class, not an instance.
    module_kwargs : dict, default=None
        Further constructor arguments for ``module``; they must not repeat
        the arguments ``fit`` fills in.
    image_shape : tuple of int, default=None
        Shape to reshape each row of a 2-D ``X`` to before it reaches the
        module, e.g. ``(1, 8, 8)`` for digits as one-channel images. The
        module then gets ``input_shape`` instead of ``n_features_in``. Leave
        None for tabular data or for ``X`` that already has 3 or more
        dimensions.
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
        Schedule, for every solver: ``'invscaling'`` uses
        ``lr / epoch ** power_t``; ``'adaptive'`` divides the rate by 5 each
        time two epochs in a row fail to lower the training loss by ``tol``.
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
        Number of features seen in ``fit`` (``X.shape[1]``).
    input_shape_ : tuple of int
        Shape of one sample as the module receives it.
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
        Batch size of the last epoch trained, ``batch_size_curve_[-1]``.
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
    MLPClassifier : The same estimator with a built-in multilayer perceptron.
    ConvNetClassifier : The same estimator with a built-in convolutional network.
    TorchRegressor : The same contract for regression targets.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_iris
    >>> from skbatch import TorchClassifier
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_classes, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TorchClassifier(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                       random_state=0, device="cpu").fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "module": [type],
        "module_kwargs": [dict, None],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        module=None,
        module_kwargs=None,
        image_shape=None,
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
        self.module = module
        self.module_kwargs = module_kwargs
        self.image_shape = image_shape

    def _check_params(self):
        _check_user_module(self, output_arg="n_classes")

    def _build_module(self, n_features_in, n_classes):
        return _build_user_module(self, n_features_in, n_classes=n_classes)


class TorchRegressor(ShapedInputMixin, BaseTorchRegressor):
    """Regressor around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of outputs taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    - ``n_features_in`` (int), when each sample is a vector: ``X`` is 2-D
      and ``image_shape`` is None. ``forward`` gets batches of shape
      ``(batch, n_features_in)``;
    - ``input_shape`` (tuple of int) instead, when each sample has more
      dimensions: ``X`` of 3 or more dimensions, or rows reshaped by
      ``image_shape``. ``forward`` gets batches of shape
      ``(batch, *input_shape)``, e.g. ``(batch, 1, 8, 8)`` for digits with
      ``image_shape=(1, 8, 8)``;
    - ``n_outputs`` (int), the number of targets: 1 for a 1-D ``y``, else
      ``y.shape[1]``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_outputs=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    predictions of shape ``(batch, n_outputs)``; the loss is
    ``torch.nn.MSELoss``.

    Parameters
    ----------
    module : type of torch.nn.Module
        The network class, not an instance.
    module_kwargs : dict, default=None
        Further constructor arguments for ``module``; they must not repeat
        the arguments ``fit`` fills in.
    image_shape : tuple of int, default=None
        Shape to reshape each row of a 2-D ``X`` to before it reaches the
        module, e.g. ``(1, 8, 8)`` for digits as one-channel images. The
        module then gets ``input_shape`` instead of ``n_features_in``. Leave
        None for tabular data or for ``X`` that already has 3 or more
        dimensions.
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
        Schedule, for every solver: ``'invscaling'`` uses
        ``lr / epoch ** power_t``; ``'adaptive'`` divides the rate by 5 each
        time two epochs in a row fail to lower the training loss by ``tol``.
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
        Number of features seen in ``fit`` (``X.shape[1]``).
    input_shape_ : tuple of int
        Shape of one sample as the module receives it.
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
        Batch size of the last epoch trained, ``batch_size_curve_[-1]``.
    n_updates_per_epoch_ : int
        Optimizer steps in the last epoch.
    n_iter_ : int
        Epochs trained, over all calls since the weights were initialised.
    loss_ : float
        Training loss (mean squared error) of the last epoch.
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
    MLPRegressor : The same estimator with a built-in multilayer perceptron.
    TorchClassifier : The same contract for class labels.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_diabetes
    >>> from skbatch import TorchRegressor
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_outputs, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = TorchRegressor(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                      random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseTorchRegressor._parameter_constraints,
        "module": [type],
        "module_kwargs": [dict, None],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        module=None,
        module_kwargs=None,
        image_shape=None,
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
        self.module = module
        self.module_kwargs = module_kwargs
        self.image_shape = image_shape

    def _check_params(self):
        _check_user_module(self, output_arg="n_outputs")

    def _build_module(self, n_features_in, n_outputs):
        return _build_user_module(self, n_features_in, n_outputs=n_outputs)
