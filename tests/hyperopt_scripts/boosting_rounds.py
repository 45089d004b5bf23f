"""A hyperopt script that grows one pickled ``Trials`` in rounds ("run 8 more").

Gradient-boosted stumps in numpy, tuned over ``pchoice``, ``qloguniform``, ``scope.int`` and
``10 ** hp.uniform(...)`` with ``mix.suggest`` (random, annealing and TPE mixed); the space is
sampled first with ``sample``; each round loads the pickled ``Trials``, asks for 8 more
evaluations with the same ``rstate`` generator, then once more with a new seed, and pickles it
again. Only the import lines (each under a ``# hyperopt:`` comment naming hyperopt's) differ.
"""

import math
import os
import pickle
import tempfile
from functools import partial

import numpy as np

# hyperopt: from hyperopt import STATUS_OK, Trials, anneal, hp, mix, rand, space_eval, tpe
from asynchpo import STATUS_OK, Trials, anneal, hp, mix, rand, space_eval, tpe

# hyperopt: from hyperopt import fmin
from asynchpo import fmin_sync as fmin

# hyperopt: from hyperopt.pyll import scope
from asynchpo import scope

# hyperopt: from hyperopt.pyll.stochastic import sample
from asynchpo import sample

data = np.random.default_rng(1)
X = data.uniform(-2, 2, size=(240, 3))
y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * data.normal(size=240)
X_train, y_train, X_test, y_test = X[:160], y[:160], X[160:], y[160:]
THRESHOLDS = np.quantile(X_train, np.linspace(0.1, 0.9, 9), axis=0)  # (9, 3)


def boost(n_estimators, learning_rate, loss, min_leaf, l2):
    prediction = np.full(len(y_train), y_train.mean())
    test_prediction = np.full(len(y_test), y_train.mean())
    for _ in range(n_estimators):
        residual = y_train - prediction
        if loss == "absolute":
            residual = np.sign(residual)
        left = X_train[:, None, :] <= THRESHOLDS[None]  # (n, 9, 3)
        n_left = left.sum(axis=0)
        n_right = len(y_train) - n_left
        sum_left = np.einsum("n,ntf->tf", residual, left)
        sum_right = residual.sum() - sum_left
        gain = sum_left**2 / (n_left + l2) + sum_right**2 / (n_right + l2)
        gain[(n_left < min_leaf) | (n_right < min_leaf)] = -np.inf
        t, f = np.unravel_index(np.argmax(gain), gain.shape)
        value_left = sum_left[t, f] / (n_left[t, f] + l2)
        value_right = sum_right[t, f] / (n_right[t, f] + l2)
        prediction += learning_rate * np.where(left[:, t, f], value_left, value_right)
        test_prediction += learning_rate * np.where(
            X_test[:, f] <= THRESHOLDS[t, f], value_left, value_right
        )
    return float(np.mean((test_prediction - y_test) ** 2))


space = {
    "n_estimators": scope.int(hp.qloguniform("n_estimators", math.log(10), math.log(120), 10)),
    "learning_rate": 10 ** hp.uniform("learning_rate_exp", -3, 0),
    "loss": hp.pchoice("loss", [(0.7, "squared"), (0.3, "absolute")]),
    "min_leaf": scope.int(hp.quniform("min_leaf", 1, 20, 1)),
    "l2": hp.loguniform("l2", math.log(1e-3), math.log(10)),
}

# Look at what the space gives before searching it.
for seed in range(5):
    point = sample(space, rng=np.random.default_rng(seed))
    assert isinstance(point["n_estimators"], int)
    assert 10 <= point["n_estimators"] <= 120
    assert point["n_estimators"] % 10 == 0
    assert 1e-3 <= point["learning_rate"] <= 1
    assert point["loss"] in ("squared", "absolute")
    assert isinstance(point["min_leaf"], int)
print("a sample:", point)


def objective(params):
    mse = boost(**params)
    return {"loss": mse, "status": STATUS_OK, "n_estimators": params["n_estimators"]}


algo = partial(
    mix.suggest, p_suggest=[(0.2, rand.suggest), (0.3, anneal.suggest), (0.5, tpe.suggest)]
)
path = os.path.join(tempfile.mkdtemp(), "trials.pkl")
rstate = np.random.default_rng(7)  # one generator for every round
for round_seed in (None, None, 123):
    try:
        with open(path, "rb") as f:
            trials = pickle.load(f)
    except FileNotFoundError:
        trials = Trials()
    max_evals = len(trials.trials) + 8
    best = fmin(
        objective,
        space,
        algo=algo,
        max_evals=max_evals,
        trials=trials,
        rstate=rstate if round_seed is None else np.random.default_rng(round_seed),
        show_progressbar=False,
    )
    with open(path, "wb") as f:
        pickle.dump(trials, f)
    assert len(trials.trials) == max_evals, (len(trials.trials), max_evals)
    assert [t["tid"] for t in trials.trials] == list(range(max_evals))
    print(f"{len(trials.trials)} trials, best loss {min(trials.losses()):.4f}")

params = space_eval(space, best)
print("best:", params)
assert len(trials.trials) == 24
assert trials.statuses() == ["ok"] * 24
assert 10 ** best["learning_rate_exp"] == params["learning_rate"]
assert isinstance(params["n_estimators"], int)
assert min(trials.losses()) == trials.best_trial["result"]["loss"]
assert min(trials.losses()) < float(np.var(y_test)), "the best model beats the mean"
