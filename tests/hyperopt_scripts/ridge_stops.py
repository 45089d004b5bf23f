"""A hyperopt script for a numpy ridge model: normal priors, failures and every way to stop.

Polynomial ridge regression tuned over ``hp.normal``, ``hp.lognormal`` and ``hp.qnormal``;
points to try first with ``generate_trials_to_calculate`` (one of them fails with
``STATUS_FAIL``); the fitted model returned in the result (hyperopt's "return the model"
pattern) and its coefficients as a bytes attachment; then ``loss_threshold``, ``timeout`` and
``early_stop_fn=no_progress_loss(...)`` each end a search. Only the import lines (each under a
``# hyperopt:`` comment naming hyperopt's) differ from hyperopt code.
"""

import time

import numpy as np

# hyperopt: from hyperopt import STATUS_FAIL, STATUS_OK, Trials, hp, rand, tpe
from asynchpo import STATUS_FAIL, STATUS_OK, Trials, hp, rand, tpe

# hyperopt: from hyperopt import fmin
from asynchpo import fmin_sync as fmin

# hyperopt: from hyperopt.fmin import generate_trials_to_calculate
from asynchpo import generate_trials_to_calculate

# hyperopt: from hyperopt.early_stop import no_progress_loss
from asynchpo import no_progress_loss

data = np.random.default_rng(3)
x = data.uniform(-1, 1, 200)
y = 1 - 2 * x + 3 * x**2 + 0.2 * data.normal(size=200)
x_train, y_train, x_test, y_test = x[:140], y[:140], x[140:], y[140:]


class Ridge:
    def __init__(self, degree, alpha, scale):
        self.degree, self.alpha, self.scale = degree, alpha, scale

    def features(self, x):
        return np.vander(x * self.scale, self.degree + 1, increasing=True)

    def fit(self, x, y):
        A = self.features(x)
        self.coef = np.linalg.solve(A.T @ A + self.alpha * np.eye(self.degree + 1), A.T @ y)
        return self

    def predict(self, x):
        return self.features(x) @ self.coef


space = {
    "log_alpha": hp.normal("log_alpha", -2, 3),
    "scale": hp.lognormal("scale", 0, 0.5),
    "degree": hp.qnormal("degree", 2, 1, 1),
}


def objective(params):
    degree = int(params["degree"])
    if not 1 <= degree <= 4:
        return {"status": STATUS_FAIL, "why": f"degree {degree} is out of range"}
    model = Ridge(degree, np.exp(params["log_alpha"]), params["scale"]).fit(x_train, y_train)
    mse = float(np.mean((model.predict(x_test) - y_test) ** 2))
    return {
        "loss": mse,
        "status": STATUS_OK,
        "model": model,
        "attachments": {"coef": model.coef.tobytes()},
    }


# 1. Points first, one of them failing; the fitted model and the attachment come back.
points = [
    {"log_alpha": -3.0, "scale": 1.0, "degree": 2.0},
    {"log_alpha": 0.0, "scale": 1.0, "degree": 7.0},
]
trials = generate_trials_to_calculate(points)
best = fmin(
    objective,
    space,
    algo=tpe.suggest,
    max_evals=12,
    trials=trials,
    rstate=np.random.default_rng(0),
    show_progressbar=False,
)
# hyperopt runs 14 (max_evals new trials on top of the two points), this port 12 (they count
# toward max_evals): see the porting table's generate_trials_to_calculate row.
assert len(trials.trials) >= 12
assert trials.trials[0]["misc"]["vals"] == {"log_alpha": [-3.0], "scale": [1.0], "degree": [2.0]}
assert trials.statuses()[1] == "fail"
assert trials.losses()[1] is None
assert trials.results[1]["why"] == "degree 7 is out of range"
assert set(trials.statuses()) <= {"ok", "fail"}
model = trials.best_trial["result"]["model"]
assert isinstance(model, Ridge), type(model)
coef = np.frombuffer(trials.trial_attachments(trials.best_trial)["coef"])
assert np.array_equal(coef, model.coef)
ok_losses = [loss for loss in trials.losses() if loss is not None]
assert min(ok_losses) == trials.best_trial["result"]["loss"]
print("best:", best, "loss", min(ok_losses))

# 2. loss_threshold: the first point is good enough, so the search stops at once.
trials = generate_trials_to_calculate(points[:1])
fmin(
    objective,
    space,
    algo=rand.suggest,
    max_evals=200,
    trials=trials,
    loss_threshold=1.0,
    rstate=np.random.default_rng(1),
    show_progressbar=False,
)
assert len(trials.trials) == 1, len(trials.trials)
assert trials.losses()[0] <= 1.0


# 3. timeout: a slow objective that never fails; the tutorial's min(trials.losses()) works.
def slow(params):
    time.sleep(0.05)
    return (params["log_alpha"] + 2) ** 2


trials = Trials()
started = time.monotonic()
fmin(
    slow,
    space,
    algo=tpe.suggest,
    max_evals=10_000,
    trials=trials,
    timeout=1,
    rstate=np.random.default_rng(2),
    show_progressbar=False,
)
assert time.monotonic() - started < 10
assert 1 <= len(trials.trials) < 10_000
assert set(trials.statuses()) == {"ok"}, trials.statuses()
print(f"timeout: {len(trials.trials)} trials, best {min(trials.losses()):.4f}")

# 4. early_stop_fn: no progress for 5 trials ends the search.
trials = Trials()
fmin(
    lambda params: 1.0,
    space,
    algo=rand.suggest,
    max_evals=500,
    trials=trials,
    early_stop_fn=no_progress_loss(5),
    rstate=np.random.default_rng(3),
    show_progressbar=False,
)
assert len(trials.trials) < 500
print(f"early stop: {len(trials.trials)} trials")
