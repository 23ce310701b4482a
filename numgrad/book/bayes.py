"""Bayesian hyperparameter search: Optuna's TPE sampler and median pruner, studies kept in a database.

The same axes and ranges as random search (lr log-uniform, counts uniform), the same class-balanced
validation split. A trial reports its validation accuracy at fixed iterations while it trains, and the
pruner stops one that is behind the median of the others there. With a storage (any SQLAlchemy URL,
``sqlite:///sweep.db`` by default) every finished trial is a row in a database: a run that is stopped
continues where it was, and processes pointed at one study share its trials. Optuna (the extra
``numgrad[tune]``) is imported in this module only, and only when a search runs.
"""

from __future__ import annotations

import collections
import hashlib
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from numgrad.book.nets import TwoLayerNet
from numgrad.book.training import GRADIENTS, TrainStep
from numgrad.book.tuning import (
    LOG_UNIFORM,
    RANDOM_RANGES,
    VALIDATION_FRACTION,
    SweepData,
    SweepResult,
    Trial,
    TrialResult,
    check_ranges,
    rank,
    run_trial,
    split_data,
)
from numgrad.common.extras import require
from numgrad.common.validate import choice, positive_int

if TYPE_CHECKING:
    import optuna

__all__ = ["DEFAULT_STORAGE", "DEFAULT_STUDY", "INSTALL", "bayes_sweep", "quiet_optuna", "require_optuna"]

DEFAULT_STORAGE = "sqlite:///sweep.db"  # a file beside the run: nothing to set up
DEFAULT_STUDY = "numgrad-sweep"
INSTALL = "pip install 'numgrad[tune]'"
STARTUP_TRIALS = 5  # random trials before TPE models the scores and the pruner judges: 1/4 of 20 trials
PRUNE_CHECKS = 8  # validation scores a trial reports, at the same iterations in every trial
HEARTBEAT_S = 1  # a running trial writes that it is alive this often ...
GRACE_S = 4  # ... and one silent this long belongs to a killed process: it is failed and queued again
RETRIES = 2  # times a killed trial is queued again
OPEN_ATTEMPTS = 2  # a second try, for the process that lost the race to create a new database's tables
RACE_MARKS = ("already exists", "locked", "UNIQUE constraint", "duplicate key")
SQLITE_WAIT_S = 30  # processes sharing a SQLite file wait this long for its write lock
CONFIG = "numgrad"  # the study attribute that records what the study searches, on what data
RESULT = "result"  # the trial attribute with its scores, written before the trial is marked finished


class _SurplusError(Exception):
    """The study already has its trials: another process claimed the last one first."""


def require_optuna(func: str) -> None:
    """Raise ImportError (one line, naming the extra numgrad[tune]) when Optuna is missing."""
    require("optuna", needed_by=func)


