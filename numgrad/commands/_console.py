"""The one Console every command prints through: full-width tables also when output is piped or logged."""

from __future__ import annotations

import shutil

from rich.console import Console

MIN_WIDTH = 132  # the widest table (numgrad bench) fits; a pipe or CI log otherwise gets rich's 80 columns


def make_console(*, stderr: bool = False, min_width: int = MIN_WIDTH) -> Console:
    width = max(shutil.get_terminal_size(fallback=(min_width, 24)).columns, min_width)
    return Console(stderr=stderr, width=width)
