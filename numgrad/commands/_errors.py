"""The CLI's one error path: bad input is one line on stderr and exit 2, never a traceback.

Each command validates its options at the start of ``run()`` with the helpers here (raising
:class:`BadInputError`); :func:`run_command` turns that, and anything a user's function or the library raises
later, into ``numgrad <command>: <one line>`` and exit 2. Exit 1 stays for a check that ran and failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

# Arrays the CLI would allocate (x of --shape, a net's weights, a batch of images) above this many
# elements are refused up front: 2**27 float64 numbers are 1 GiB, and a gradient needs several copies.
MAX_ELEMENTS = 2**27
# A trial of `numgrad sweep` (its settings, its result, Optuna's record) is Python objects, not an array:
# about 1 KiB, counted as that many float64 numbers against MAX_ELEMENTS.
TRIAL_NUMBERS = 128
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away


class BadInputError(Exception):
    """An option the command cannot run with: the message is the one line the user sees."""


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def run_command(name: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)``, with every failure as one line on stderr: exit 2 (130 on Ctrl-C).

    Output piped into a reader that stops early (``numgrad check | head``) ends the command quietly with
    exit 141: nothing failed and nobody is left to read a message.
    """
    try:
        return run(args)
    except BrokenPipeError:  # rich's consoles raise it too (make_console's Console)
        return output_closed()
    except BadInputError as exc:
        return fail(name, str(exc))
    except KeyboardInterrupt:
        return fail(name, "interrupted", code=EXIT_INTERRUPTED)
    except MemoryError:
        return fail(name, "out of memory: pass smaller sizes (--shape, --batch-size, --hidden)")
    except SystemExit as exc:  # a user's module or function called sys.exit: not a pass, not a failure
        return fail(name, f"the user's code called sys.exit({exc.code!r}) while numgrad was running it")
    except BaseException as exc:  # GeneratorExit or a bare BaseException from a user's code: as any other
        return fail(name, f"{type(exc).__name__}: {first_line(exc)}")


def output_closed() -> int:
    """Stdout's reader is gone: point stdout at /dev/null so the interpreter's last flush cannot raise."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # a stdout with no descriptor (captured in tests): nothing to flush
        pass
    return EXIT_OUTPUT_CLOSED


def fail(name: str, line: str, *, code: int = EXIT_BAD_INPUT) -> int:
    lines = [t for t in line.strip().splitlines() if t.strip()]  # one line, whatever the message held
    print(f"numgrad {name}: {lines[0] if lines else 'failed (with no message)'}", file=sys.stderr)
    return code


def output_file(path: str | None, flag: str = "--plot") -> None:
    """A file the command will write at the end: its directory exists and is writable (checked before the
    work, and nothing is created)."""
    if path is None:
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise BadInputError(
            f"{flag} {path!r} is a directory; give a file name such as {str(target / 'plot.png')!r}"
        )
    if not parent.is_dir():
        raise BadInputError(
            f"{flag} {path!r}: directory {str(parent)!r} does not exist (numgrad does not create it)"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise BadInputError(f"{flag} {path!r}: cannot write there (permission denied)")


def non_empty(value: str | None, flag: str, what: str) -> None:
    """An option given with an empty value ("" or spaces), which would otherwise mean "not given"."""
    if value is not None and not value.strip():
        raise BadInputError(f"{flag} is empty; give {what} or leave it out")


def seed(value: int, flag: str = "--seed") -> int:
    if value < 0:
        raise BadInputError(f"{flag} must be a non-negative integer; got {value}")
    return value


def positive_count(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise BadInputError(f"{flag} must be a positive integer; got {value}")


def positive_number(value: float | None, flag: str) -> None:
    if value is not None and not 0 < value < float("inf"):
        raise BadInputError(f"{flag} must be a positive finite number; got {value}")


def elements(count: int, what: str) -> None:
    """Refuse, before any work, an allocation of `count` numbers that could not fit."""
    if count > MAX_ELEMENTS:
        raise BadInputError(
            f"{what} would hold {count:,} numbers, more than numgrad's CLI allocates "
            f"({MAX_ELEMENTS:,}, 1 GiB of float64); pass smaller sizes"
        )