def quiet_optuna() -> None:
    """Optuna's log lines off (a line per trial, a traceback per failed one): a command prints its own
    table, and its own one line for an interrupted run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def bayes_sweep(
    x_train: ArrayLike,
    t_train: ArrayLike,
    trials: int,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    base: Trial | None = None,
    storage: str | None = None,
    study: str | None = None,
    validation: float = VALIDATION_FRACTION,
    gradient: str = "backprop",
    seed: int = 0,
    callback: Callable[[int, TrainStep], None] | None = None,
) -> SweepResult:
    """`trials` trials chosen by Optuna's TPE sampler (seeded), pruned by the median rule, ranked.

    Parameters
    ----------
    x_train, t_train : array_like
        Training images (N, D) and labels (N,) or one-hot rows (N, C); a validation split is held out.
    trials : int
        Trials the study should have finished (completed or pruned), counting earlier runs of it.
    ranges : mapping, optional
        ``{axis: (low, high)}`` searched; default lr in [0.01, 10] (log), hidden in [10, 100].
    base : Trial, optional
        Values of the axes not searched (default ``Trial()``).
    storage, study : str, optional
        A SQLAlchemy URL and a study name; either one alone takes the default of the other
        (``sqlite:///sweep.db``, ``numgrad-sweep``). Neither: the study lives in memory.
    validation, gradient, seed, callback
        As in :func:`numgrad.book.tuning.sweep`; ``callback(trial_number, step)``.

    Returns
    -------
    SweepResult
        Every finished trial of the study, completed ones first, by validation accuracy.

    Raises
    ------
    ImportError
        Without Optuna (install ``numgrad[tune]``).
    ValueError
        Unknown axis, empty range, a storage that cannot be opened, or a study made with other settings.
    """
    count = positive_int(trials, "sweep", "trials")
    how = choice(gradient, GRADIENTS, "sweep", "gradient")
    spans = check_ranges(RANDOM_RANGES if ranges is None else ranges, "sweep")
    if base is not None and not isinstance(base, Trial):
        raise TypeError(f"sweep: base must be a Trial; got {type(base).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"sweep: callback must be callable or None; got {type(callback).__name__}")
    fixed = Trial() if base is None else base
    data = split_data(x_train, t_train, validation, seed)
    asked = storage is not None or study is not None
    where = (storage or DEFAULT_STORAGE, study or DEFAULT_STUDY) if asked else None
    require_optuna("sweep")
    import optuna

    config = {
        "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in spans.items()},
        "base": {k: v for k, v in asdict(fixed).items() if k not in spans},
        "gradient": how, "validation": float(validation), "seed": seed,
        "data": _fingerprint(x_train, t_train),
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        found = _open_study(where, config, seed)
        every = max(1, (round(spans["iters"][0]) if "iters" in spans else fixed.iters) // PRUNE_CHECKS)
        objective = _objective(count, spans, fixed, data, how, seed, every, callback)
        _run(found, count, objective)
        results = [_result(t) for t in found.get_trials(deepcopy=False, states=_finished())]
    return SweepResult(rank(results), how, seed, len(data.x_fit), len(data.x_val))


def _finished() -> tuple[optuna.trial.TrialState, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def _fingerprint(x: ArrayLike, t: ArrayLike) -> str:
    digest = hashlib.sha256()
    for a in (np.asarray(x), np.asarray(t)):
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _seed_of(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _sampler(seed: int) -> optuna.samplers.BaseSampler:
    """TPE seeded afresh for every trial from (seed, trial number): a run repeats, and processes that
    share a study draw different trials (one seed for all would have them draw the same ones)."""
    from optuna.samplers import BaseSampler, TPESampler

    class PerTrialTPE(BaseSampler):
        def __init__(self) -> None:
            self._tpe = TPESampler(seed=_seed_of(seed, 0), n_startup_trials=STARTUP_TRIALS)

        def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            self._tpe = TPESampler(seed=_seed_of(seed, trial.number), n_startup_trials=STARTUP_TRIALS)
            self._tpe.before_trial(study, trial)

        def infer_relative_search_space(
            self, study: optuna.Study, trial: optuna.trial.FrozenTrial
        ) -> dict[str, optuna.distributions.BaseDistribution]:
            return self._tpe.infer_relative_search_space(study, trial)

        def sample_relative(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            search_space: dict[str, optuna.distributions.BaseDistribution],
        ) -> dict[str, Any]:
            return self._tpe.sample_relative(study, trial, search_space)

        def sample_independent(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            param_name: str,
            param_distribution: optuna.distributions.BaseDistribution,
        ) -> Any:
            return self._tpe.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            state: optuna.trial.TrialState,
            values: Sequence[float] | None,
        ) -> None:
            self._tpe.after_trial(study, trial, state, values)

    return PerTrialTPE()


def _storage(url: str) -> optuna.storages.RDBStorage:
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if _in_memory(url):  # each connection its own empty database: the heartbeat thread finds no tables
        raise ValueError(
            f"sweep: storage {url!r} is an in-memory SQLite database, which keeps nothing to resume or "
            f"share; give a file (sqlite:///sweep.db), or leave --storage out for a study in memory"
        )
    engine = {"connect_args": {"timeout": SQLITE_WAIT_S}} if url.startswith("sqlite") else {}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=RETRIES),
            )  # fmt: skip
        except Exception as exc:  # SQLAlchemy's many kinds: bad URL, unknown dialect, missing driver, no file
            text = str(exc).strip()
            raced = any(m in text for m in RACE_MARKS)  # two processes making one new database's tables
            if not raced or attempt + 1 == OPEN_ATTEMPTS:
                reason = text.splitlines()[0] if text else type(exc).__name__
                raise ValueError(f"sweep: storage {url!r} cannot be opened: {reason}") from None
            time.sleep(HEARTBEAT_S)
    raise AssertionError("unreachable")


def _in_memory(url: str) -> bool:
    """Whether a SQLAlchemy URL names an in-memory SQLite database (``sqlite://``, ``sqlite:///``,
    ``sqlite:///:memory:``, with a driver or query string or not)."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+", 1)[0] != "sqlite":
        return False
    path = rest.split("?", 1)[0]
    return path in ("", "/") or path.lstrip("/") == ":memory:" or "mode=memory" in rest


def _spans_text(ranges: Mapping[str, Sequence[float]]) -> str:
    return " ".join(f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in ranges.items())


def _open_study(where: tuple[str, str] | None, config: dict[str, Any], seed: int) -> optuna.Study:
    """The study to run in; one in a database must have been made with the same settings."""
    import optuna

    sampler, pruner = _sampler(seed), optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS)
    if where is None:
        return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    url, name = where
    storage = _storage(url)
    names = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name in names:  # compared before anything is written
        _same_settings(names[name].user_attrs.get(CONFIG), config, name, url, names[name].n_trials)
    found = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", sampler=sampler, pruner=pruner,
        load_if_exists=True,
    )  # fmt: skip
    if CONFIG not in found.user_attrs:
        found.set_user_attr(CONFIG, config)
    _same_settings(found.user_attrs.get(CONFIG), config, name, url, 0)  # a race between two first runs
    return found


