"""hyperopt's classic tutorial: choose a classifier and its hyperparameters in one search.

A nested ``hp.choice`` of four classifiers (k-nearest neighbours, nearest centroid, logistic
regression and a ridge classifier, in numpy), each with its own parameters, on a synthetic
"digits" set; ``Trials``, ``space_eval`` and extra result keys, as a hyperopt user writes them.
Only the import lines (each under a ``# hyperopt:`` comment naming hyperopt's) differ
from hyperopt code.
"""

import numpy as np

# hyperopt: from hyperopt import STATUS_OK, Trials, hp, space_eval, tpe
from asynchpo import STATUS_OK, Trials, hp, space_eval, tpe

# hyperopt: from hyperopt.pyll import scope
from asynchpo import scope

# hyperopt: from hyperopt import fmin
from asynchpo import fmin_sync as fmin

data = np.random.default_rng(0)
CENTERS = data.normal(0, 1.5, size=(4, 8))
y = data.integers(0, 4, 320)
X = CENTERS[y] + data.normal(0, 1.5, size=(320, 8))
X_train, y_train, X_test, y_test = X[:220], y[:220], X[220:], y[220:]


def knn(k, weights):
    distances = np.linalg.norm(X_test[:, None, :] - X_train[None, :, :], axis=2)
    nearest = np.argsort(distances, axis=1)[:, :k]
    votes = np.zeros((len(X_test), 4))
    for row, neighbours in enumerate(nearest):
        w = 1 / (distances[row, neighbours] + 1e-9) if weights == "distance" else np.ones(k)
        np.add.at(votes[row], y_train[neighbours], w)
    return votes.argmax(axis=1)


def nearest_centroid(shrink):
    centroids = np.stack([X_train[y_train == c].mean(axis=0) for c in range(4)])
    centroids = (1 - shrink) * centroids + shrink * X_train.mean(axis=0)
    return np.linalg.norm(X_test[:, None] - centroids[None], axis=2).argmin(axis=1)


def logistic_regression(C, steps):
    W = np.zeros((8, 4))
    onehot = np.eye(4)[y_train]
    for _ in range(steps):
        logits = X_train @ W
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        W -= 0.1 * (X_train.T @ (p - onehot) / len(X_train) + W / (C * len(X_train)))
    return (X_test @ W).argmax(axis=1)


def ridge_classifier(alpha):
    onehot = np.eye(4)[y_train]
    W = np.linalg.solve(X_train.T @ X_train + alpha * np.eye(8), X_train.T @ onehot)
    return (X_test @ W).argmax(axis=1)


space = hp.choice(
    "classifier",
    [
        {
            "type": "knn",
            "k": scope.int(hp.quniform("knn_k", 1, 25, 1)),
            "weights": hp.choice("knn_weights", ["uniform", "distance"]),
        },
        {"type": "centroid", "shrink": hp.uniform("centroid_shrink", 0, 1)},
        {
            "type": "logreg",
            "C": hp.loguniform("logreg_C", np.log(1e-3), np.log(1e2)),
            "steps": hp.choice("logreg_steps", [20, 60]),
        },
        {"type": "ridge", "alpha": hp.lognormal("ridge_alpha", 0, 1)},
    ],
)


def objective(params):
    kind = params.pop("type")
    predict = {
        "knn": knn,
        "centroid": nearest_centroid,
        "logreg": logistic_regression,
        "ridge": ridge_classifier,
    }[kind]
    accuracy = float((predict(**params) == y_test).mean())
    return {"loss": -accuracy, "status": STATUS_OK, "accuracy": accuracy, "model": kind}


trials = Trials()
best = fmin(
    objective,
    space,
    algo=tpe.suggest,
    max_evals=40,
    trials=trials,
    rstate=np.random.default_rng(42),
    show_progressbar=False,
)
params = space_eval(space, best)
print("best:", best)
print("parameters:", params)

assert best["classifier"] in (0, 1, 2, 3)  # the argmin holds the option's index
assert params["type"] == ["knn", "centroid", "logreg", "ridge"][best["classifier"]]
if params["type"] == "knn":
    assert isinstance(params["k"], int)
    assert 1 <= params["k"] <= 25
assert len(trials.trials) == len(trials) == 40
assert trials.statuses() == ["ok"] * 40
assert min(trials.losses()) == trials.best_trial["result"]["loss"]
assert trials.best_trial["result"]["accuracy"] == -min(trials.losses())
assert trials.best_trial["result"]["model"] == params["type"]
assert -min(trials.losses()) > 0.5, "a search this size finds a classifier better than chance"
for trial in trials.trials:
    vals = trial["misc"]["vals"]
    chosen = vals["classifier"][0]
    # Only the chosen branch's labels have a value; the others are empty lists.
    assert (vals["knn_k"] != []) == (chosen == 0)
    assert (vals["centroid_shrink"] != []) == (chosen == 1)
    assert (vals["logreg_C"] != []) == (chosen == 2)
    assert (vals["ridge_alpha"] != []) == (chosen == 3)
    assert trial["misc"]["idxs"]["classifier"] == [trial["tid"]]
print("accuracy:", trials.best_trial["result"]["accuracy"])
