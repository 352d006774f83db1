"""Tables for people: rich on a terminal (without colour under NO_COLOR), plain aligned text
when stdout is not a terminal. A terminal's table fits its width: it drops the columns that
say least (`spare`), then cuts long cells (`cut`), and never folds a row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Literal

from jobctl.text import clean, error_parts


def use_rich() -> bool:
    """Whether stdout gets the terminal's tables. NO_COLOR does not decide it: it takes the
    colour away only (rich reads it), as no-color.org asks, and a person at a terminal keeps
    its layout; the plain form is for what is not a terminal."""
    return sys.stdout.isatty()


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None] | None = None,
    title: str | None = None,
    usual: Mapping[str, str] | None = None,
    cut: Mapping[str, Cut] | None = None,
    spare: Sequence[str] = (),
) -> None:
    """One table. Every cell and the title are cleaned here, so no caller can forget it.

    On a terminal, values as `usual` has them (column -> value: the default queue, priority
    0) are left blank, and only the columns with a value in some row are shown. The columns
    in `cut` (column -> how) give up what the terminal lacks, shared out among them (see
    _fit), so that a wide terminal shows long commands and errors whole and a narrow one
    cuts them rather than folding every row; where even that leaves too little, the `spare`
    columns go, in their order (kubectl's columns for -o wide; a name several columns have
    takes the right-most first). In such a table the other columns keep their width: an id,
    a worker's or a queue's name, a time folded over lines can be neither read nor pasted.
    Plain text is for grep and awk: every column, every value, and "-" for an empty cell,
    so that the fields of a line are always the same."""
    rich = use_rich()
    if rich:
        hidden = [usual.get(c) if usual else None for c in columns]
        rows = [["" if v == h else v for v, h in zip(row, hidden, strict=True)] for row in rows]
        keep = [i for i in range(len(columns)) if any(row[i] for row in rows)] or list(
            range(len(columns))
        )
        columns = [columns[i] for i in keep]
        rows = [[clean(row[i]) for i in keep] for row in rows]
    else:
        rows = [[clean(v) or "-" for v in row] for row in rows]
    title = clean(title) if title else title
    if rich:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console()
        if console.is_dumb_terminal or not _positive(os.environ.get("COLUMNS", "1")):
            # rich takes TERM=dumb (Emacs's M-x shell, some CI ptys) for 80x25, whatever
            # COLUMNS or the terminal says: a wide one would get tables cut to 80 columns.
            # And it takes COLUMNS=0 for a width of 0, printing every table as nothing:
            # shutil reads a COLUMNS that is no positive number as unset, as a 0x0 terminal
            # is read as 80 columns.
            import shutil

            console.size = shutil.get_terminal_size()
        fitted = bool(cut or spare)
        cut = cut or {}
        if fitted:
            columns, rows = _drop_spare(columns, rows, cut, spare, console.width)
            rows = _fit(columns, rows, cut, console.width)
            # What is left is no wider than the terminal, but where the columns that are
            # never cut (ids, names, times) do not fit even so, the table is wider than the
            # terminal: rich would cut them to "…", which can be neither read nor pasted.
            console.width = max(console.width, _width_of(columns, rows))
        # Text, not str: rich would read "[...]" in stored data as markup.
        heading = Text(title) if title else None
        grid = Table(title=heading, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            if fitted and column not in cut:  # cut by "…" where nothing fits, never folded
                grid.add_column(column, no_wrap=True, overflow="ellipsis")
            else:
                grid.add_column(column, overflow="fold")
        for index, row in enumerate(rows):
            style = styles[index] if styles else None
            grid.add_row(
                *(Text(cell, style=(style or "") if i == 0 else "") for i, cell in enumerate(row))
            )
        console.print(grid)
        return
    if title:
        print(title)
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


# How a cell too long for the terminal is cut: "end" keeps its start (a command, a key),
# "start" keeps its end (a log file's name), "error" keeps jobctl's own words before the
# first ": " ("exit code 3") and the end of what the job wrote, where stderr says most.
Cut = Literal["end", "start", "error"]

_GAP = 2  # between two columns of a rich table without a box
_FEWEST = 10  # cells a cut column keeps, whatever the terminal: below that it says nothing


def _drop_spare(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    cut: Mapping[str, Cut],
    spare: Sequence[str],
    room: int,
) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
    """Without the `spare` columns, in their order, while the table would not fit `room`
    cells even with its `cut` columns cut as far as they still say something (_fewest): a
    folded row is two lines for one, and an error cut to "exit code…" tells less than the
    column that gave way."""
    from rich.cells import cell_len

    def least(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
        smallest = []
        for i, name in enumerate(columns):
            values = [row[i] for row in rows]
            width = max([cell_len(name)] + [cell_len(v) for v in values])
            how = cut.get(name)
            smallest.append(width if how is None else min(width, _fewest(name, how, values)))
        return sum(smallest) + _GAP * (len(columns) - 1)

    for name in spare:
        if name not in columns or least(columns, rows) <= room:
            continue
        gone = len(columns) - 1 - columns[::-1].index(name)  # the right-most of that name
        columns = [c for i, c in enumerate(columns) if i != gone]
        rows = [[v for i, v in enumerate(row) if i != gone] for row in rows]
    return columns, rows


def _positive(columns: str) -> bool:
    """Whether COLUMNS gives a width, as shutil.get_terminal_size reads it."""
    try:
        return int(columns) > 0
    except ValueError:
        return False


def _width_of(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """The cells a table of these columns and rows takes with no cell cut or folded."""
    from rich.cells import cell_len

    widths = [
        max([cell_len(name)] + [cell_len(row[i]) for row in rows]) for i, name in enumerate(columns)
    ]
    return sum(widths) + _GAP * (len(columns) - 1)


def _fewest(name: str, how: Cut, values: Sequence[str]) -> int:
    """The cells a cut column needs to say something: _FEWEST, its heading, and for an
    error its jobctl words and a few of the job's (as _cut_to keeps them)."""
    from rich.cells import cell_len

    fewest = max(_FEWEST, cell_len(name))
    if how == "error":
        words = max((cell_len(error_parts(v)[0]) for v in values), default=0)
        fewest = max(fewest, words + 1 + _FEWEST // 2)
    return fewest


def _fit(
    columns: Sequence[str], rows: Sequence[Sequence[str]], cut: Mapping[str, Cut], room: int
) -> Sequence[Sequence[str]]:
    """The rows with the cells of the `cut` columns cut so that the table fits `room`
    cells. The other columns keep their width; what is left is shared out among the cut
    columns, a column narrower than its share keeping its own width and leaving the rest
    to the others, none cut below what it needs to say something (_fewest) while the room
    allows. When it does not (the spare columns are gone by then: see _drop_spare), they
    share it all the same, down to their headings' width: a cell cut short still leaves
    every row one line, where rich would fold them."""
    from rich.cells import cell_len

    widths = [
        max([cell_len(name)] + [cell_len(row[i]) for row in rows]) for i, name in enumerate(columns)
    ]
    elastic = sorted((i for i, name in enumerate(columns) if name in cut), key=lambda i: widths[i])
    total = sum(widths) + _GAP * (len(columns) - 1)
    if not elastic or total <= room:
        return rows
    room_left = room - (total - sum(widths[i] for i in elastic))

    def shared(floors: Mapping[int, int]) -> dict[int, int]:
        left = room_left
        share: dict[int, int] = {}
        for n, i in enumerate(elastic):
            fair = left // (len(elastic) - n)
            kept = left - sum(min(widths[j], floors[j]) for j in elastic[n + 1 :])
            share[i] = min(widths[i], max(floors[i], min(fair, kept)))
            left -= share[i]
        return share

    share = shared({i: _fewest(columns[i], cut[columns[i]], [r[i] for r in rows]) for i in elastic})
    if sum(share.values()) > room_left:
        share = shared({i: cell_len(columns[i]) for i in elastic})
    return [
        [_cut_to(v, share[i], cut[columns[i]]) if i in share else v for i, v in enumerate(row)]
        for row in rows
    ]


def _cut_to(text: str, width: int, how: Cut) -> str:
    """`text` in at most `width` terminal cells, "…" marking what was left out."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    if how == "end":
        return set_cell_size(text, width - 1).rstrip() + "…"
    head = error_parts(text)[0] if how == "error" else ""
    keep = width - cell_len(head) - 1
    if head and keep < _FEWEST // 2:  # no room for the job's words: jobctl's, then a cut
        return _cut_to(text, width, "end")
    tail = text[len(text) - keep :]  # one character per cell at most: then trimmed to fit
    while cell_len(tail) > keep:
        tail = tail[1:]
    return head + "…" + tail
