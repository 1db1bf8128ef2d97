"""``flask coverage fca``: accessibility and coverage computed from files.

``coverage fca`` runs :mod:`coverage.accessibility` on three CSV files so that anyone can check
the figures on any input. Rules for the input files:

- UTF-8, with or without BOM; separator ``,``, ``;`` or tab, chosen as the one whose header
  holds the required columns; other columns are ignored; blank lines are skipped;
- identifiers are kept as text (``01001`` stays ``01001``), surrounding spaces removed, and
  must be unique in DEMAND and SUPPLY;
- numbers are plain decimals (``12``, ``3.5``, ``1e3``), finite and not negative; in a file
  separated by ``;`` a decimal comma (``3,5``) is accepted too, as French spreadsheets write it;
- COSTS may list only the pairs in reach: an absent pair is out of reach. Every id in it must
  exist in DEMAND / SUPPLY. A (demand_id, supply_id) pair listed twice is an error, even with
  the same cost: a repeated pair would count twice in every sum and no rule makes that right;
- a file with no header, or a DEMAND file with no row, is refused; SUPPLY or COSTS with a header
  and no rows are accepted (no venue, or nothing in reach: every index is 0).

Any problem stops the command with a non-zero exit and a French message naming the file, the
line and the column; RESULT.csv is then not written.
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
import numpy as np

from core.cli import CommandError

from . import accessibility

RESULT_COLUMNS = ("demand_id", "2sfca", "e2sfca_step", "e2sfca_gauss", "3sfca",
                  "nearest_supply_id", "nearest_cost_km",
                  "covered_10km", "covered_20km", "covered_30km")
_DELIMITERS = (",", ";", "\t")
# ASCII digits only: float() alone would also take "nan", "inf", "1_000" or Arabic digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class InputError(CommandError):
    """Bad input: a French message on stderr and exit status 1."""


class _UnusualRow(Exception):
    """A row the fast path of the costs reader leaves to the checked path."""


@dataclass
class _Table:
    """A CSV file opened for reading: its header's columns and a row iterator."""

    label: str
    delimiter: str
    columns: dict[str, int]
    stream: IO[str]
    reader: Iterator[list[str]]
    line_offset: int

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number in the file, fields), skipping blank lines."""
        with self.guard():
            for row in self.reader:
                if row and any(field.strip() for field in row):
                    yield self.reader.line_num + self.line_offset, row  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Reading errors as French messages with the line."""
        try:
            yield
        except UnicodeDecodeError as exc:
            line = self.reader.line_num + self.line_offset + 1  # type: ignore[attr-defined]
            raise InputError(f"{self.label}, vers la ligne {line} : le fichier n'est pas "
                             "encodé en UTF-8.") from exc
        except csv.Error as exc:
            line = self.reader.line_num + self.line_offset  # type: ignore[attr-defined]
            raise InputError(f"{self.label}, ligne {line} : CSV illisible ({exc}).") from exc

    def field(self, row: list[str], line: int, column: str) -> str:
        index = self.columns[column]
        value = row[index].strip() if index < len(row) else ""
        if not value:
            raise InputError(f"{self.label}, ligne {line}, colonne « {column} » : "
                             "valeur manquante.")
        return value

    def number(self, row: list[str], line: int, column: str) -> float:
        text = self.field(row, line, column)
        candidate = text
        if self.delimiter == ";" and candidate.count(",") == 1 and "." not in candidate:
            candidate = candidate.replace(",", ".")
        if not _NUMBER.fullmatch(candidate):
            raise InputError(f"{self.label}, ligne {line}, colonne « {column} » : "
                             f"« {text} » n'est pas un nombre.")
        value = float(candidate)
        if not math.isfinite(value):
            raise InputError(f"{self.label}, ligne {line}, colonne « {column} » : "
                             f"« {text} » est hors limites.")
        if value < 0:
            raise InputError(f"{self.label}, ligne {line}, colonne « {column} » : "
                             f"« {text} » est négatif.")
        return value


