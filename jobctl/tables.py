"""Tables for people: rich on a terminal (without colour under NO_COLOR), plain aligned text
when stdout is not a terminal. A terminal's table fits its width: it drops the columns that
say least (`spare`), then cuts long cells (`cut`), and never folds a row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from jobctl.text import clean, error_parts, escape_cut


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
    give_way: Sequence[str] = (),
) -> None:
    """One table. Every cell and the title are cleaned here, so no caller can forget it.

    On a terminal, values as `usual` has them (column -> value: the default queue, priority
    0) are left blank, and only the columns with a value in some row are shown. The columns
    in `cut` (column -> how) give up what the terminal lacks, shared out among them (see
    _fit), so that a wide terminal shows long commands and errors whole and a narrow one
    cuts them rather than folding every row; where even that leaves too little, columns go
    (see _drop_spare). The columns in `give_way` go before any of that, in their order: each
    cut (where `cut` names it) as far as it still says something, then dropped (see
    _give_way): `status`'s WORKER, the same on every row of one worker, is no reason to
    cut the command that tells the rows apart. In such a table the other columns keep their
    width: an id, a worker's or a queue's name, a time folded over lines can be neither
    read nor pasted. A title wider than the table is a line of its own, cut to the
    terminal's width.
    Plain text is for grep and awk: every column, every value, and "-" for an empty cell,
    so that the fields of a line are always the same, aligned by the cells a character
    takes on a terminal (a CJK character or an emoji takes two)."""
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
        from rich.cells import cell_len
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
        fitted = bool(cut or spare or give_way)
        cut = cut or {}
        room = console.width
        if fitted:
            columns, rows = _give_way(columns, rows, cut, give_way, console.width)
            columns, rows = _drop_spare(columns, rows, cut, spare, console.width)
            rows = _fit(columns, rows, cut, console.width)
            # What is left is no wider than the terminal, but where the columns that are
            # never cut (ids, names, times) do not fit even so, the table is wider than the
            # terminal: rich would cut them to "…", which can be neither read nor pasted.
            console.width = max(console.width, _width_of(columns, rows))
        # Text, not str: rich would read "[...]" in stored data as markup.
        heading = Text(title) if title else None
        if title and cell_len(title) > min(room, _width_of(columns, rows)):
            # rich folds a title over lines at the table's width: `stats`'s took two at 80.
            console.print(
                Text(title, style="table.title"), no_wrap=True, overflow="ellipsis", width=room
            )
            heading = None
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
    from rich.cells import cell_len

    def cells(text: str) -> int:
        # Cleaned ASCII text is one cell a character: rich's measure cost `list --limit 0`
        # a third of its time.
        return len(text) if text.isascii() else cell_len(text)

    if title:
        print(title)
    widths = [max([cells(c)] + [cells(r[i]) for r in rows]) for i, c in enumerate(columns)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            v + " " * (w - cells(v)) for v, w in zip(row, widths, strict=True)
        ).rstrip()

    lines = [line(columns), *(line(row) for row in rows)]
    sys.stdout.write("\n".join(lines) + "\n")


# How a cell too long for the terminal is cut: "end" keeps its start (a command, a key),
# "start" keeps its end (a log file's name), "error" keeps jobctl's own words before the
# first ": " ("exit code 3") and the end of what the job wrote, where stderr says most, and
# an error of jobctl's words alone ("exit code 4") whole while the room allows, else its
# start. "name" is cut as "end", but a job type's or a queue's name (at most _NAME_MOST
# cells, no blank) only when nothing else is left to give way: it is the row's identity,
# and `backup-database…` tells a nightly job from a weekly one no better than nothing does
# (an --exec job's command in the same column is cut as "end").
Cut = Literal["end", "start", "error", "name"]

_GAP = 2  # between two columns of a rich table without a box
_FEWEST = 10  # cells a cut column keeps, whatever the terminal: below that it says nothing
_NAME_MOST = 64  # a job type's, a queue's name at its longest; a wider JOB cell is a command
_NOTHING = ("", "0")  # cells that say nothing: a count of none, or no value


def _give_way(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    cut: Mapping[str, Cut],
    first: Sequence[str],
    room: int,
) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
    """The table with the columns in `first`, one at a time in their order, cut (those in
    `cut`, no further than _fewest) or dropped while it is wider than `room`: they give way
    before any other column is cut or dropped."""
    from rich.cells import cell_len

    for name in first:
        over = _width_of(columns, rows) - room
        if over <= 0:
            break
        if name not in columns:
            continue
        at = columns.index(name)
        values = [row[at] for row in rows]
        how = cut.get(name)
        if how is not None:
            width = max([cell_len(name)] + [cell_len(v) for v in values])
            if width - over >= _fewest(name, how, values):
                cells = [_cut_to(v, width - over, how) for v in values]
                return columns, [
                    [cells[n] if i == at else v for i, v in enumerate(row)]
                    for n, row in enumerate(rows)
                ]
        columns = [c for i, c in enumerate(columns) if i != at]
        rows = [[v for i, v in enumerate(row) if i != at] for row in rows]
    return columns, rows


def _drop_spare(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    cut: Mapping[str, Cut],
    spare: Sequence[str],
    room: int,
) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
    """Without the columns that say least, one at a time, while the table would not fit
    `room` cells even with its `cut` columns cut as far as they still say something
    (_fewest): a folded row is two lines for one, and an error cut to "exit code…" tells
    less than the column that gave way. The columns that go, first to last: a `spare` one
    that says nothing in any row (all 0s), another such column (`stats`'s OK of 0, but never
    the first, nor a cut one), then the `spare` ones in their order (kubectl's columns for
    -o wide; a name several columns have takes the right-most first): 30 scheduled jobs
    are not left out to keep a RUNNING of 0. Last, where the table would not fit even with
    every cut column at its floor (_floor), an error column goes: `exit cod…` hides the one
    digit that says something."""
    from rich.cells import cell_len

    def least(
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        floor: Callable[[str, Cut, Sequence[str]], int] = _fewest,
    ) -> int:
        smallest = []
        for i, name in enumerate(columns):
            values = [row[i] for row in rows]
            width = max([cell_len(name)] + [cell_len(v) for v in values])
            how = cut.get(name)
            smallest.append(width if how is None else min(width, floor(name, how, values)))
        return sum(smallest) + _GAP * (len(columns) - 1)

    def without(gone: int) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
        kept = [c for i, c in enumerate(columns) if i != gone]
        return kept, [[v for i, v in enumerate(row) if i != gone] for row in rows]

    pending = list(spare)
    while least(columns, rows) > room:
        gone = _least_telling(columns, rows, cut, pending)
        if gone is None:
            break
        if columns[gone] in pending:
            pending.remove(columns[gone])
        columns, rows = without(gone)
    while least(columns, rows, _floor) > room:
        errors = [i for i, name in enumerate(columns) if cut.get(name) == "error"]
        if not errors:
            break
        columns, rows = without(errors[-1])
    return columns, rows


def _least_telling(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    cut: Mapping[str, Cut],
    spare: Sequence[str],
) -> int | None:
    """The index of the column to go next (see _drop_spare), None when none may."""
    places = {name: len(columns) - 1 - columns[::-1].index(name) for name in columns}
    empty = [
        i
        for i, name in enumerate(columns)
        if i > 0 and rows and name not in cut and all(row[i] in _NOTHING for row in rows)
    ]
    spare_places = [places[name] for name in spare if name in places]
    return next(
        (i for i in spare_places if i in empty),
        empty[-1] if empty else (spare_places[0] if spare_places else None),
    )


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
    """The cells a cut column needs to say something: _FEWEST, its heading; for an error
    its jobctl words and a few of the job's (as _cut_to keeps them), or the whole of an
    error of jobctl's words alone; for a name, the longest name whole."""
    from rich.cells import cell_len

    fewest = max(_FEWEST, cell_len(name))
    if how == "error":
        for value in values:
            words = _own_words(value)
            needs = cell_len(words) + (1 + _FEWEST // 2 if words != value else 0)
            fewest = max(fewest, needs)
    elif how == "name":  # a command in JOB (an --exec job's) has blanks; a name has none
        names = (cell_len(v) for v in values if cell_len(v) <= _NAME_MOST and " " not in v)
        fewest = max([fewest, *names])
    return fewest


def _floor(name: str, how: Cut, values: Sequence[str]) -> int:
    """The fewest cells a cut column is ever cut to: its heading's; for an error, its
    jobctl words up to their number (`exit code 1…`, `exit code 6`), below which it says
    nothing (_drop_spare drops it rather), or _FEWEST for words without one."""
    import re

    from rich.cells import cell_len

    floor = cell_len(name)
    if how != "error":
        return floor
    for value in values:
        number = re.search(r"\d+", _own_words(value).removesuffix(": "))
        if number is None:  # its start, as "end" keeps it
            floor = max(floor, min(cell_len(value), _FEWEST))
        else:  # "exit code 1…" where more follows
            kept = value[: number.end()]
            floor = max(floor, cell_len(kept) + (0 if kept == value else 1))
    return floor


def _own_words(error: str) -> str:
    """jobctl's words in an error: "exit code 3: " before what the job wrote, or the whole
    of an error the job added nothing to ("exit code 4", "timeout after 5s"), which has no
    ": "; "" for an error too long for such words."""
    head, rest = error_parts(error)
    if head:
        return head
    return rest if len(rest) <= _OWN_WORDS_MOST and "\n" not in rest else ""


_OWN_WORDS_MOST = 40  # as error_parts reads them


def _fit(
    columns: Sequence[str], rows: Sequence[Sequence[str]], cut: Mapping[str, Cut], room: int
) -> Sequence[Sequence[str]]:
    """The rows with the cells of the `cut` columns cut so that the table fits `room`
    cells. The other columns keep their width; what is left is shared out among the cut
    columns, a column narrower than its share keeping its own width and leaving the rest
    to the others, none cut below what it needs to say something (_fewest) while the room
    allows. When it does not (the spare columns are gone by then: see _drop_spare), they
    share it all the same, down to their floors (_floor), the names (Cut "name") last: a
    cell cut short still leaves every row one line, where rich would fold them."""
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

    fewest = {i: _fewest(columns[i], cut[columns[i]], [r[i] for r in rows]) for i in elastic}
    lowest = {i: _floor(columns[i], cut[columns[i]], [r[i] for r in rows]) for i in elastic}
    names = {i: fewest[i] if cut[columns[i]] == "name" else lowest[i] for i in elastic}
    for floors in (fewest, names, lowest):  # a name is cut last of all
        share = shared(floors)
        if sum(share.values()) <= room_left:
            break
    return [
        [_cut_to(v, share[i], cut[columns[i]]) if i in share else v for i, v in enumerate(row)]
        for row in rows
    ]


def cut_cells(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells, its start kept, as a table cuts a command."""
    return _cut_to(text, width, "end")


def _cut_to(text: str, width: int, how: Cut) -> str:
    """`text` in at most `width` terminal cells, "…" marking what was left out."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    if how in ("end", "name"):
        start = set_cell_size(text, width - 1)
        return text[: escape_cut(text, len(start))[0]].rstrip() + "…"
    head = error_parts(text)[0] if how == "error" else ""
    if how == "error" and not head:  # jobctl's words alone: "exit co…", never "…de 4"
        return _cut_to(text, width, "end")
    keep = width - cell_len(head) - 1
    if head and keep < _FEWEST // 2:  # no room for the job's words: jobctl's, then a cut
        return _cut_to(text, width, "end")
    tail = text[len(text) - keep :]  # one character per cell at most: then trimmed to fit
    while cell_len(tail) > keep:
        tail = tail[1:]
    return head + "…" + text[escape_cut(text, len(text) - len(tail))[1] :]
