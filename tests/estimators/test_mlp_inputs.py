"""scikit-learn MLP inputs: sparse X, multilabel y, sample_weight and loss='poisson'."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network._base import binary_log_loss, poisson_loss

from skbatch import FusedGridSearchCV, MLPClassifier, MLPRegressor
from skbatch.training import sparse
from skbatch.training.losses import HalfPoissonDeviance, MultilabelLogLoss
from skbatch.training.max_batch import find_max_batch_size


def _clf(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (16,), "max_epochs": 3, "random_state": 0, "device": "cpu", **params})


def _reg(**params):
    return MLPRegressor(**{"hidden_layer_sizes": (16,), "max_epochs": 3, "random_state": 0, "device": "cpu", **params})


@pytest.fixture
def sparse_data():
    rng = np.random.RandomState(0)
    X = sp.random(120, 40, density=0.1, format="csr", random_state=rng, dtype=np.float64)
    totals = np.asarray(X.sum(axis=1)).ravel()
    y = (totals > np.median(totals)).astype(int)
    return X, y


@pytest.fixture
def batches(monkeypatch):
    """``(kind, rows)`` of every batch cut from a sparse X: the two seams the batch iterator goes through."""
    cuts = []

    def counting(kind, original):
        def cut(X, rows, device=None):
            out = original(X, rows, device)
            cuts.append((kind, len(out)))
            return out

        return cut

    monkeypatch.setattr(sparse, "densify_rows", counting("dense", sparse.densify_rows))
    monkeypatch.setattr(sparse, "sparse_rows", counting("sparse", sparse.sparse_rows))
    return cuts


def _rows(cuts):
    return [rows for _, rows in cuts]


# -- sparse X ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("params", [{}, {"accumulation_steps": 3}, {"hidden_layer_sizes": (8, 4)}, {"early_stopping": True, "alpha": 0.1}])
def test_sparse_fit_equals_dense_fit(sparse_data, fmt, params, batches):
    # The first layer multiplies the sparse batch directly: its weights'
    # gradient must be the dense path's, so the whole fit is.
    X, y = sparse_data
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    dense = _clf(batch_size=32, **params).fit(X.toarray(), y, sample_weight=weight)
    assert not batches
    sparse_fit = _clf(batch_size=32, **params).fit(X.asformat(fmt), y, sample_weight=weight)
    assert {kind for kind, _ in batches} == {"sparse"}
    for a, b in zip(sparse_fit.coefs_ + sparse_fit.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse_fit.loss_curve_, dense.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(sparse_fit.predict_proba(X.asformat(fmt)), dense.predict_proba(X.toarray()), atol=1e-6)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd"])
def test_every_solver_updates_with_torchs_fused_kernels(sparse_data, solver):
    # One pass over each parameter per step instead of one per operation:
    # sparse or dense, and a warm start continues on the same kernels.
    X, y = sparse_data
    sparse_fit = _clf(solver=solver, max_epochs=2, warm_start=True).fit(X, y)
    dense_fit = _clf(solver=solver, max_epochs=2).fit(X.toarray(), y)
    for fit in (sparse_fit, dense_fit):
        assert fit.net_.optimizer_.defaults["fused"] is True and not fit.net_.optimizer_.defaults.get("foreach")
    sparse_fit.fit(X, y)
    assert len(sparse_fit.net_.history) == 4 and sparse_fit.net_.optimizer_.defaults["fused"] is True


def test_sparse_regression_equals_dense(sparse_data):
    X, y = sparse_data
    target = np.asarray(X.sum(axis=1)).ravel()
    dense = _reg(batch_size=32, hidden_layer_sizes=(8, 4)).fit(X.toarray(), target)
    sparse_fit = _reg(batch_size=32, hidden_layer_sizes=(8, 4)).fit(X, target)
    for a, b in zip(sparse_fit.coefs_, dense.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse_fit.predict(X), dense.predict(X.toarray()), rtol=1e-5, atol=1e-6)


def test_sparse_batches_without_non_zeros_train_as_dense():
    # Rows 60-99 are empty: whole batches with no entries at all.
    X = sp.vstack([sp.random(60, 20, density=0.05, format="csr", random_state=0), sp.csr_matrix((40, 20))]).tocsr()
    y = np.arange(100) % 2
    sparse_fit = _clf(hidden_layer_sizes=(8,), batch_size=20, shuffle=False).fit(X, y)
    dense = _clf(hidden_layer_sizes=(8,), batch_size=20, shuffle=False).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse_fit.coefs_[0], dense.coefs_[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse_fit.loss_curve_, dense.loss_curve_, rtol=1e-5)


def test_sparse_is_cut_one_batch_at_a_time(sparse_data, batches):
    X, y = sparse_data
    est = _clf(batch_size=32, early_stopping=True, validation_fraction=0.2).fit(X, y)
    # On the CPU the MLP's batches stay sparse, and are never more than a batch.
    assert batches and max(_rows(batches)) <= 32 and {kind for kind, _ in batches} == {"sparse"}
    # Every epoch cuts each training row once, plus the held-out rows.
    assert sum(_rows(batches)) == est.n_iter_ * 120
    batches.clear()
    est.predict(X)
    assert batches == [("sparse", 120)]  # inference batches are >= 1024 rows


def test_sparse_partial_fit_and_regression(sparse_data, batches):
    X, y = sparse_data
    clf = _clf(batch_size=50)
    clf.partial_fit(X, y, classes=[0, 1]).partial_fit(X, y)
    # Two epochs in all; n_iter_ counts the last call's, as scikit-learn's does.
    assert len(clf.loss_curve_) == 2 and clf.n_iter_ == 1 and max(_rows(batches)) <= 50
    reg = _reg(batch_size=50).fit(X, y.astype(float))
    assert reg.predict(X).shape == (120,)


def test_sparse_rows_and_sparse_linear_match_the_dense_product(sparse_data):
    X, _ = sparse_data
    X = sparse.as_csr(X.astype(np.float32))
    rows = torch.tensor([5, 0, 77, 5, 119])
    batch = sparse.sparse_rows(X, rows)
    assert batch.is_sparse and batch.is_coalesced()
    np.testing.assert_array_equal(batch.to_dense().numpy(), X.toarray()[rows.numpy()])
    np.testing.assert_array_equal(sparse.take_rows(batch, slice(1, 3)).to_dense().numpy(), X.toarray()[[0, 77]])
    layer = torch.nn.Linear(40, 6)
    out = sparse.sparse_linear(batch, layer.weight, layer.bias)
    out.square().sum().backward()
    sparse_grads = layer.weight.grad.clone(), layer.bias.grad.clone()
    layer.zero_grad()
    expected = layer(batch.to_dense())
    expected.square().sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(sparse_grads, (layer.weight.grad, layer.bias.grad))


def test_densify_rows_on_the_accelerator_path_matches_scipy(sparse_data):
    # The path an accelerator takes (sparse transfer, scatter on the device), run on the CPU.
    X, _ = sparse_data
    X = X.astype(np.float32)
    rows = torch.tensor([5, 0, 77, 5])
    expected = X.toarray()[[5, 0, 77, 5]]
    on_cpu = sparse.densify_rows(X, rows, "cpu")
    scattered = sparse._scatter_rows(X[rows.numpy()], torch.device("cpu"))
    np.testing.assert_array_equal(on_cpu.numpy(), expected)
    np.testing.assert_array_equal(scattered.numpy(), expected)
    assert scattered.dtype == torch.float32


def test_tfidf_pipeline_trains_on_sparse_features(batches):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    docs = ["good movie", "great film", "bad movie", "awful film", "good great", "bad awful"] * 10
    labels = [1, 1, 0, 0, 1, 0] * 10
    pipe = make_pipeline(TfidfVectorizer(), _clf(max_epochs=40, lr=1e-2, batch_size=16)).fit(docs, labels)
    assert pipe.score(docs, labels) == 1.0
    assert batches and max(_rows(batches)) <= 60


@pytest.mark.gpu
def test_sparse_fit_on_a_gpu_densifies_there_and_matches_the_cpu(sparse_data, batches):
    X, y = sparse_data
    assert sparse.densify_rows(X, slice(0, 7), "cuda").device.type == "cuda"
    on_gpu = _clf(batch_size=32, device="cuda").fit(X, y)
    assert {kind for kind, _ in batches} == {"dense"}
    on_cpu = _clf(batch_size=32).fit(X, y)
    assert max(_rows(batches)) <= 32
    np.testing.assert_allclose(on_gpu.predict_proba(X), on_cpu.predict_proba(X), atol=1e-4)


def test_max_batch_finder_takes_sparse_x(sparse_data):
    X, y = sparse_data
    search = find_max_batch_size(_clf(), X, y, device="cpu")
    assert search.batch_size == 120


def test_fused_search_stacks_sparse_x(sparse_data):
    X, y = sparse_data
    search = FusedGridSearchCV(_clf(), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    assert search.unfused_fits_ == {}
    assert search.fused_stacks_["n_models"].sum() >= 4  # every fold fit, in a stack
    plain = GridSearchCV(_clf(), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"], atol=1e-5)


# -- multilabel y ----------------------------------------------------------------


def test_multilabel_fit_predict_score():
    X, Y = make_multilabel_classification(n_samples=80, n_features=10, n_classes=4, random_state=0)
    clf = _clf(max_epochs=30, lr=1e-2).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    pred = clf.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert not np.allclose(proba.sum(axis=1), 1)  # independent labels, not a softmax
    assert clf.score(X, Y) == np.mean((pred == Y).all(axis=1)) > 0.3


def test_multilabel_early_stopping_scores_subset_accuracy():
    X, Y = make_multilabel_classification(n_samples=100, n_features=10, n_classes=3, random_state=1)
    clf = _clf(early_stopping=True, max_epochs=5).fit(X, Y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0 <= s <= 1 for s in clf.validation_scores_)


def test_multilabel_loss_is_scikit_learns_binary_log_loss():
    rng = np.random.RandomState(0)
    logits, Y = rng.randn(20, 3), rng.randint(0, 2, (20, 3))
    ours = MultilabelLogLoss()(torch.tensor(logits), torch.tensor(Y)).item()
    assert ours == pytest.approx(binary_log_loss(Y, 1 / (1 + np.exp(-logits))), rel=1e-6)


def test_multilabel_warm_start_with_labels_is_refused():
    X, Y = make_multilabel_classification(n_samples=40, n_features=5, n_classes=3, random_state=0)
    clf = _clf(warm_start=True).fit(X, Y)
    with pytest.raises(ValueError, match="fitted on 3 labels"):
        clf.fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        _clf().fit(X, Y * 2 + np.arange(3))


# -- sample_weight ----------------------------------------------------------------


def _full_batch(est):
    return est.set_params(batch_size="full", shuffle=False, max_epochs=4)


@pytest.mark.parametrize("make", [_clf, _reg])
def test_integer_weights_equal_repeated_rows(make):
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 5), rng.randint(0, 3, 30)
    w = rng.randint(0, 4, 30)
    weighted = _full_batch(make()).fit(X, y, sample_weight=w)
    repeated = _full_batch(make()).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-5)
    unweighted = _full_batch(make()).fit(X, y)
    assert not np.allclose(weighted.loss_curve_, unweighted.loss_curve_)


def test_weighted_partial_fit_and_sparse_x(sparse_data):
    X, y = sparse_data
    w = np.r_[np.ones(60), np.zeros(60)]
    est = _full_batch(_clf()).partial_fit(X, y, classes=[0, 1], sample_weight=w)
    alone = _full_batch(_clf()).partial_fit(X[:60], y[:60], classes=[0, 1])
    assert est.loss_ == pytest.approx(alone.loss_, rel=1e-5)


def test_weights_split_with_early_stopping_and_weigh_the_score():
    rng = np.random.RandomState(0)
    X, y = rng.randn(100, 4), rng.randint(0, 2, 100)
    w = rng.uniform(0.1, 2, 100)
    est = _clf(early_stopping=True, validation_fraction=0.5, max_epochs=2).fit(X, y, sample_weight=w)
    # The held-out rows and weights are the split's second half, as fit draws it.
    from sklearn.model_selection import train_test_split

    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    _, X_val, _, y_val, _, w_val = train_test_split(X, y, w, test_size=0.5, stratify=y, random_state=seed)
    # The network kept is the best epoch's, whose weighted accuracy was recorded.
    assert est.best_validation_score_ == pytest.approx(est.score(X_val, y_val, sample_weight=w_val))


def test_sample_weight_errors():
    X, y = np.random.RandomState(0).randn(10, 3), np.arange(10) % 2
    with pytest.raises(ValueError, match="[Nn]egative"):
        _clf().fit(X, y, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="sample_weight"):
        _clf().fit(X, y, sample_weight=np.ones(9))


def test_cache_keys_the_weights(tmp_path):
    X, y = np.random.RandomState(0).randn(40, 3), np.arange(40) % 2
    w = np.linspace(0.5, 1.5, 40)
    first = _clf(cache_dir=tmp_path).fit(X, y, sample_weight=w)
    again = _clf(cache_dir=tmp_path).fit(X, y, sample_weight=w)
    unweighted = _clf(cache_dir=tmp_path).fit(X, y)
    assert again.fit_time_ == first.fit_time_  # restored
    assert unweighted.loss_ != first.loss_
    assert len(list(tmp_path.rglob("*.json"))) >= 2


# -- loss='poisson' ----------------------------------------------------------------


def test_poisson_deviance_is_scikit_learns():
    rng = np.random.RandomState(0)
    z, y = rng.randn(25, 2), rng.poisson(2.0, (25, 2)).astype(float)
    ours = HalfPoissonDeviance()(torch.tensor(z), torch.tensor(y)).item()
    assert ours == pytest.approx(poisson_loss(y, np.exp(z)), rel=1e-6)


def test_poisson_regressor_predicts_positive_means():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (300, 2))
    y = rng.poisson(np.exp(0.5 + X[:, 0]))
    reg = _reg(loss="poisson", max_epochs=60, lr=1e-2, batch_size=64).fit(X, y)
    pred = reg.predict(X)
    assert (pred > 0).all()
    assert pred.mean() == pytest.approx(y.mean(), rel=0.15)
    squared = _reg(max_epochs=2).fit(X, y)
    assert squared._criterion is torch.nn.MSELoss and reg._criterion is HalfPoissonDeviance


def test_poisson_refuses_negative_y_and_fused_stacks():
    X, y = np.random.RandomState(0).randn(20, 2), np.arange(20.0) - 1
    with pytest.raises(ValueError, match="negative.*loss='poisson'"):
        _reg(loss="poisson").fit(X, y)
    search = FusedGridSearchCV(_reg(loss="poisson"), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, np.abs(y))
    assert list(search.unfused_fits_) == ["loss='poisson' is not the squared error the stack trains with"]


@pytest.mark.slow
def test_poisson_mlp_without_hidden_layer_equals_the_glm():
    # scikit-learn's test_mlp_vs_poisson_glm_equivalent, with adam for its lbfgs:
    # one identity unit makes the network a GLM with a log link.
    from sklearn.linear_model import PoissonRegressor

    rng = np.random.default_rng(42)
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = rng.poisson(np.exp(X.ravel() + 1))
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    mlp = _reg(
        loss="poisson",
        hidden_layer_sizes=(1,),
        activation="identity",
        alpha=0,
        batch_size="full",
        lr=0.05,
        max_epochs=3000,
        tol=0,
        n_iter_no_change=3000,
    ).fit(X, y)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-3)
