"""A Bayesian study in a real SQLite file, run by real processes: killed and restarted, and shared by two."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

TRIALS = 6
ITERS = 1500  # ~1.4 s a trial here: the first of two processes started together needs ~7 s before it can
# claim the last trial, far more than the two can differ in start-up (at 60 iterations one once took all 6)
WAIT_S = 600  # far beyond what a run takes (~15 s alone, ~140 s on a machine loaded 5x); only a hung process gets near it


def command(mnist_dir, db):
    return [
        sys.executable, "-m", "numgrad.commands.cli", "sweep", "--bayes", str(TRIALS), "--storage",
        f"sqlite:///{db}", "--study", "s", "--iters", str(ITERS), "--ranges", "lr=0.5:5", "hidden=5:20",
        "--data", str(mnist_dir), "--json",
    ]  # fmt: skip


def trials(db):
    """(number, state, value, params, worker, completed) of every trial, read straight from the file."""
    query = """
        SELECT t.number, t.state, v.value,
               (SELECT group_concat(p.param_name || '=' || p.param_value) FROM trial_params p
                WHERE p.trial_id = t.trial_id),
               (SELECT a.value_json FROM trial_user_attributes a WHERE a.trial_id = t.trial_id
                AND a.key = 'worker'),
               t.datetime_complete
        FROM trials t LEFT JOIN trial_values v USING (trial_id) ORDER BY t.number"""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute(query).fetchall()
    except sqlite3.OperationalError:  # the tables are still being made
        return []


def pid(row):
    return int(json.loads(row[4]).rsplit(":", 1)[1])  # the worker attribute is "host:pid"


def training(row):
    """A trial with both its settings drawn (one killed between drawing lr and hidden is run again with
    that lr and a new hidden: not the same settings)."""
    return bool(row[3]) and row[3].count("=") == 2


def finished(rows):
    return [r for r in rows if r[1] in ("COMPLETE", "PRUNED")]


@pytest.mark.slow
def test_a_study_killed_mid_run_continues_without_losing_or_repeating_a_trial(mnist_dir, tmp_path):
    db = tmp_path / "sweep.db"
    first = subprocess.Popen(command(mnist_dir, db), cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + WAIT_S
    while not (len(finished(trials(db))) >= 2 and any(r[1] == "RUNNING" and training(r) for r in trials(db))):
        assert first.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(WAIT_S)
    before = finished(trials(db))
    assert 2 <= len(before) < TRIALS

    second = subprocess.Popen(command(mnist_dir, db), cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    out, err = second.communicate(timeout=WAIT_S)
    assert second.returncode == 0, err
    after = trials(db)
    done = finished(after)
    assert len(done) == TRIALS
    assert set(before) <= set(done)  # every trial finished before the kill, exactly as it was recorded
    ran_again = [r for r in done if pid(r) == second.pid]
    assert len(ran_again) == TRIALS - len(before)  # the restart ran only what was missing
    assert len({r[3] for r in done}) == TRIALS  # no setting finished twice
    assert not [r for r in after if r[1] in ("RUNNING", "WAITING")]
    (killed,) = [r for r in after if r[1] == "FAIL"]  # the trial the kill cut short in training ...
    assert killed[3] in {d[3] for d in ran_again}  # ... ran again from its start, with its settings
    report = json.loads(out)
    assert sorted(r["number"] for r in report["results"]) == [r[0] for r in done]


@pytest.mark.slow
def test_two_processes_share_one_study(mnist_dir, tmp_path):
    db = tmp_path / "sweep.db"
    workers = [
        subprocess.Popen(command(mnist_dir, db), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [w.communicate(timeout=WAIT_S) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    rows = trials(db)
    numbers = [r[0] for r in rows]
    assert len(numbers) == len(set(numbers))  # no trial number twice
    done = finished(rows)
    assert len(done) == TRIALS  # N between them, not N each
    assert {pid(r) for r in done} == {w.pid for w in workers}  # both did some
    for out, _ in outputs:  # each ends with the whole study
        assert sorted(r["number"] for r in json.loads(out)["results"]) == [r[0] for r in done]
