"""The `numgrad` command line: argument parsing and dispatch only; each command lives in numgrad.commands."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from numgrad import __version__
from numgrad.common.extras import missing_extra

# name -> module with register(subparsers); modules import their heavy dependencies only when run.
COMMANDS: dict[str, str] = {
    "check": "numgrad.commands.check",
    "descend": "numgrad.commands.descend",
    "bench": "numgrad.commands.bench",
    "train": "numgrad.commands.train",
    "sweep": "numgrad.commands.sweep",
}


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line on stderr (no usage block) and exit 2, in every command: subcommand
    parsers are made of the parent's class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a negative number in scientific notation (--lr -1e-3, --start 1 -2e3) is a value, not an option
        # (Python 3.11's argparse knows -1 and -0.5 only)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="numgrad",
        description="Numerical gradients you can trust: check, descend, train, bench.",
    )
    parser.add_argument("--version", action="version", version=f"numgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a numgrad command; returns the process exit code (0 ok, 1 a check failed, 2 bad usage)."""
    for stream in (sys.stdout, sys.stderr):  # an ASCII or Latin-1 terminal: "?" for what it cannot show
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a stream that cannot be changed: as it is
                reconfigure(errors="replace")
    if sys.stdout is None:  # started with stdout closed (>&-): no result could be seen
        if sys.stderr is not None:
            print("numgrad: standard output is closed; redirect it to a file or /dev/null", file=sys.stderr)
        return 2
    try:  # Ctrl-C while the commands' modules load: as later, one line and 130
        parser = build_parser()
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        from numgrad.commands._errors import run_command
    except KeyboardInterrupt:
        print("numgrad: interrupted", file=sys.stderr)
        return 130

    def run(parsed: argparse.Namespace) -> int:
        try:
            code: int = parsed.run(parsed)
        except ModuleNotFoundError as exc:  # an optional part without its extra: one line, exit 2
            err = missing_extra(exc, needed_by=f"numgrad {parsed.command}")
            if err is exc:
                raise
            print(err, file=sys.stderr)
            return 2
        return code

    return run_command(args.command, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
