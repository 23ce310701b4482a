"""The CLI's standard, case by case: bad input is one line on stderr and exit 2 (never a traceback), a
user's path is printed as written, --json is strict JSON alone on stdout, a closed pipe ends quietly."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pytest

import numgrad.checking.catalog
import numgrad.checking.check
import numgrad.checking.twins
from numgrad.commands._errors import EXIT_OUTPUT_CLOSED
from numgrad.commands.cli import main

TRAIN = ["--iters", "1", "--batch-size", "2", "--hidden", "2"]
CAP = "more than numgrad's CLI allocates"


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "user.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            def loss(x): return float(np.sum(x**2))
            def grad(x): return 2 * x
            def nangrad(x): return np.full(x.shape, np.nan)
            def biggrad(x): return np.full(x.shape, 1e308)
            def gexit(x): raise GeneratorExit("closed")
            def base(x): raise BaseException("bare")
            def tree_loss(p): return float(sum(np.sum(v**2) for v in p.values()))
            def tree_grad(p): return {k: 2 * v for k, v in p.items()}
            def f(x): return np.tanh(x)
            def vjp(x, d): return d * (1 - np.tanh(x) ** 2)
            """
        )
    )
    (tmp_path / "base_at_import.py").write_text("raise BaseException('at import')\ndef f(x): return x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def sweep(mnist_dir, *extra):
    return ["sweep", *extra, "--iters", "8", "--data", str(mnist_dir)]


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert err.endswith("\n"), err
    assert "Traceback" not in err
    return err.rstrip("\n")


def strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# --------------------------------------------------------------------------------------------------
# A user's path or name is printed as written, not read as rich markup


@pytest.mark.parametrize("name", ["x[/].png", "[bold]y.png"], ids=["closing-tag", "style-tag"])
def test_descend_prints_a_plot_path_with_brackets_as_written(tmp_path, capsys, name):
    (tmp_path / "x[").mkdir()  # x[/].png is the file "].png" in the folder "x["
    path = f"{tmp_path}/{name}"
    assert main(["descend", "--plot", path]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == f"picture written to {path}"


def test_check_prints_heatmap_path_and_leaf_names_as_written(modules, capsys):
    path = str(modules / "[bold]h.png")
    argv = ["check", "user:loss", "--shape", "2,3", "--grad", "user:grad", "--examples", "1", "--plot", path]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == f"heatmap: {path}"
    tree = ["check", "user:tree_loss", "--shapes", '{"[b]": [2]}', "--grad", "user:tree_grad"]
    assert main([*tree, "--examples", "1"]) == 0
    assert "['[b]'] (" in capsys.readouterr().out


def test_train_prints_a_plot_path_with_brackets_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "1000")  # the summary and the path on one line
    path = str(tmp_path / "[bold]t.png")
    assert main(["train", *TRAIN, "--plot", path]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1].endswith(f"; plot: {path}")


def test_sweep_prints_a_plot_path_with_brackets_as_written(mnist_dir, tmp_path, capsys):
    (tmp_path / "[").mkdir()
    path = f"{tmp_path}/[/]s.png"
    assert main(sweep(mnist_dir, "--grid", "lr=0.5", "hidden=3", "--plot", path)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == f"plot: {path}"


# --------------------------------------------------------------------------------------------------
# --json: strict JSON, NaN and infinities as null, through one function


def test_check_json_turns_nan_into_null(modules, capsys):
    argv = ["check", "user:loss", "--shape", "3", "--grad", "user:nangrad", "--examples", "1", "--json"]
    assert main(argv) == 1  # a NaN gradient is a failed check, reported
    out, err = capsys.readouterr()
    assert err == ""
    report = strict(out)
    assert report["passed"] is False
    assert report["examples"][0]["analytic"] is None


def test_strict_json_replaces_every_non_finite_number():
    from numgrad.commands._console import strict_json

    data = {"a": float("nan"), "b": [1.5, float("inf"), (-float("inf"), np.float64("nan"))], "c": "nan"}
    assert strict_json(data) == {"a": None, "b": [1.5, None, [None, None]], "c": "nan"}


# --------------------------------------------------------------------------------------------------
# Sizes and counts that could not fit are refused up front, in the words of the other caps


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["check", "user:loss", "--shapes", "[12000, 12000]", "--grad", "user:grad"], "144,000,000 numbers"),
        (
            ["check", "user:tree_loss", "--shapes", '{"a": [10000, 10000], "b": [10000, 10000]}',
             "--grad", "user:tree_grad"],
            r"--shapes .* \(all its leaves\) would hold 200,000,000 numbers",
        ),
        (["check", "user:loss", "--shape", "3", "--grad", "user:grad", "--examples", "99999999999"],
         "--examples 99999999999 of x .* would hold 299,999,999,997 numbers"),
        (["descend", "--steps", "99999999999999"], r"--steps 99999999999999 \(the recorded paths\) would hold"),
        (["train", "--iters", "99999999999999"], r"--iters 99999999999999 \(the loss of each iteration\)"),
        (["sweep", "--random", "999999999999"], r"--random 999999999999 \(the trials and results\) would hold"),
        (["sweep", "--bayes", "999999999999"], r"--bayes 999999999999 \(the trials and results\) would hold"),
        (["sweep", "--grid", "iters=99999999999999"], "--grid iters=99999999999999 .* would hold"),
        (["sweep", "--random", "2", "--ranges", "hidden=200000:200000"],
         "--ranges hidden=200000:200000 .* would hold 158,800,000 numbers"),
        (["sweep", "--random", "2", "--ranges", "batch_size=1:1e9"], "--ranges batch_size=1:1e.09 .* would hold"),
        (["sweep", "--random", "2", "--ranges", "hidden=1:inf"], "--ranges hidden bounds must be finite"),
        (["bench", "--repeats", "999999999999"], r"--repeats 999999999999 \(the timing samples of a row\)"),
    ],
    ids=["check-shapes-one-leaf", "check-shapes-total", "check-examples", "descend-steps", "train-iters",
         "sweep-random", "sweep-bayes", "sweep-grid-iters", "sweep-ranges-hidden", "sweep-ranges-batch",
         "sweep-ranges-inf", "bench-repeats"],
)  # fmt: skip
def test_sizes_that_could_not_fit_are_refused(modules, capsys, argv, words):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = one_line(err)
    assert line.startswith(f"numgrad {argv[0]}: ")
    assert re.search(words, line), line
    assert CAP in line or "finite" in line


