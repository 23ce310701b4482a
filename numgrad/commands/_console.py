"""The one Console every command prints through, and tables that fit it.

Width: ``--wide`` gives the full table; otherwise ``COLUMNS`` when set, the terminal's width on a
terminal, and the full table when output goes to a pipe or a file (a log keeps every column). A table that
is wider than that is printed with abbreviated headers and cells, then without its least important columns
(:func:`print_table`), so no row wraps onto a second line.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_WIDTH = 132  # the full table of numgrad check fits; numgrad bench asks for more
WIDE_OPTION_HELP = "print every column in full even if the terminal is narrower (as when piped to a file)"


def console_width(*, stderr: bool = False, wide: bool = False, min_width: int = MIN_WIDTH) -> int:
    """The width tables are fitted to (see the module's docstring for the order of the rules)."""
    if wide:
        return max(shutil.get_terminal_size(fallback=(min_width, 24)).columns, min_width)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return shutil.get_terminal_size(fallback=(80, 24)).columns
    return min_width


class _Console(Console):
    """rich's Console, but a closed pipe raises BrokenPipeError (rich raises SystemExit(1), which the
    commands' error path would report as the user's code calling sys.exit)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of numgrad's output went away")


def make_console(*, stderr: bool = False, wide: bool = False, min_width: int = MIN_WIDTH) -> Console:
    return _Console(stderr=stderr, width=console_width(stderr=stderr, wide=wide, min_width=min_width))


@dataclass(frozen=True)
class Column:
    """A table column: its header, a shorter one for narrow terminals, and when it may be dropped."""

    header: str
    short: str = ""  # header on a narrow terminal ("": the same)
    justify: Literal["left", "right"] = "right"
    drop: int = 0  # 0: always shown; on a narrow terminal the highest numbers go first


Cell = str | tuple[str, str]  # the text, or (text, abbreviation for a narrow terminal)


def _table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], keep: Sequence[int], narrow: bool
) -> Table:
    style = {"box": box.SIMPLE_HEAD, "collapse_padding": True, "show_edge": False} if narrow else {}
    table = Table(**style)  # type: ignore[arg-type]
    for i in keep:
        c = columns[i]
        table.add_column((c.short or c.header) if narrow else c.header, justify=c.justify, no_wrap=True)
    for row in rows:
        cells = [row[i] for i in keep]
        table.add_row(*(c if isinstance(c, str) else c[1] if narrow else c[0] for c in cells))
    return table


def fit_table(
    console: Console, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> tuple[Table, list[str]]:
    """The widest form of the table that fits `console`, and the headers of the columns left out."""
    everything = list(range(len(columns)))
    order = sorted((i for i in everything if columns[i].drop > 0), key=lambda i: (-columns[i].drop, -i))
    wide_open = console.options.update_width(10_000)
    keep = everything
    for narrow, gone in [(False, 0), *((True, k) for k in range(len(order) + 1))]:
        keep = [i for i in everything if i not in order[:gone]]
        table = _table(columns, rows, keep, narrow)
        if console.measure(table, options=wide_open).maximum <= console.width:
            break
    return table, [columns[i].header for i in everything if i not in keep]


def progress_hidden(console: Console, *, as_json: bool = False) -> bool:
    """Whether a command's progress display stays off: with --json, or off a terminal (rich's Progress
    ends with a blank line on a pipe or a file, and nobody watches it there)."""
    return as_json or not console.is_interactive


def print_plain(console: Console, text: str) -> None:
    """`text` as written, not as markup: a user's path may hold brackets (``plots/[bold]a.png``)."""
    console.print(Text(text))


def strict_json(data: object) -> object:
    """`data` with every NaN and ±inf (a NaN gradient, a diverged loss) as None: JSON has no such numbers."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(v) for v in data]
    return data


def print_json(data: object) -> None:
    """`data` as strict JSON, alone on stdout (every command's --json)."""
    print(json.dumps(strict_json(data), indent=2, allow_nan=False))


def print_error(console: Console, command: str, message: object) -> None:
    """``numgrad COMMAND: message`` on one line however narrow the console (no wrapping), printed as
    written (no markup: a message may hold a user's path with brackets in it). A message that names the
    library function of the same name (``sweep: ...``) is not prefixed twice. Of a message of several
    lines, the first that says something; an exception with no message is named by its type."""
    lines = [t for t in str(message).strip().splitlines() if t.strip()]
    line = lines[0].removeprefix(f"{command}: ") if lines else type(message).__name__
    console.print(Text(f"numgrad {command}: ", style="red") + Text(line), soft_wrap=True)


def fit_line(console: Console, candidates: Sequence[str]) -> Text:
    """The first of `candidates` (longest first) that fits on one line; else the last, cut with "…".
    Plain text, not markup: a title may hold a user's path with brackets in it."""
    for text in candidates:
        line = Text(text)
        if line.cell_len <= console.width:
            return line
    line = Text(candidates[-1])
    line.truncate(console.width, overflow="ellipsis")
    return line


def print_table(
    console: Console,
    titles: Sequence[str],
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    caption: Sequence[str] = (),
) -> None:
    """Print a title line, the fitted table and a caption line, none of them wider than the console.

    `titles` and `caption` are alternatives, longest first: the first that fits is printed.
    """
    table, dropped = fit_table(console, columns, rows)
    console.print(fit_line(console, titles), style="italic")
    console.print(table)
    if caption:
        console.print(fit_line(console, caption))
    if dropped:
        console.print(fit_line(console, [f"not shown at this width: {', '.join(dropped)} (--wide shows them)",
                                         f"--wide shows {', '.join(dropped)}"]))  # fmt: skip
