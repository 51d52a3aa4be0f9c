"""ConvNetClassifier: a small convolutional network for images, with flat params for searches."""

from numbers import Integral, Real

from .._compat import Interval, StrOptions
from ..training.modules import ACTIVATIONS, POOLINGS, ConvNetModule
from ..training.seeding import fit_generator, own_generator
from .input_shapes import IMAGE_SHAPE_CONSTRAINT, ShapedInputMixin
from .mlp import parse_hidden_layer_sizes
from .targets import BaseTorchClassifier

__all__ = ["ConvNetClassifier"]

_LAYER_SIZES = ["array-like", str, Interval(Integral, 1, None, closed="left")]


class ConvNetClassifier(ShapedInputMixin, BaseTorchClassifier):
    """Convolutional network classifier for small images, with flat params.

    The design is a handful of params a search can vary: ``channels`` per
    convolution block, ``kernel_size``, ``pooling``, ``dense_layer_sizes``
    and ``dropout``; training takes every param :class:`MLPClassifier`
    has. Each block is a convolution (``'same'`` padding), the activation
    and a 2x2 pooling; dense layers and a linear output follow.

    Images come as flat rows with ``image_shape`` (digits:
    ``image_shape=(8, 8)``), as a 3-D array ``(n_samples, height, width)``
    or as a 4-D array ``(n_samples, channels, height, width)``, channels
    first as in PyTorch. The number of channels and of classes come from
    the data. Flat rows without ``image_shape`` are read as images one
    pixel high, so the convolutions run along the features.

    Parameters
    ----------
    channels : tuple of int, int or str, default=(16, 32)
        Output channels of each convolution block: ``(16, 32)``, ``16``, or
        ``'16-32'`` (the form to use in scikit-optimize's ``Categorical``).
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'} or None, default='max'
        2x2 pooling after each convolution, halving height and width (a
        side shorter than 2 is left alone); None keeps full resolution.
    dense_layer_sizes : tuple of int, int or str, default=(64,)
        Width of each dense hidden layer after the convolutions, in the
        same forms as ``channels``; ``()`` for none.
    activation : {'relu', 'tanh', 'logistic', 'identity', 'gelu'}, default='relu'
        Nonlinearity after each convolution and dense hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a unit of the flattened convolution output
        and of each dense hidden layer during training, in [0, 1).
    image_shape : tuple of int, default=None
        Shape of one image when ``X`` holds flat rows: ``(height, width)``
        or ``(channels, height, width)``; ``(8, 8)`` for digits. None for
        3-D or 4-D ``X``, which carries its own shape.
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
        Number of features seen in ``fit`` (``X.shape[1]``, so the channels
        for 4-D ``X``).
    input_shape_ : tuple of int
        ``(channels, height, width)`` of one sample, as the network sees it.
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
    MLPClassifier : The same training with a multilayer perceptron.
    TorchClassifier : The same training around a torch module of your own.

    Notes
    -----
    Pixels are converted to float32; scale them (digits: divide by 16).
    ``net_.module_`` is a :class:`skbatch.training.modules.ConvNetModule`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import ConvNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ConvNetClassifier(image_shape=(8, 8), channels=(8, 16), max_epochs=3,
    ...                         random_state=0, device="cpu").fit(X / 16, y)
    >>> clf.input_shape_, clf.predict(X[:3] / 16).shape
    ((1, 8, 8), (3,))
    """

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "channels": _LAYER_SIZES,
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions(set(POOLINGS)), None],
        "dense_layer_sizes": _LAYER_SIZES,
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        channels=(16, 32),
        kernel_size=3,
        pooling="max",
        dense_layer_sizes=(64,),
        activation="relu",
        dropout=0.0,
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
        self.channels = channels
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.dense_layer_sizes = dense_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.image_shape = image_shape

    def _check_params(self):
        self._layer_sizes()

    def _layer_sizes(self):
        owner = type(self).__name__
        channels = parse_hidden_layer_sizes(self.channels, owner, param="channels")
        dense = parse_hidden_layer_sizes(self.dense_layer_sizes, owner, param="dense_layer_sizes", allow_empty=True)
        return channels, dense

    def _sample_shape(self, X):
        shape = tuple(super()._sample_shape(X))
        if len(shape) == 1:
            return (1, 1, shape[0])
        if len(shape) == 2:
            return (1, *shape)
        if len(shape) == 3:
            return shape
        raise ValueError(
            f"{type(self).__name__} takes images of shape (height, width) or (channels, "
            f"height, width), but X holds samples of shape {shape}. Pass a 3-D or 4-D X, "
            "or flat rows with image_shape."
        )

    @own_generator
    def _build_module(self, n_features_in, n_classes):
        channels, dense = self._layer_sizes()
        return ConvNetModule(
            self._module_input_shape(n_features_in),
            n_classes,
            channels=channels,
            kernel_size=self.kernel_size,
            pooling=self.pooling,
            dense_layer_sizes=dense,
            activation=self.activation,
            dropout=self.dropout,
            generator=fit_generator(),
        )
