"""A small training script, in numpy only: the program ``examples/tune_script.py`` tunes.

    python examples/train_mlp.py --lr 0.1 --hidden 32 --epochs 20

It trains a two-layer MLP (ReLU, one logistic output) with mini-batch SGD, momentum and weight
decay on a synthetic binary classification task: points in 10 dimensions labelled by a random
two-layer "teacher" network, with label noise. The data set comes from a fixed seed, so every
trial sees the same data; ``--seed`` sets only the initial weights.

It prints a progress line per epoch, then the epoch's validation loss as a report line,
``{"step": 3, "loss": 0.42}`` (which a pruner reads to stop a bad run early, see
``examples/prune_script.py``), and, as its last line of stdout, the validation loss as a JSON
object: ``{"loss": 0.31, "accuracy": 0.87, ...}``. That line is all it takes for
``asynchpo.Command`` to read the trial's result. A run that diverges reports
``{"loss": null, "status": "fail", "error": ...}``: a failed trial, not a crash.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

DATA_SEED = 20240611
DIM = 10


def make_data(n_train: int = 2000, n_val: int = 1000) -> tuple[Array, Array, Array, Array]:
    """Inputs and 0/1 labels from a random teacher network, split into train and validation."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.normal(size=(n_train + n_val, DIM))
    teacher_in = rng.normal(size=(DIM, 16))
    teacher_out = rng.normal(size=16)
    score = np.tanh(x @ teacher_in) @ teacher_out
    y = (score + 0.5 * rng.normal(size=len(x)) > 0).astype(np.float64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def log_loss(logits: Array, y: Array) -> float:
    """The mean binary cross-entropy, computed from logits without overflow."""
    return float(np.mean(np.logaddexp(0.0, logits) - y * logits))


class MLP:
    """``x -> relu(x @ w1 + b1) @ w2 + b2``: the logit of class 1."""

    def __init__(self, hidden: int, rng: np.random.Generator) -> None:
        self.w1 = rng.normal(scale=np.sqrt(2.0 / DIM), size=(DIM, hidden))
        self.b1 = np.zeros(hidden)
        self.w2 = rng.normal(scale=np.sqrt(1.0 / hidden), size=hidden)
        self.b2 = np.zeros(1)
        self.velocity = [np.zeros_like(p) for p in self.params]

    @property
    def params(self) -> list[Array]:
        return [self.w1, self.b1, self.w2, self.b2]

    def logits(self, x: Array) -> Array:
        return np.asarray(np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2)

    def step(self, x: Array, y: Array, lr: float, momentum: float, weight_decay: float) -> None:
        """One SGD step with momentum on the batch ``(x, y)``; updates the weights in place."""
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        logits = hidden @ self.w2 + self.b2
        probability = 0.5 * (1.0 + np.tanh(0.5 * logits))  # the sigmoid, without overflow
        d_logits = (probability - y) / len(y)  # d(log loss)/d(logits)
        d_hidden = np.outer(d_logits, self.w2) * (hidden > 0)
        grads = [
            x.T @ d_hidden + weight_decay * self.w1,
            d_hidden.sum(axis=0),
            hidden.T @ d_logits + weight_decay * self.w2,
            np.array([d_logits.sum()]),
        ]
        for param, velocity, grad in zip(self.params, self.velocity, grads, strict=True):
            velocity *= momentum
            velocity -= lr * grad
            param += velocity


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a two-layer MLP on synthetic data.")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    args = parser.parse_args()

    started = time.perf_counter()
    x_train, y_train, x_val, y_val = make_data()
    rng = np.random.default_rng(args.seed)
    model = MLP(args.hidden, rng)
    val_loss = accuracy = float("nan")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            model.step(x_train[batch], y_train[batch], args.lr, args.momentum, args.weight_decay)
        train_loss = log_loss(model.logits(x_train), y_train)
        val_logits = model.logits(x_val)
        val_loss = log_loss(val_logits, y_val)
        accuracy = float(np.mean((val_logits > 0) == (y_val > 0.5)))
        if not np.isfinite(train_loss):
            print(json.dumps({"loss": None, "status": "fail", "error": f"diverged at {epoch=}"}))
            return
        print(
            f"epoch {epoch:>3}/{args.epochs}  train_loss {train_loss:.4f}  "
            f"val_loss {val_loss:.4f}  val_accuracy {accuracy:.3f}",
        )
        print(json.dumps({"step": epoch, "loss": val_loss}), flush=True)
    seconds = round(time.perf_counter() - started, 3)
    print(json.dumps({"loss": val_loss, "accuracy": accuracy, "seconds": seconds}))


if __name__ == "__main__":
    main()
