"""The chapter's three ways to tune hyperparameters behind one call: listed trials (a grid, a random
draw) or a Bayesian search, and the three side by side at the same budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from numpy.typing import ArrayLike

from numgrad.book import tuning
from numgrad.book.bayes import bayes_sweep
from numgrad.book.training import TrainStep
from numgrad.book.tuning import (
    RANDOM_RANGES,
    VALIDATION_FRACTION,
    SweepResult,
    Trial,
    budget_grid,
    check_ranges,
    random_trials,
)
from numgrad.common.validate import choice, positive_int

__all__ = ["COMPARE_BUDGET", "SEARCHES", "SearchComparison", "best_so_far", "compare_searches", "sweep"]

SEARCHES = ("listed", "bayes")
COMPARE_BUDGET = 20  # trials per method in `numgrad sweep --compare`: a 5 x 4 grid over lr and hidden
METHODS = ("grid", "random", "bayes")


def sweep(
    x_train: ArrayLike,
    t_train: ArrayLike,
    trials: Sequence[Trial] | int,
    *,
    search: str = "listed",
    ranges: Mapping[str, tuple[float, float]] | None = None,
    base: Trial | None = None,
    storage: str | None = None,
    study: str | None = None,
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
    trials : sequence of Trial, or int
        The trials to run (``search="listed"``: from :func:`grid_trials` or :func:`random_trials`), or how
        many trials a Bayesian search should finish (``search="bayes"``).
    search : {"listed", "bayes"}
        ``"bayes"``: Optuna's TPE sampler, seeded, with median pruning (needs ``numgrad[tune]``).
    ranges, base, storage, study
        Bayesian search only: the ranges searched (as :func:`random_trials`), the values of the other
        axes, and where the study is kept (a SQLAlchemy URL, ``sqlite:///sweep.db`` by default, and a
        name): a stopped run continues, and processes on one study share it.
    validation, gradient, seed, callback
        As in :func:`numgrad.book.tuning.sweep`.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import numgrad
    >>> (x, t), _ = numgrad.load_mnist()
    >>> result = sweep(x[:400], t[:400], 4, search="bayes", base=Trial(iters=20), seed=0)  # doctest: +SKIP
    """
    how = choice(search, SEARCHES, "sweep", "search")
    if how == "bayes":
        if isinstance(trials, bool) or not isinstance(trials, int):
            kind = type(trials).__name__
            raise TypeError(f"sweep: with search='bayes', trials is a number of trials; got {kind}")
        return bayes_sweep(
            x_train, t_train, trials, ranges=ranges, base=base, storage=storage, study=study,
            validation=validation, gradient=gradient, seed=seed, callback=callback,
        )  # fmt: skip
    given = {"ranges": ranges, "base": base, "storage": storage, "study": study}
    if extra := [k for k, v in given.items() if v is not None]:
        raise ValueError(f"sweep: {', '.join(extra)} go with search='bayes'; got them with search='listed'")
    if isinstance(trials, int):
        raise TypeError("sweep: a number of trials needs search='bayes'; else pass a sequence of Trial")
    return tuning.sweep(
        x_train, t_train, trials, validation=validation, gradient=gradient, seed=seed, callback=callback
    )


@dataclass(frozen=True)
class SearchComparison:
    """Grid, random and Bayesian search at the same budget, on the same split, nets and batches."""

    budget: int
    grid: SweepResult
    random: SweepResult
    bayes: SweepResult

    def curves(self) -> dict[str, tuple[float, ...]]:
        """Best validation accuracy after each trial, in the order the trials ran, per method."""
        return {m: best_so_far(getattr(self, m)) for m in METHODS}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "curves": self.curves()}


def best_so_far(result: SweepResult) -> tuple[float, ...]:
    """The running best validation accuracy over the trials in the order they ran; a pruned trial adds
    nothing (its accuracy is from part of a run). NaN until the first trial finishes."""
    best, out = -math.inf, []
    for r in sorted(result.results, key=lambda r: r.number):
        if r.pruned_at is None:
            best = max(best, r.val_acc)
        out.append(best if best > -math.inf else math.nan)
    return tuple(out)


def compare_searches(
    x_train: ArrayLike,
    t_train: ArrayLike,
    *,
    budget: int = COMPARE_BUDGET,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    base: Trial | None = None,
    validation: float = VALIDATION_FRACTION,
    gradient: str = "backprop",
    seed: int = 0,
    callback: Callable[[str, int, TrainStep], None] | None = None,
) -> SearchComparison:
    """Run a grid (:func:`budget_grid`), a seeded random search and a Bayesian search of `budget` trials
    each over the same ranges; ``callback(method, trial_index, step)`` after every iteration.

    The grid may hold fewer than `budget` trials when a count axis has fewer distinct values.
    """
    count = positive_int(budget, "compare_searches", "budget")
    spans = check_ranges(RANDOM_RANGES if ranges is None else ranges, "compare_searches")
    if base is not None and not isinstance(base, Trial):
        raise TypeError(f"compare_searches: base must be a Trial; got {type(base).__name__}")
    fixed = {k: v for k, v in asdict(Trial() if base is None else base).items() if k not in spans}

    def settle(trials: Sequence[Trial]) -> list[Trial]:
        return [Trial(**{**asdict(t), **fixed}) for t in trials]

    def report(method: str) -> Callable[[int, TrainStep], None] | None:
        return None if callback is None else (lambda i, step: callback(method, i, step))

    options: dict[str, Any] = {"validation": validation, "gradient": gradient, "seed": seed}
    gridded = settle(budget_grid(count, spans))
    grid = tuning.sweep(x_train, t_train, gridded, callback=report("grid"), **options)
    drawn = settle(random_trials(count, ranges=spans, seed=seed))
    random = tuning.sweep(x_train, t_train, drawn, callback=report("random"), **options)
    bayes = bayes_sweep(
        x_train, t_train, count, ranges=spans, base=Trial(**fixed), callback=report("bayes"), **options
    )
    return SearchComparison(count, grid, random, bayes)