def _same_settings(recorded: Any, config: dict[str, Any], name: str, url: str, n_trials: int) -> None:
    where = f"sweep: study {name!r} in {url}"
    if recorded is None:
        if n_trials:
            raise ValueError(f"{where} was not made by numgrad sweep; choose another study name")
        return  # made, then stopped before its settings were written: this run adopts it
    if recorded["ranges"] != config["ranges"]:
        raise ValueError(
            f"{where} was created with other axes ({_spans_text(recorded['ranges'])}); this run asks for "
            f"{_spans_text(config['ranges'])}: use the same ranges or another study name"
        )
    for key, what in (("base", "fixed values"), ("gradient", "gradient"), ("validation", "validation"),
                      ("seed", "seed"), ("data", "training data")):  # fmt: skip
        if recorded.get(key) != config[key]:
            raise ValueError(
                f"{where} was created with other {what} ({recorded.get(key)}); this run has {config[key]}: "
                f"use the same settings or another study name"
            )


def _objective(
    n: int,
    spans: Mapping[str, tuple[float, float]],
    fixed: Trial,
    data: SweepData,
    how: str,
    seed: int,
    every: int,
    callback: Callable[[int, TrainStep], None] | None,
) -> Callable[[optuna.Trial], float]:
    import optuna
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    def objective(trial: optuna.Trial) -> float:
        # The first heartbeat, written here rather than left to Optuna's heartbeat thread, which may not
        # have run yet on a loaded machine: a trial killed after it has its worker and settings but no
        # heartbeat would never turn stale, and every later run would wait for it forever.
        storage = trial.study._storage  # the RDBStorage, behind Optuna's cache
        if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
            storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        if _claimed_before(trial) >= n:
            raise _SurplusError(f"the study has its {n} trials")
        values: dict[str, float] = {
            k: trial.suggest_float(k, lo, hi, log=True) if k in LOG_UNIFORM
            else trial.suggest_int(k, round(lo), round(hi))
            for k, (lo, hi) in spans.items()
        }  # fmt: skip
        setting = Trial(**{**asdict(fixed), **values})
        start = time.perf_counter()

        def watch(net: TwoLayerNet, step: TrainStep) -> None:
            if callback is not None:
                callback(trial.number, step)
            if step.iteration % every or step.iteration == step.iters:
                return
            acc = net.accuracy(data.x_val, data.t_val)
            trial.report(acc, step.iteration)
            if trial.should_prune():
                loss, seconds = net.loss(data.x_val, data.t_val), time.perf_counter() - start
                pruned = TrialResult(
                    setting, acc, loss, step.train_acc, seconds, trial.number, pruned_at=step.iteration
                )
                trial.set_user_attr(RESULT, _record(pruned))
                raise optuna.TrialPruned(f"validation accuracy {acc:.2%} at iteration {step.iteration}")

        try:
            result = run_trial(setting, data, gradient=how, seed=seed, number=trial.number, on_step=watch)
        except KeyboardInterrupt:  # Ctrl-C: the trial is failed; queue its settings for the next run
            trial.study.enqueue_trial(trial.params, user_attrs={"interrupted": trial.number})
            raise
        trial.set_user_attr(RESULT, _record(result))
        return result.val_acc

    return objective


def _record(r: TrialResult) -> dict[str, Any]:
    return {**asdict(r), "trial": asdict(r.trial)}


def _result(t: optuna.trial.FrozenTrial) -> TrialResult:
    r = dict(t.user_attrs[RESULT])
    return TrialResult(**{**r, "trial": Trial(**r["trial"]), "number": t.number})


def _claimed_before(trial: optuna.Trial) -> int:
    """Trials finished, or running with a smaller number: the ones ahead of this one in the budget."""
    from optuna.trial import TrialState

    others = trial.study.get_trials(deepcopy=False, states=(*_finished(), TrialState.RUNNING))
    return sum(1 for t in others if t.state != TrialState.RUNNING or t.number < trial.number)


def _run(study: optuna.Study, n: int, objective: Callable[[optuna.Trial], float]) -> None:
    """Run trials until the study has `n` finished; wait while the last ones run in other processes."""
    import optuna
    from optuna.trial import TrialState

    while True:
        optuna.storages.fail_stale_trials(study)  # a killed process's trial: failed, queued again
        trials = study.get_trials(deepcopy=False)
        states = collections.Counter(t.state for t in trials)
        done = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
        if done >= n:
            return
        if done + states[TrialState.RUNNING] < n:
            study.optimize(objective, n_trials=1, catch=(_SurplusError,))
            continue
        _fail_unstarted(study, trials)
        time.sleep(HEARTBEAT_S)


def _fail_unstarted(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]) -> None:
    """A process killed between creating a trial and its first heartbeat leaves a trial that no heartbeat
    will ever mark stale: one that never reached its objective long after it started is failed here."""
    from optuna.trial import TrialState

    now = time.time()
    for t in trials:
        started = t.datetime_start.timestamp() if t.datetime_start is not None else now
        if t.state == TrialState.RUNNING and "worker" not in t.user_attrs and now - started > GRACE_S:
            study.tell(t.number, state=TrialState.FAIL)