# --------------------------------------------------------------------------------------------------
# bench --plot: checked before the work


@pytest.fixture
def no_benchmarks(monkeypatch):
    import numgrad.bench.harness

    def refuse(**kwargs):
        raise AssertionError("the benchmarks ran before the options were checked")

    monkeypatch.setattr(numgrad.bench.harness, "run_benchmarks", refuse)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--plot", "/nonexistent/x.png"], "--plot '/nonexistent/x.png': directory '/nonexistent' does not exist"),
        (["--family", "book", "--plot", "x.png"], "--family book leaves out: add --family scaling, or drop --plot"),
    ],
    ids=["missing-directory", "family-without-scaling"],
)  # fmt: skip
def test_bench_plot_is_checked_before_the_work(no_benchmarks, tmp_path, monkeypatch, capsys, extra, words):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err).startswith("numgrad bench: ")
    assert words in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# sweep: a closed pipe, repeated axes, --ranges with --grid, Ctrl-C without --storage


def test_sweep_bayes_into_a_closed_pipe_ends_quietly(mnist_dir, monkeypatch, capsys):
    import numgrad.commands._search

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(numgrad.commands._search, "print_ranked", closed)
    assert main(sweep(mnist_dir, "--bayes", "2")) == EXIT_OUTPUT_CLOSED
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["--grid", "lr=1", "lr=2"], "numgrad sweep: --grid gives lr more than once; give each axis once"),
        (["--random", "2", "--ranges", "lr=0.1:1", "lr=1:2"],
         "numgrad sweep: --ranges gives lr more than once; give each axis once"),
        (["--grid", "lr=1", "--ranges", "lr=0.1:1"],
         "numgrad sweep: --ranges goes with --random, --bayes and --compare; --grid takes the values themselves "
         "(--grid lr=0.1,1 hidden=20,50)"),
    ],
    ids=["grid-axis-twice", "ranges-axis-twice", "grid-with-ranges"],
)  # fmt: skip
def test_sweep_refuses_options_it_would_ignore(mnist_dir, capsys, extra, line):
    assert main(sweep(mnist_dir, *extra)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == line


def test_ctrl_c_without_storage_does_not_promise_a_resume(mnist_dir, monkeypatch, capsys):
    import numgrad.book.bayes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(numgrad.book.bayes, "run_trial", interrupted)
    assert main(sweep(mnist_dir, "--bayes", "2")) == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == "numgrad sweep: interrupted (the trials are not kept without --storage)"


# --------------------------------------------------------------------------------------------------
# A BaseException from a user's code is one line and exit 2, like any other exception


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["check", "user:loss", "--shape", "3", "--grad", "user:gexit"],
         "numgrad check: user:loss at x of shape (3,) (float64): GeneratorExit: closed"),
        (["check", "base_at_import:f", "--shape", "3"],
         "numgrad check: importing 'base_at_import' raised BaseException: at import"),
        (["descend", "--function", "user:base", "--start", "1", "2"], "numgrad descend: BaseException: bare"),
    ],
    ids=["check-grad-generator-exit", "check-import-base-exception", "descend-f-base-exception"],
)  # fmt: skip
def test_a_base_exception_from_user_code_is_one_line(modules, capsys, argv, line):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == line


