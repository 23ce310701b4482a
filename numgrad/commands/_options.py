"""Options and help shared by the subcommands (no heavy imports: `numgrad --help` stays fast)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

WIDE_HELP = "every column in full, even on a narrow terminal (as when the output goes to a file)"


def add_wide_option(parser: Any) -> None:
    """``--wide``: the full table whatever the terminal's width."""
    parser.add_argument("--wide", action="store_true", help=WIDE_HELP)


def plot_path(text: str) -> str:
    """``--plot PATH``: the picture is written in the format of PATH's extension (png without one)."""
    from numgrad.common.figures import figure_format

    try:
        figure_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default; the epilog's indented example lines are kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.nargs == 0:  # a flag
            return f"{text} (default: off)"
        return f"{text} (default: {action.default})" if action.default is not None else text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = text.split("\n\n")
        filled = [
            b if b.startswith(" ") or "\n " in b else super(HelpFormatter, self)._fill_text(b, width, indent)
            for b in blocks
        ]
        return "\n\n".join(filled)


def add_command(sub: Any, name: str, *, help: str, description: str, examples: Sequence[str]) -> Any:
    """A subcommand's parser whose --help shows every default and, at the end, runnable examples."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter
    )
