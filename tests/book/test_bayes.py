"""numgrad.book.bayes: Optuna's TPE over the sweep's axes, pruning, and studies kept in a real SQLite file."""

from __future__ import annotations

import math
import sqlite3
import sys

import numpy as np
import pytest

from numgrad.book import tuning
from numgrad.book.bayes import DEFAULT_STORAGE, DEFAULT_STUDY, STARTUP_TRIALS
from numgrad.book.data import load_mnist
from numgrad.book.search import sweep
from numgrad.book.tuning import Trial

BASE = Trial(iters=16, batch_size=20)  # 8 iterations an epoch of 160 images: a trial takes ~20 ms


@pytest.fixture(scope="module")
def digits():
    """200 embedded training images, 20 of each digit (160 to fit, 40 to score)."""
    (x, t), _ = load_mnist()
    keep = np.concatenate([np.flatnonzero(t == d)[:20] for d in range(10)])
    return x[keep], t[keep]


def rows(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


X, T = np.random.default_rng(0).random((40, 5)), np.arange(40) % 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ranges": {"momentum": (0.1, 0.9)}}, ValueError, "sweep: unknown hyperparameter 'momentum'; choose from"),
        ({"ranges": {"lr": (1.0, 0.1)}}, ValueError, r"sweep: range of lr must be 0 < low <= high; got \(1.0, 0.1\)"),
        ({"ranges": {"hidden": (0, 5)}}, ValueError, "sweep: range of hidden must be 1 <= low <= high"),
        ({"ranges": {}}, ValueError, "sweep: ranges must name at least one axis"),
        ({"trials": 0}, ValueError, "sweep: trials must be a positive integer"),
        ({"trials": [Trial()]}, TypeError, "with search='bayes', trials is a number of trials; got list"),
        ({"base": {"lr": 1.0}}, TypeError, "sweep: base must be a Trial; got dict"),
        ({"callback": 3}, TypeError, "sweep: callback must be callable or None; got int"),
        ({"search": "optuna"}, ValueError, "sweep: search must be one of"),
        ({"search": "listed", "trials": [Trial()], "storage": DEFAULT_STORAGE}, ValueError, "storage go with search='bayes'"),
        ({"search": "listed"}, TypeError, "a number of trials needs search='bayes'"),
        ({"storage": "nosuchdialect://x"}, ValueError, "sweep: storage 'nosuchdialect://x' cannot be opened: "),
        ({"storage": "sqlite:////no/such/dir/sweep.db"}, ValueError, "cannot be opened: .*unable to open database"),
    ],
    ids=["unknown-axis", "reversed-range", "zero-hidden", "no-axis", "no-trials", "list-of-trials", "base-dict", "callback-int",
         "unknown-search", "storage-with-listed", "count-with-listed", "unknown-dialect", "missing-directory"],
)  # fmt: skip
def test_input_validation(kwargs, error, match):
    options = {"search": "bayes", "trials": 3, **kwargs}
    with pytest.raises(error, match=match):
        sweep(X, T, options.pop("trials"), **options)


