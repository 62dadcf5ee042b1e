"""The one CSV writer for every export people open in a spreadsheet (the audit log, the sweep's findings,
a batch's detail file, the access review).

Cells hold what people and vendors typed (tickets, names, project names, vendor errors). A spreadsheet runs a
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula (OWASP "CSV Injection"),
so such a cell is written with a leading `'`, which the spreadsheet shows as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One cell as text a spreadsheet will not run: lists joined with `; `, None as empty."""
    text = "; ".join(str(v) for v in value) if isinstance(value, list | tuple) else "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """`csv.writer` with every cell passed through `cell`."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: IO[str]) -> SafeWriter:
    return SafeWriter(out)


def render(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV file as text: the header, then the rows."""
    out = io.StringIO()
    safe = SafeWriter(out)
    safe.writerow(header)
    safe.writerows(rows)
    return out.getvalue()
