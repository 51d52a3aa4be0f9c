"""The lean skorch net gives the same training as skorch's own."""

import numpy as np
import torch
from skorch import NeuralNetClassifier

from skbatch.training.iterator import TensorBatchIterator
from skbatch.training.modules import MLPModule
from skbatch.training.net import LeanNeuralNetClassifier


def _train(net_class, X, y, **extra):
    torch.manual_seed(0)
    net = net_class(
        MLPModule(X.shape[1], 10, hidden_layer_sizes=(16,), dropout=0.1),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        batch_size=50,
        max_epochs=3,
        iterator_train=TensorBatchIterator,
        iterator_train__shuffle=True,
        iterator_train__generator=torch.Generator().manual_seed(0),
        iterator_valid=TensorBatchIterator,
        verbose=0,
        **extra,
    )
    return net.fit(X, y)


def test_same_history_and_weights_as_skorch(small_digits):
    X = torch.as_tensor(small_digits[0], dtype=torch.float32)
    y = torch.as_tensor(small_digits[1])
    lean = _train(LeanNeuralNetClassifier, X, y, train_split=None)
    reference = _train(NeuralNetClassifier, X, y, train_split=None)
    for key in ["train_loss", "train_batch_count"]:
        np.testing.assert_allclose(lean.history[:, key], reference.history[:, key], rtol=1e-6)
    assert lean.history[-1, "batches", -1, "train_batch_size"] == reference.history[-1, "batches", -1, "train_batch_size"]
    for a, b in zip(lean.module_.parameters(), reference.module_.parameters()):
        torch.testing.assert_close(a, b)


def test_validation_epochs_match_skorch(small_digits):
    from skorch.dataset import ValidSplit

    X = torch.as_tensor(small_digits[0], dtype=torch.float32)
    y = torch.as_tensor(small_digits[1])
    lean = _train(LeanNeuralNetClassifier, X, y, train_split=ValidSplit(4))
    reference = _train(NeuralNetClassifier, X, y, train_split=ValidSplit(4))
    for key in ["train_loss", "valid_loss", "valid_acc"]:
        np.testing.assert_allclose(lean.history[:, key], reference.history[:, key], rtol=1e-6)


def test_batch_hooks_of_user_callbacks_still_run(small_digits):
    from skorch.callbacks import Callback

    class Count(Callback):
        def initialize(self):
            self.begin = self.grad = self.end = 0
            return self

        def on_batch_begin(self, net, **kwargs):
            self.begin += 1

        def on_grad_computed(self, net, named_parameters, **kwargs):
            self.grad += 1

        def on_batch_end(self, net, **kwargs):
            self.end += 1

    X = torch.as_tensor(small_digits[0], dtype=torch.float32)
    y = torch.as_tensor(small_digits[1])
    net = _train(LeanNeuralNetClassifier, X, y, train_split=None, callbacks=[("count", Count())])
    counter = dict(net.callbacks_)["count"]
    assert counter.begin == counter.grad == counter.end == 3 * 8