def test_without_optuna_the_error_names_the_extra(digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(ImportError, match=r"needs optuna, which is not installed: pip install 'numgrad\[tune\]'"):
        sweep(*digits, 3, search="bayes", base=BASE)


def test_a_seeded_search_repeats_and_stays_in_its_ranges(digits):
    ranges = {"lr": (0.05, 5.0), "hidden": (5, 30)}
    a, b = (sweep(*digits, 7, search="bayes", ranges=ranges, base=BASE, seed=3) for _ in range(2))
    c = sweep(*digits, 7, search="bayes", ranges=ranges, base=BASE, seed=4)
    key = [(r.number, r.trial, r.val_acc, r.pruned_at) for r in a.results]
    assert key == [(r.number, r.trial, r.val_acc, r.pruned_at) for r in b.results]
    assert {r.trial for r in a.results} != {r.trial for r in c.results}
    assert sorted(r.number for r in a.results) == list(range(7))
    assert all(0.05 <= r.trial.lr <= 5.0 and 5 <= r.trial.hidden <= 30 for r in a.results)
    assert {(r.trial.batch_size, r.trial.iters) for r in a.results} == {(20, 16)}  # the axes not searched


def test_scored_on_the_same_validation_split_as_grid_and_random(digits):
    result = sweep(*digits, 4, search="bayes", base=BASE, seed=1)
    assert (result.n_train, result.n_validation) == (160, 40)
    best = result.best
    again = tuning.sweep(*digits, [best.trial], seed=1).best  # the listed sweep, same split, same net
    assert (again.val_acc, again.val_loss) == (best.val_acc, best.val_loss)


def test_hopeless_trials_are_pruned_from_their_validation_accuracy(digits, tmp_path):
    db = tmp_path / "prune.db"
    ranges = {"lr": (0.001, 10.0)}  # below lr ~0.1 the net sits at chance for the whole run
    result = sweep(*digits, 10, search="bayes", ranges=ranges, base=Trial(iters=40, batch_size=20, hidden=10),
                   storage=f"sqlite:///{db}", seed=2)  # fmt: skip
    pruned = [r for r in result.results if r.pruned_at is not None]
    assert pruned, "no trial was pruned"
    assert all(r.number >= STARTUP_TRIALS and r.pruned_at < 40 for r in pruned)
    done = [r for r in result.results if r.pruned_at is None]
    assert list(result.results) == done + pruned  # finished trials rank first
    reported = dict(rows(db, "SELECT t.number, v.step || ':' || v.intermediate_value FROM trials t "
                             "JOIN trial_intermediate_values v USING (trial_id)"))  # fmt: skip
    assert reported  # the database holds each trial's intermediate validation accuracies
    for r in pruned:  # the last score it reported is the accuracy it is ranked by
        steps = rows(db, f"SELECT v.step, v.intermediate_value FROM trials t JOIN trial_intermediate_values v "
                         f"USING (trial_id) WHERE t.number = {r.number} ORDER BY v.step")  # fmt: skip
        assert steps[-1] == (r.pruned_at, r.val_acc)
        assert math.isfinite(r.val_loss)


def test_a_study_in_sqlite_continues_without_repeating_a_trial(digits, tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    first = sweep(*digits, 3, search="bayes", base=BASE, storage=url, study="s", seed=2)
    more = sweep(*digits, 5, search="bayes", base=BASE, storage=url, study="s", seed=2)
    once = sweep(*digits, 5, search="bayes", base=BASE, seed=2)  # the same five trials in one go, in memory
    by_number = {r.number: r for r in more.results}
    assert sorted(by_number) == [0, 1, 2, 3, 4]
    assert all(by_number[r.number] == r for r in first.results)  # the first three, as they were recorded
    assert {r.trial for r in more.results} == {r.trial for r in once.results}
    assert rows(tmp_path / "sweep.db", "SELECT COUNT(*) FROM trials") == [(5,)]
    again = sweep(*digits, 5, search="bayes", base=BASE, storage=url, study="s", seed=2)
    assert again == more  # nothing left to run: the study as recorded


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ranges": {"lr": (0.01, 10.0), "batch_size": (10, 40)}}, r"was created with other axes \(lr=0.01:10 hidden=10:100\); this run asks for lr=0.01:10 batch_size=10:40"),
        ({"ranges": {"lr": (0.1, 10.0), "hidden": (10, 100)}}, "was created with other axes"),
        ({"seed": 9}, r"was created with other seed \(2\); this run has 9"),
        ({"base": Trial(iters=17, batch_size=20)}, "was created with other fixed values"),
        ({"gradient": "numerical"}, "was created with other gradient"),
        ({"data": 1}, "was created with other training data"),
    ],
    ids=["other-axes", "other-range", "other-seed", "other-iters", "other-gradient", "other-data"],
)  # fmt: skip
def test_a_study_made_with_other_settings_is_refused_and_left_as_it_was(digits, tmp_path, change, match):
    db = tmp_path / "sweep.db"
    url = f"sqlite:///{db}"
    sweep(*digits, 2, search="bayes", base=BASE, storage=url, study="s", seed=2)
    before = db.read_bytes()
    x, t = digits
    options = {"base": BASE, "seed": 2, **change}
    if options.pop("data", None):
        x = x[::-1]
    with pytest.raises(ValueError, match=rf"^sweep: study 's' in {url} {match}"):
        sweep(x, t, 4, search="bayes", storage=url, study="s", **options)
    assert db.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_untouched(digits, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    with pytest.raises(ValueError, match=r"cannot be opened: .*file is not a database"):
        sweep(*digits, 2, search="bayes", base=BASE, storage=f"sqlite:///{notes}")
    assert notes.read_text() == "not a database\n" * 100


def test_a_study_name_alone_takes_the_default_storage(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(*digits, 2, search="bayes", base=BASE, study="mine")
    assert DEFAULT_STORAGE == "sqlite:///sweep.db"
    assert rows(tmp_path / "sweep.db", "SELECT study_name FROM studies") == [("mine",)]
    sweep(*digits, 1, search="bayes", base=BASE, storage=DEFAULT_STORAGE)
    assert rows(tmp_path / "sweep.db", "SELECT study_name FROM studies ORDER BY study_id") == [("mine",), (DEFAULT_STUDY,)]


def test_ctrl_c_keeps_the_finished_trials_and_queues_the_interrupted_one(digits, tmp_path):
    db = tmp_path / "sweep.db"
    url = f"sqlite:///{db}"

    def interrupt(number, step):
        if number == 2 and step.iteration == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(*digits, 4, search="bayes", base=BASE, storage=url, seed=5, callback=interrupt)
    states = rows(db, "SELECT number, state FROM trials ORDER BY number")
    assert states == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "FAIL"), (3, "WAITING")]
    params = "SELECT t.number, group_concat(p.param_name || '=' || p.param_value) FROM trials t JOIN trial_params p USING (trial_id) GROUP BY t.number"
    cut = dict(rows(db, params))[2]
    result = sweep(*digits, 4, search="bayes", base=BASE, storage=url, seed=5)
    assert sorted(r.number for r in result.results) == [0, 1, 3, 4]
    assert dict(rows(db, params))[3] == cut  # the interrupted trial's settings ran first on resuming


