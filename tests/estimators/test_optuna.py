"""optuna_integration.OptunaSearchCV with pruning: it drives skbatch estimators through partial_fit, one epoch a call."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from skbatch import MLPClassifier

optuna = pytest.importorskip("optuna")
OptunaSearchCV = pytest.importorskip("optuna_integration").OptunaSearchCV


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning", "ignore::FutureWarning")
def test_pruned_search_scores_each_epoch_as_a_fit_of_that_many_epochs(small_digits):
    X, y = small_digits[0][:200], small_digits[1][:200]
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    net = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, device="cpu")
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    search = OptunaSearchCV(
        net,
        {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)},
        cv=cv,
        enable_pruning=True,
        max_iter=2,
        n_trials=4,
        study=study,
        random_state=0,
        verbose=0,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search.fit(X, y)
    complete = [t for t in search.trials_ if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in search.trials_ if t.state == optuna.trial.TrialState.PRUNED]
    assert len(search.trials_) == 4 and complete and pruned
    trial = search.best_trial_
    # One report per partial_fit epoch; after k calls, the scores of a k-epoch fit.
    assert sorted(trial.intermediate_values) == [0, 1]
    for step, value in trial.intermediate_values.items():
        fit = net.set_params(max_epochs=step + 1, **trial.params)
        np.testing.assert_allclose(value, cross_val_score(fit, X, y, cv=cv).mean(), atol=1e-9)
    assert search.best_estimator_.lr == trial.params["lr"]