# --------------------------------------------------------------------------------------------------
# check --vjp --plot: the picture and the JSON name what was checked


def test_vjp_heatmap_and_json_name_the_vjp(modules, monkeypatch, capsys):
    titles = []
    draw = numgrad.checking.check.plot_gradient_errors

    def recording(report, path, *, title=None):
        titles.append(title)
        return draw(report, path, title=title)

    monkeypatch.setattr(numgrad.checking.check, "plot_gradient_errors", recording)
    target, vjp = str(modules / "user.py") + ":f", str(modules / "user.py") + ":vjp"
    png = modules / "v.png"
    argv = ["check", target, "--shape", "2", "--vjp", vjp, "--plot", str(png), "--json"]
    # matplotlib warns that this 2-element heatmap's constrained layout is not applied; pytest would turn
    # the warning into an error, and exit 2
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    report = strict(out)
    assert (report["grad"], report["vjp"]) == (None, vjp)
    assert len(titles) == 1
    expected = rf"{re.escape(target)} against vjp {re.escape(vjp)}, example \d \(seed \d\)"
    assert re.fullmatch(expected, titles[0]), titles
    assert "jax.grad" not in out
    assert png.stat().st_size > 0


# --------------------------------------------------------------------------------------------------
# Nothing stray: no blank line from a progress bar, no warning of numgrad's own