def test_importing_numgrad_and_its_cli_leaves_optuna_unloaded():
    import subprocess

    code = "import sys, numgrad; from numgrad.commands.cli import build_parser; build_parser(); print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_a_trial_has_its_heartbeat_before_its_worker_and_settings(digits, tmp_path, monkeypatch):
    """Optuna's heartbeat thread may not have written yet when the objective runs (a loaded machine); a
    trial killed then, with its worker and settings but no heartbeat, would never turn stale and a restart
    would wait for it forever. Without the thread at all, every running trial must still have one."""
    import optuna.study._optimize as optimize
    from optuna.storages._heartbeat import NullHeartbeatThread

    monkeypatch.setattr(optimize, "get_heartbeat_thread", lambda *args: NullHeartbeatThread())
    db = tmp_path / "s.db"
    seen = []

    def watch(number, step):
        if not seen:  # mid-training of the first trial: it is RUNNING, with its worker and settings
            seen.append(rows(db, """SELECT t.state, (SELECT COUNT(*) FROM trial_heartbeats h
                                    WHERE h.trial_id = t.trial_id) FROM trials t"""))  # fmt: skip

    sweep(*digits, 2, search="bayes", base=BASE, storage=f"sqlite:///{db}", study="s", seed=2, callback=watch)
    assert seen == [[("RUNNING", 1)]]
