"""Hyperparameter search, as the chapter closes: grid or seeded random search over short training runs.

Every trial trains a fresh TwoLayerNet on the training data less a class-balanced validation split and
is scored on that split; the test set is never seen. Trials are ranked by validation accuracy (then loss).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from numgrad.book.data import stratified_split
from numgrad.book.nets import TwoLayerNet
from numgrad.book.training import DEFAULT_BATCH_SIZE, DEFAULT_HIDDEN, DEFAULT_LR, GRADIENTS, TrainStep, train
from numgrad.common.validate import choice, positive_int, seed_generator, seed_int

__all__ = ["SweepResult", "Trial", "TrialResult", "budget_grid", "grid_trials", "random_trials", "sweep"]

SWEEP_ITERS = 200  # 5 epochs of the embedded training split: enough to rank learning rates, ~1 s each
VALIDATION_FRACTION = 0.2  # of the training data, 20% of each class (800 of the embedded 4,000)
RANDOM_RANGES: dict[str, tuple[float, float]] = {"lr": (0.01, 10.0), "hidden": (10, 100)}
LOG_UNIFORM = frozenset({"lr"})  # learning rates matter by their order of magnitude
SPLIT_STREAM = 2  # the validation split comes from default_rng([seed, 2])


@dataclass(frozen=True)
class Trial:
    """One setting of the hyperparameters."""

    lr: float = DEFAULT_LR
    hidden: int = DEFAULT_HIDDEN
    batch_size: int = DEFAULT_BATCH_SIZE
    iters: int = SWEEP_ITERS

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "iters"):
            positive_int(getattr(self, name), "Trial", name)
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not 0 < self.lr < math.inf:
            raise ValueError(f"Trial: lr must be a positive finite number; got {self.lr!r}")


AXES: tuple[str, ...] = tuple(f.name for f in fields(Trial))


@dataclass(frozen=True)
class TrialResult:
    trial: Trial
    val_acc: float  # accuracy on the validation split after the last iteration
    val_loss: float
    train_acc: float  # on the training data the trial saw
    seconds: float
    number: int = 0  # place in the order the trials ran (Optuna's trial number in a Bayesian search)
    pruned_at: int | None = None  # the iteration a Bayesian search stopped this trial at, if it did


@dataclass(frozen=True)
class SweepResult:
    results: tuple[TrialResult, ...]  # best first
    gradient: str
    seed: int
    n_train: int  # samples trained on
    n_validation: int  # samples scored on

    @property
    def best(self) -> TrialResult:
        return self.results[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _axis(name: str, func: str) -> str:
    if name not in AXES:
        raise ValueError(f"{func}: unknown hyperparameter {name!r}; choose from {', '.join(AXES)}")
    return name


def _trial(values: Mapping[str, float], func: str) -> Trial:
    """A Trial from {axis: value}; counts must be whole numbers."""
    for name, v in values.items():
        whole = not isinstance(v, bool) and isinstance(v, int | float) and v == round(v)
        if _axis(name, func) != "lr" and not whole:
            raise ValueError(f"{func}: {name} must be a whole number; got {v!r}")
    d = Trial()
    return Trial(
        lr=float(values.get("lr", d.lr)), hidden=round(values.get("hidden", d.hidden)),
        batch_size=round(values.get("batch_size", d.batch_size)), iters=round(values.get("iters", d.iters)),
    )  # fmt: skip


def grid_trials(axes: Mapping[str, Sequence[float]]) -> tuple[Trial, ...]:
    """Every combination of the given values; axes not given keep their defaults.

    Examples
    --------
    >>> [(t.lr, t.hidden) for t in grid_trials({"lr": [0.1, 1.0], "hidden": [20]})]
    [(0.1, 20), (1.0, 20)]
    """
    names = [_axis(name, "grid_trials") for name in axes]
    if any(len(axes[n]) == 0 for n in names):
        raise ValueError("grid_trials: every axis needs at least one value")
    combos = itertools.product(*(axes[n] for n in names))
    return tuple(_trial(dict(zip(names, combo, strict=True)), "grid_trials") for combo in combos)


def random_trials(
    n: int, *, ranges: Mapping[str, tuple[float, float]] | None = None, seed: int | None = None
) -> tuple[Trial, ...]:
    """`n` trials drawn uniformly from `ranges` (log-uniformly for lr; integers rounded), seeded.

    Default ranges: lr in [0.01, 10], hidden in [10, 100].

    Examples
    --------
    >>> len(random_trials(3, seed=0))
    3
    """
    count = positive_int(n, "random_trials", "n")
    spans = check_ranges(RANDOM_RANGES if ranges is None else ranges, "random_trials")
    rng = seed_generator(seed, "random_trials")

    def draw(name: str, lo: float, hi: float) -> float | int:
        if name in LOG_UNIFORM:
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        return int(rng.integers(round(lo), round(hi) + 1))

    return tuple(
        _trial({k: draw(k, *span) for k, span in spans.items()}, "random_trials") for _ in range(count)
    )


def sweep(
    x_train: ArrayLike,
    t_train: ArrayLike,
    trials: Sequence[Trial],
    *,
    validation: float = VALIDATION_FRACTION,
    gradient: str = "backprop",
    seed: int = 0,
    callback: Callable[[int, TrainStep], None] | None = None,
) -> SweepResult:
    """Train one net per trial on the training data less a validation split; rank them on that split.

    Parameters
    ----------
    x_train, t_train : array_like
        Training images (N, D) and labels (N,) or one-hot rows (N, C). The test set does not belong here.
    trials : sequence of Trial
    validation : float
        Share of each class held out for scoring.
    gradient : {"backprop", "numerical"}
        Backprop by default: it agrees with the numerical gradient to ~1e-10, so the ranking is the same,
        in a small fraction of the time.
    seed : int
        Seeds the split, every net's initial weights and every trial's batches (the same for all trials).
    callback : callable, optional
        ``callback(trial_index, step)`` after every training iteration.

    Returns
    -------
    SweepResult
        Trials ranked by validation accuracy, then validation loss.
    """
    if not trials or not all(isinstance(t, Trial) for t in trials):
        raise TypeError(
            "sweep: trials must be a non-empty sequence of Trial (see grid_trials, random_trials)"
        )
    how = choice(gradient, GRADIENTS, "sweep", "gradient")
    seed = seed_int(seed, "sweep")
    data = split_data(x_train, t_train, validation, seed)

    def reporter(index: int) -> Callable[[TwoLayerNet, TrainStep], None] | None:
        return None if callback is None else (lambda net, step: callback(index, step))

    results = [
        run_trial(trial, data, gradient=how, seed=seed, number=i, on_step=reporter(i))
        for i, trial in enumerate(trials)
    ]
    return SweepResult(rank(results), how, seed, len(data.x_fit), len(data.x_val))


@dataclass(frozen=True)
class SweepData:
    """The training data split for a sweep: fitted on ``*_fit``, scored on ``*_val``."""

    x_fit: np.ndarray
    t_fit: np.ndarray
    x_val: np.ndarray
    t_val: np.ndarray
    classes: int


def split_data(x_train: ArrayLike, t_train: ArrayLike, validation: float, seed: int) -> SweepData:
    """The class-balanced validation split every search method scores on (from ``default_rng([seed, 2])``)."""
    seed = seed_int(seed, "sweep")
    if isinstance(validation, bool) or not isinstance(validation, int | float) or not 0 < validation < 1:
        raise ValueError(f"sweep: validation must be a fraction in (0, 1); got {validation!r}")
    x, t = np.asarray(x_train), np.asarray(t_train)
    classes = t.shape[1] if t.ndim == 2 else int(np.max(t)) + 1
    (x_fit, t_fit), (x_val, t_val) = stratified_split(
        x, t, validation, rng=np.random.default_rng([seed, SPLIT_STREAM])
    )
    if len(x_val) == 0 or len(x_fit) == 0:  # train() would say "x_test must be (N, 784) with N > 0"
        raise ValueError(
            f"sweep: validation={validation!r} of {len(x)} training samples leaves {len(x_val)} to validate "
            f"on and {len(x_fit)} to train on; each needs at least one: give a fraction nearer 0.5"
        )
    return SweepData(x_fit, t_fit, x_val, t_val, classes)


def run_trial(
    trial: Trial,
    data: SweepData,
    *,
    gradient: str,
    seed: int,
    number: int,
    on_step: Callable[[TwoLayerNet, TrainStep], None] | None = None,
) -> TrialResult:
    """Train a fresh net for one trial and score it on the validation split.

    ``on_step(net, step)`` runs after every iteration; an exception it raises stops the trial.
    """
    start = time.perf_counter()
    net = TwoLayerNet(data.x_fit.shape[1], trial.hidden, data.classes, seed=seed)
    report = None if on_step is None else (lambda step: on_step(net, step))
    h = train(
        net, data.x_fit, data.t_fit, data.x_val, data.t_val, iters=trial.iters, batch_size=trial.batch_size,
        lr=trial.lr, gradient=gradient, seed=seed, callback=report,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return TrialResult(trial, h.test_acc[-1], h.test_loss[-1], h.train_acc[-1], seconds, number)


def rank(results: Sequence[TrialResult]) -> tuple[TrialResult, ...]:
    """Finished trials first, then pruned ones; each by validation accuracy, then validation loss."""
    return tuple(
        sorted(
            results,
            key=lambda r: (
                r.pruned_at is not None, -r.val_acc, r.val_loss if math.isfinite(r.val_loss) else math.inf
            ),
        )
    )


def budget_grid(budget: int, ranges: Mapping[str, tuple[float, float]] | None = None) -> tuple[Trial, ...]:
    """A grid of at most `budget` trials spread over `ranges` (lr log-spaced, counts evenly spaced).

    The axes take turns gaining a value while the product stays within the budget, so 20 trials over lr
    and hidden is a 5 × 4 grid.

    Examples
    --------
    >>> len(budget_grid(20)), sorted({t.hidden for t in budget_grid(20)})
    (20, [10, 40, 70, 100])
    """
    count = positive_int(budget, "budget_grid", "budget")
    spans = check_ranges(RANDOM_RANGES if ranges is None else ranges, "budget_grid")
    sizes = dict.fromkeys(spans, 1)
    most = {n: count if n in LOG_UNIFORM else round(hi) - round(lo) + 1 for n, (lo, hi) in spans.items()}
    grown = True
    while grown:
        grown = False
        for name in sorted(spans, key=lambda n: sizes[n]):
            if sizes[name] < most[name] and math.prod({**sizes, name: sizes[name] + 1}.values()) <= count:
                sizes[name] += 1
                grown = True
                break
    axes: dict[str, list[float]] = {}
    for name, (lo, hi) in spans.items():
        if name in LOG_UNIFORM:
            axes[name] = [float(v) for v in np.geomspace(lo, hi, sizes[name])]
        else:
            axes[name] = sorted({round(v) for v in np.linspace(lo, hi, sizes[name])})
    return grid_trials(axes)


def check_ranges(
    ranges: Mapping[str, tuple[float, float]], func: str
) -> dict[str, tuple[float, float]]:
    """Each axis known, each range non-empty: 0 < low <= high for lr, 1 <= low <= high for counts."""
    spans = dict(ranges)
    if not spans:
        raise ValueError(f"{func}: ranges must name at least one axis; choose from {', '.join(AXES)}")
    for name, span in spans.items():
        least = "0 <" if _axis(name, func) in LOG_UNIFORM else "1 <="  # lr > 0; others are counts
        lo, hi = span
        if not (0 < lo <= hi < math.inf and (least == "0 <" or lo >= 1)):
            raise ValueError(f"{func}: range of {name} must be {least} low <= high; got ({lo}, {hi})")
    return spans