def _open_table(path: Path, required: tuple[str, ...]) -> _Table:
    label = str(path)
    if not path.is_file():
        raise InputError(f"{label} : fichier introuvable.")
    try:
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{label} : lecture impossible ({exc.strerror}).") from exc
    try:
        header_line = stream.readline()
        skipped = 1
        while header_line and not header_line.strip():
            header_line = stream.readline()
            skipped += 1
    except UnicodeDecodeError as exc:
        stream.close()
        raise InputError(f"{label}, ligne 1 : le fichier n'est pas encodé en UTF-8.") from exc
    if not header_line.strip():
        stream.close()
        raise InputError(f"{label} : le fichier est vide (aucune ligne d'en-tête).")

    best: tuple[str, list[str]] | None = None
    for delimiter in _DELIMITERS:
        names = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
        if all(column in names for column in required):
            best = (delimiter, names)
            break
        if best is None or len(names) > len(best[1]):
            best = (delimiter, names)
    assert best is not None
    delimiter, names = best
    columns: dict[str, int] = {}
    for column in required:
        positions = [i for i, name in enumerate(names) if name == column]
        if not positions:
            stream.close()
            raise InputError(f"{label}, ligne {skipped}, colonne « {column} » : colonne "
                             "absente de l'en-tête (colonnes lues : "
                             f"{', '.join(names) or 'aucune'}).")
        if len(positions) > 1:
            stream.close()
            raise InputError(f"{label}, ligne {skipped}, colonne « {column} » : colonne "
                             "présente plusieurs fois dans l'en-tête.")
        columns[column] = positions[0]
    reader = csv.reader(stream, delimiter=delimiter)
    return _Table(label, delimiter, columns, stream, reader, skipped)


def _read_points(path: Path, id_column: str, value_column: str,
                 what: str) -> tuple[list[str], np.ndarray]:
    """Ids in file order and their values; ids unique."""
    table = _open_table(path, (id_column, value_column))
    ids: list[str] = []
    values = array("d")
    first_line: dict[str, int] = {}
    with table.stream:
        for line, row in table.rows():
            identifier = table.field(row, line, id_column)
            if identifier in first_line:
                raise InputError(f"{table.label}, ligne {line}, colonne « {id_column} » : "
                                 f"{what} « {identifier} » déjà présent ligne "
                                 f"{first_line[identifier]}.")
            first_line[identifier] = line
            values.append(table.number(row, line, value_column))
            ids.append(identifier)
    return ids, np.frombuffer(values, dtype=np.float64)


def _read_costs(path: Path, demand_index: dict[str, int],
                supply_index: dict[str, int]) -> accessibility.Pairs:
    table = _open_table(path, ("demand_id", "supply_id", "cost_km"))
    demand, supply, lines = array("q"), array("q"), array("q")
    cost = array("d")

    def checked(row: list[str], line: int) -> tuple[int, int, float]:
        """The slow path, with the precise message of the first problem of the row."""
        demand_id = table.field(row, line, "demand_id")
        supply_id = table.field(row, line, "supply_id")
        if demand_id not in demand_index:
            raise InputError(f"{table.label}, ligne {line}, colonne « demand_id » : "
                             f"point de demande « {demand_id} » inconnu du fichier de "
                             "demande.")
        if supply_id not in supply_index:
            raise InputError(f"{table.label}, ligne {line}, colonne « supply_id » : "
                             f"lieu « {supply_id} » inconnu du fichier d'offre.")
        return (demand_index[demand_id], supply_index[supply_id],
                table.number(row, line, "cost_km"))

    # Millions of rows: the common case is inlined, anything unusual takes checked().
    i_demand, i_supply, i_cost = (table.columns[c] for c in ("demand_id", "supply_id",
                                                              "cost_km"))
    find_demand, find_supply, is_number = demand_index.get, supply_index.get, _NUMBER.fullmatch
    reader, offset = table.reader, table.line_offset
    with table.stream, table.guard():
        for row in reader:
            line = reader.line_num + offset  # type: ignore[attr-defined]
            try:
                d = find_demand(row[i_demand].strip())
                s = find_supply(row[i_supply].strip())
                text = row[i_cost].strip()
                value = float(text) if is_number(text) else -1.0
                if d is None or s is None or not 0.0 <= value < math.inf:
                    raise _UnusualRow
            except (IndexError, _UnusualRow):
                if not any(field.strip() for field in row):
                    continue  # blank line, as in the other files
                d, s, value = checked(row, line)
            demand.append(d)
            supply.append(s)
            cost.append(value)
            lines.append(line)
            if len(lines) % 1_000_000 == 0:
                click.echo(f"  … {len(lines)} paires lues")
    d = np.frombuffer(demand, dtype=np.int64)
    s = np.frombuffer(supply, dtype=np.int64)
    duplicate = accessibility.duplicate_pair(d, s, len(supply_index))
    if duplicate is not None:
        first, second = duplicate
        demand_ids = list(demand_index)
        supply_ids = list(supply_index)
        raise InputError(
            f"{table.label}, ligne {lines[second]}, colonnes « demand_id », « supply_id » : "
            f"la paire (« {demand_ids[d[second]]} », « {supply_ids[s[second]]} ») figure déjà "
            f"ligne {lines[first]} ; chaque paire ne doit apparaître qu'une fois.")
    return accessibility.make_pairs(d, s, np.frombuffer(cost, dtype=np.float64),
                                    len(demand_index), len(supply_index),
                                    check_duplicates=False)


