"""What an import found: one problem per (line, field, reason), in French."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TextIO

from core.spreadsheet import neutralise_cell

ERROR = "erreur"        # the row is rejected, so the file is not written
WARNING = "avertissement"  # the row is written, the problem is reported (and often flagged)
CANDIDATE = "candidat"  # a hint that needs a human decision (e.g. an acceptance candidate)
INFO = "info"
CONFLICT = "conflit"    # an imported value not applied: the venue's manager edited it


@dataclass(frozen=True)
class Problem:
    line: int | None       # line in the file (1 = header of a CSV), None for the whole file
    field: str | None      # standard field name (or source column) concerned
    reason: str            # French, for the person who fixes the file
    level: str = ERROR
    source_id: str | None = None


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    source: str | None = None  # the import source, written in each CSV row

    def add(self, line: int | None, field_name: str | None, reason: str, level: str = ERROR,
            source_id: str | None = None) -> None:
        self.problems.append(Problem(line, field_name, reason, level, source_id))

    def extend(self, problems: list[Problem]) -> None:
        self.problems.extend(problems)

    def of_level(self, level: str) -> list[Problem]:
        return [p for p in self.problems if p.level == level]

    @property
    def errors(self) -> list[Problem]:
        return self.of_level(ERROR)

    @property
    def rejected_lines(self) -> list[int | None]:
        return sorted({p.line for p in self.errors}, key=lambda v: (v is None, v or 0))

    def count(self, level: str) -> int:
        return sum(1 for p in self.problems if p.level == level)

    def sorted(self) -> list[Problem]:
        order = {ERROR: 0, WARNING: 1, CONFLICT: 2, CANDIDATE: 3, INFO: 4}
        return sorted(self.problems,
                      key=lambda p: (p.line is not None, p.line or 0, order.get(p.level, 9)))


CSV_HEADER = ("ligne", "identifiant", "champ", "niveau", "motif", "source")


def write_csv(report: Report, out: TextIO) -> int:
    """Write the report as CSV (UTF-8, `,`); returns the number of problems written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    rows = report.sorted()
    for p in rows:
        writer.writerow([p.line if p.line is not None else "", p.source_id or "",
                         p.field or "", p.level, neutralise_cell(p.reason),
                         neutralise_cell(report.source or "")])
    return len(rows)


def format_problem(p: Problem) -> str:
    where = f"ligne {p.line}" if p.line is not None else "fichier"
    if p.source_id:
        where += f" (id {p.source_id})"
    what = f", champ « {p.field} »" if p.field else ""
    return f"{p.level} — {where}{what} : {p.reason}"


def to_csv_text(report: Report) -> str:
    buffer = io.StringIO()
    write_csv(report, buffer)
    return buffer.getvalue()