def test_train_error_leaves_stdout_empty(capsys):
    assert main(["train", "--iters", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == "numgrad train: --iters must be a positive integer; got 0"


def test_sweep_error_leaves_stdout_empty(mnist_dir, capsys):
    assert main(sweep(mnist_dir, "--grid", "lr=1", "--validation", "2")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == "numgrad sweep: validation must be a fraction in (0, 1); got 2.0"


def test_piped_check_starts_with_its_title(monkeypatch, capsys):
    cases = tuple(c for c in numgrad.checking.catalog.CASES if c.name == "hinge_loss")
    monkeypatch.setattr(numgrad.checking.catalog, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "SHAPES", ((3, 4),))
    assert main(["check", "--dtype", "float64"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("numgrad vs JAX twins"), out[:80]


def test_a_huge_gradient_is_a_failed_check_without_a_warning(modules, capsys):
    argv = ["check", "user:loss", "--shape", "3", "--grad", "user:biggrad", "--examples", "1"]
    assert main(argv) == 1  # pytest turns the overflow warning into an error, and exit 2
    out, err = capsys.readouterr()
    assert err == ""
    assert "WRONG" in out
    assert "0 passed, 1 failed" in out


# The fourteenth session's audit of the CLI


def _run(*argv: str, env: dict[str, str] | None = None, **kw):
    import os
    import subprocess
    import sys

    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "numgrad", *argv], capture_output=True, env=full, check=False, **kw
    )


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_output_encoding_without_the_tables_characters_gets_substitutes_not_a_traceback(encoding):
    # "—" in --help, "²" and "−" in descend's table: a UnicodeEncodeError was a traceback (rc 1) or rc 2
    env = {"PYTHONIOENCODING": encoding}
    shown = _run("check", "--help", env=env)
    assert shown.returncode == 0
    assert b"Traceback" not in shown.stderr
    assert b"usage" in shown.stdout
    ran = _run("descend", "--function", "rosenbrock", env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == b""
    assert b"lr" in ran.stdout


def test_a_closed_stdout_is_one_line_and_exit_2():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import os, sys; os.close(1); sys.stdout = None; "
         "from numgrad.commands.cli import main; raise SystemExit(main(['descend']))"],
        stderr=subprocess.PIPE, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert one_line(done.stderr.decode()) == (
        "numgrad: standard output is closed; redirect it to a file or /dev/null"
    )


def test_a_family_only_the_full_run_has_is_refused_up_front(capsys):
    assert main(["bench", "--family", "net-784"]) == 2  # before: an empty table, exit 0
    err = one_line(capsys.readouterr().err)
    assert err.startswith("numgrad bench: --family net-784 runs only with --full")


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:"]
)
def test_an_in_memory_sqlite_storage_is_refused(url):
    # each connection saw its own empty database: Optuna's heartbeat thread printed tracebacks, exit 0
    pytest.importorskip("optuna")
    from numgrad.book import bayes

    with pytest.raises(ValueError, match="in-memory SQLite database"):
        bayes._storage(url)
    assert not bayes._in_memory("sqlite:///sweep.db")


def test_a_users_error_of_several_lines_or_none_is_one_line(modules, capsys):
    (modules / "ml.py").write_text(
        "def f(x):\n    raise ValueError('first line\\nsecond line\\nthird line')\n"
        "def empty(x):\n    raise ValueError()\n"
    )
    assert main(["descend", "--function", "ml:f", "--start", "1", "2"]) == 2
    assert one_line(capsys.readouterr().err).endswith("first line")
    assert main(["descend", "--function", "ml:empty", "--start", "1", "2"]) == 2
    assert one_line(capsys.readouterr().err) != "numgrad descend:"


def test_descend_at_a_learning_rate_that_overflows_prints_no_warning(capsys, tmp_path):
    assert main(["descend", "--lr", "1e300", "--plot", str(tmp_path / "d.png")]) == 0
    assert capsys.readouterr().err == ""


def test_a_postscript_plot_is_written_without_the_backends_transparency_message(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        assert main(["descend", "--plot", str(tmp_path / "d.eps")]) == 0
    assert (tmp_path / "d.eps").stat().st_size > 0
    assert not [r for r in caplog.records if "transparency" in r.getMessage()]


def test_progress_goes_to_stderr_not_to_a_terminal_on_stdout(tmp_path):
    # stdout a terminal, stderr a pipe: the bar belongs to stderr (off a terminal: not drawn at all), so
    # stdout holds the table alone. Before, train's bar was drawn on stdout.
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "numgrad", "train", *TRAIN], stdout=follower, stderr=subprocess.PIPE,
            cwd=tmp_path, timeout=300, check=False,
        )  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    out = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0, done.stderr
    assert "training (" not in out  # the bar's description
    assert "\x1b[?25l" not in out  # a live display hides the cursor first


def test_a_negative_number_in_scientific_notation_is_a_value(capsys):
    # argparse took -1e-3 for an option: "--start: expected at least one argument"
    assert main(["descend", "--start", "-1e-3", "4", "--steps", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == [-0.001, 4.0]
    assert main(["descend", "--lr", "-1e-3"]) == 2
    assert "lr must be a positive" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["check", "user:loss", "--shape", "3", "--grad", ""], "--grad"),
        (["check", "user:tree_loss", "--shapes", '{"a": [2]}', "--vjp", " "], "--vjp"),
        (["sweep", "--bayes", "1", "--storage", ""], "--storage"),
        (["sweep", "--bayes", "1", "--storage", "--study", ""], "--study"),
    ],
)
def test_an_empty_option_value_is_refused_not_read_as_none_given(modules, capsys, argv, flag):
    # --grad '' quietly fell back to jax.grad, --vjp '' ran a gradient check, --storage '' was ignored
    assert main(argv) == 2
    what = {"--storage": "a URL", "--study": "a name"}.get(flag, "MODULE:FUNC")
    assert one_line(capsys.readouterr().err).endswith(f"{flag} is empty; give {what} or leave it out")