def _write_result(path: Path, demand_ids: list[str], supply_ids: list[str],
                  result: accessibility.FcaResult) -> None:
    columns = [result.accessibility[name].tolist() for name in accessibility.METHODS]
    nearest = result.nearest_supply.tolist()
    nearest_cost = result.nearest_cost_km.tolist()
    covered = [result.covered[t].tolist() for t in (10.0, 20.0, 30.0)]
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(RESULT_COLUMNS)
            for i, demand_id in enumerate(demand_ids):
                has_nearest = nearest[i] >= 0
                writer.writerow([
                    demand_id,
                    # repr of a Python float is the shortest text that reads back exactly.
                    *(repr(float(column[i])) for column in columns),
                    supply_ids[nearest[i]] if has_nearest else "",
                    repr(float(nearest_cost[i])) if has_nearest else "",
                    *("true" if flags[i] else "false" for flags in covered),
                ])
    except OSError as exc:
        raise InputError(f"{path} : écriture impossible ({exc.strerror}).") from exc


@click.command("fca")
@click.option("--demand", "demand_path", required=True, type=click.Path(path_type=Path),
              help="CSV des points de demande : demand_id et la colonne de poids.")
@click.option("--supply", "supply_path", required=True, type=click.Path(path_type=Path),
              help="CSV des lieux : supply_id et capacity.")
@click.option("--costs", "costs_path", required=True, type=click.Path(path_type=Path),
              help="CSV des coûts : demand_id, supply_id, cost_km (paire absente : hors de "
                   "portée).")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="CSV résultat, une ligne par point de demande.")
@click.option("--weight", default="population", show_default=True,
              help="Colonne de DEMAND utilisée comme poids de la demande.")
def fca_command(demand_path: Path, supply_path: Path, costs_path: Path, out_path: Path,
                weight: str) -> None:
    """Calcule 2SFCA, E2SFCA (paliers, gaussienne), 3SFCA, le lieu le plus proche et la
    couverture à 10, 20 et 30 km pour chaque point de demande, à partir de fichiers CSV."""
    demand_ids, population = _read_points(demand_path, "demand_id", weight, "point de demande")
    if not demand_ids:
        raise InputError(f"{demand_path} : aucun point de demande (fichier sans ligne de "
                         "données).")
    click.echo(f"Demande : {len(demand_ids)} points lus dans {demand_path} "
               f"(poids « {weight} », total {float(population.sum()):g}).")
    supply_ids, capacity = _read_points(supply_path, "supply_id", "capacity", "lieu")
    click.echo(f"Offre : {len(supply_ids)} lieux lus dans {supply_path} "
               f"(capacité totale {float(capacity.sum()):g}).")
    pairs = _read_costs(costs_path, {k: i for i, k in enumerate(demand_ids)},
                        {k: i for i, k in enumerate(supply_ids)})
    beyond = int(np.count_nonzero(pairs.cost_km > 30.0))
    click.echo(f"Coûts : {len(pairs)} paires lues dans {costs_path} "
               f"(dont {beyond} au-delà de 30 km, hors de tout bassin).")

    result = accessibility.compute_all(population, capacity, pairs)
    _write_result(out_path, demand_ids, supply_ids, result)
    covered = [int(result.covered[t].sum()) for t in (10.0, 20.0, 30.0)]
    unreached = int(np.count_nonzero(result.nearest_supply < 0))
    click.echo(f"Résultat : {len(demand_ids)} lignes écrites dans {out_path} ; points couverts "
               f"à 10 km : {covered[0]}, à 20 km : {covered[1]}, à 30 km : {covered[2]} ; "
               f"sans aucun lieu dans le fichier des coûts : {unreached}.")
