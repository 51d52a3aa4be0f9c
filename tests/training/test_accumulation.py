"""Gradient accumulation: slices of a batch give the update of the whole batch."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skbatch import MLPClassifier

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = X_DIGITS[:300] / 16
Y_DIGITS = Y_DIGITS[:300]


def _one_step(accumulation_steps, solver, batch_size=300):
    return MLPClassifier(
        hidden_layer_sizes=(32,),
        batch_size=batch_size,
        accumulation_steps=accumulation_steps,
        max_epochs=1,
        solver=solver,
        lr=0.1 if solver == "sgd" else 1e-2,
        shuffle=False,
        random_state=0,
        device="cpu",
    ).fit(X_DIGITS, Y_DIGITS)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("accumulation_steps", [2, 3, 7])
def test_accumulated_update_equals_the_large_batch_update(solver, accumulation_steps):
    whole = _one_step(1, solver)
    sliced = _one_step(accumulation_steps, solver)
    assert whole.n_updates_per_epoch_ == sliced.n_updates_per_epoch_ == 1
    for p_whole, p_sliced in zip(whole.net_.module_.parameters(), sliced.net_.module_.parameters()):
        torch.testing.assert_close(p_sliced, p_whole, rtol=1e-5, atol=1e-6)
    assert sliced.loss_ == pytest.approx(whole.loss_, rel=1e-5)


def test_accumulation_keeps_batch_size_and_updates_per_epoch():
    clf = _one_step(4, "sgd", batch_size=64)
    assert clf.batch_size_ == 64
    assert clf.n_updates_per_epoch_ == 5
    assert clf.net_.accumulation_steps == 4


def test_accumulation_over_several_updates_matches_too():
    whole = _one_step(1, "adam", batch_size=100)
    sliced = _one_step(5, "adam", batch_size=100)
    np.testing.assert_allclose(sliced.predict_proba(X_DIGITS), whole.predict_proba(X_DIGITS), rtol=1e-4, atol=1e-6)


def test_more_steps_than_samples_in_a_batch_uses_single_samples():
    clf = _one_step(10, "sgd", batch_size=4)
    assert clf.n_updates_per_epoch_ == 75


def test_accumulation_steps_must_be_positive():
    with pytest.raises(ValueError, match="'accumulation_steps' parameter of MLPClassifier must be an int in the range \\[1, inf\\)"):
        MLPClassifier(accumulation_steps=0, device="cpu").fit(X_DIGITS, Y_DIGITS)
