"""The digital fragility index (IFN) per commune: read from the published CSV (old commune
codes attached to their 2026 commune, IRIS-weighted), stored whole in one transaction."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .models import FragilityIndex

FRAGILITY_DEFAULT_COLUMN = "SCORE GLOBAL region 1"
DECOUPAGE_COMMUNES = Path("node_modules/@etalab/decoupage-administratif/data/communes.json")


@dataclass
class FragilityImport:
    scores: dict[str, tuple[float, list[str], int]]  # 2026 code -> (score, old codes, IRIS)
    rows: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    without_score: list[str] = field(default_factory=list)


class FragilityFileError(ValueError):
    """A French message about the file (line, column)."""


def current_codes(communes_json: Path) -> tuple[set[str], dict[str, str]]:
    """2026 commune codes, and old code -> 2026 code (delegated, associated communes and
    municipal arrondissements) from @etalab/decoupage-administratif's communes.json."""
    try:
        entries = json.loads(communes_json.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FragilityFileError(f"{communes_json} : lecture impossible ({exc.strerror}) ; "
                                 "installez les paquets npm (npm ci) ou indiquez "
                                 "--decoupage-dir.") from exc
    current = {e["code"] for e in entries if e.get("type") == "commune-actuelle"}
    parent: dict[str, str] = {}
    for e in entries:
        kind = e.get("type")
        if kind in ("commune-deleguee", "commune-associee") and e.get("chefLieu"):
            parent.setdefault(e["code"], e["chefLieu"])
        elif kind == "arrondissement-municipal" and e.get("commune"):
            parent.setdefault(e["code"], e["commune"])
    return current, parent


def read_fragility(path: Path, column: str, current: set[str],
                   parent: dict[str, str]) -> FragilityImport:
    """Scores per 2026 commune: the IRIS-weighted mean of the old codes merged into it."""
    try:
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise FragilityFileError(f"{path} : lecture impossible ({exc.strerror}).") from exc
    report = FragilityImport(scores={})
    sums: dict[str, list] = {}
    with stream:
        sample = stream.readline()
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        header = next(csv.reader([sample], delimiter=delimiter), [])
        header = [h.strip() for h in header]
        for required in ("code_insee", column):
            if required not in header:
                raise FragilityFileError(
                    f"{path}, ligne 1 : colonne « {required} » absente (colonnes lues : "
                    f"{', '.join(header[:8])}…).")
        at = {name: header.index(name) for name in header}
        reader = csv.reader(stream, delimiter=delimiter)
        try:
            for line, row in enumerate(reader, start=2):
                if not row or not any(cell.strip() for cell in row):
                    continue
                report.rows += 1
                code = row[at["code_insee"]].strip().upper().zfill(5)
                kind = (row[at["in_cog2026_as"]].strip() if "in_cog2026_as" in at
                        and at["in_cog2026_as"] < len(row) else "")
                raw = row[at[column]].strip() if at[column] < len(row) else ""
                if not raw:
                    report.without_score.append(code)
                    continue
                try:
                    score = float(raw.replace(",", ".") if delimiter == ";" else raw)
                except ValueError as exc:
                    raise FragilityFileError(
                        f"{path}, ligne {line}, colonne « {column} » : « {raw} » n'est "
                        "pas un nombre.") from exc
                if not math.isfinite(score) or score < 0:
                    raise FragilityFileError(f"{path}, ligne {line}, colonne « {column} » : "
                                             f"« {raw} » est hors limites.")
                if kind == "absent":
                    report.absent.append(code)
                    continue
                target = parent.get(code, code) if code not in current else code
                if target not in current:
                    report.unmapped.append(code)
                    continue
                iris_raw = row[at["nb_iris"]].strip() if "nb_iris" in at else ""
                iris = int(iris_raw) if iris_raw.isdigit() and int(iris_raw) > 0 else 1
                label = kind or ("commune-actuelle" if target == code else "rattachée")
                report.by_kind[label] = report.by_kind.get(label, 0) + 1
                entry = sums.setdefault(target, [0.0, 0, []])
                entry[0] += score * iris
                entry[1] += iris
                entry[2].append(code)
        except csv.Error as exc:
            raise FragilityFileError(f"{path} : CSV illisible ({exc}).") from exc
    report.scores = {code: (total / iris, codes, iris)
                     for code, (total, iris, codes) in sums.items()}
    return report


def store_fragility(session: Session, report: FragilityImport, column: str) -> int:
    """Replace the whole index (one transaction, the caller commits)."""
    session.execute(delete(FragilityIndex))
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(
            "COPY fragility_index (commune_code, score, source_codes, iris, column_name) "
            "FROM STDIN") as copy:
        for code in sorted(report.scores):
            score, codes, iris = report.scores[code]
            copy.write_row((code, score, json.dumps(codes), iris, column))
    return len(report.scores)
