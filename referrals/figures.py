"""Figures for funders: per programme, territory (commune, département or région of the
venue) and month — referrals sent, accepted, refused by reason, honoured, cheques
honoured, median days to answer. Every count below ``THRESHOLD`` is suppressed (None),
so that no person can be singled out."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput

from . import states

THRESHOLD = 5
LEVELS = {"commune": ("c.code", "c.name"),
          "departement": ("d.code", "d.name"),
          "region": ("r.code", "r.name")}
LEVEL_LABELS_FR = {"commune": "commune", "departement": "département", "region": "région"}
ACCEPTED_OR_LATER = (states.ACCEPTED, states.ATTENDED, states.NO_SHOW, states.HONOURED)


@dataclass(frozen=True)
class Filters:
    level: str = "departement"
    programme_id: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    @classmethod
    def parse(cls, args) -> Filters:
        errors = {}
        level = args.get("niveau", "departement") or "departement"
        if level not in LEVELS:
            errors["niveau"] = ["Niveau attendu : commune, departement ou region."]
        programme = args.get("programme") or None
        if programme is not None and not str(programme).isdigit():
            errors["programme"] = ["Identifiant de programme attendu (nombre)."]
        dates = {name: parse_day(args, name, errors) for name in ("depuis", "jusqua")}
        if errors:
            raise InvalidInput(errors=errors)
        return cls(level, int(programme) if programme else None, dates["depuis"],
                   dates["jusqua"])


def parse_day(args, name: str, errors: dict) -> dt.date | None:
    """The date of field ``name`` (AAAA-MM-JJ), or None; a French error in ``errors``."""
    value = args.get(name) or None
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        errors[name] = ["Date attendue (AAAA-MM-JJ)."]
        return None


def suppress(value: int | None) -> int | None:
    """A count shown only from THRESHOLD on (0 stays 0: nobody to single out)."""
    if value is None or value == 0:
        return value
    return value if value >= THRESHOLD else None


def protect_parts(parts: dict[str, int], total: int) -> dict[str, int | None]:
    """Suppress small parts of a shown total, and one more part when a single one would
    otherwise be recovered by subtraction (secondary suppression)."""
    shown = {k: suppress(v) for k, v in parts.items()}
    hidden = [k for k, v in shown.items() if v is None]
    if suppress(total) is None:
        return {k: (v if v == 0 else None) for k, v in parts.items()}
    if len(hidden) == 1:
        others = sorted((v, k) for k, v in shown.items() if v)
        if others:
            shown[others[0][1]] = None
    return shown


def figures(session: Session, filters: Filters, programme_ids: list[int] | None = None,
            communes: list[str] | None = None) -> list[dict]:
    """One row per programme × territory × month (Paris time)."""
    code, name = LEVELS[filters.level]
    where = ["TRUE"]
    params: dict = {"accepted": list(ACCEPTED_OR_LATER)}
    if filters.programme_id is not None:
        where.append("o.programme_id = :programme_id")
        params["programme_id"] = filters.programme_id
    if programme_ids is not None:
        where.append("o.programme_id = ANY(:programme_ids)")
        params["programme_ids"] = programme_ids
    if communes is not None:
        where.append("c.code = ANY(:communes)")
        params["communes"] = communes
    if filters.since:
        where.append("o.created_at >= :since")
        params["since"] = filters.since
    if filters.until:
        where.append("o.created_at < :until")
        params["until"] = filters.until + dt.timedelta(days=1)
    rows = session.execute(text(f"""
        SELECT p.id AS programme_id, coalesce(p.name, 'sans pass') AS programme,
               {code} AS code, {name} AS territoire,
               to_char(date_trunc('month', o.created_at AT TIME ZONE 'Europe/Paris'),
                       'YYYY-MM') AS mois,
               count(*) AS envoyees,
               count(*) FILTER (WHERE o.state = ANY(:accepted)) AS acceptees,
               count(*) FILTER (WHERE o.state = 'refused') AS refusees,
               count(*) FILTER (WHERE o.state = 'expired') AS expirees,
               count(*) FILTER (WHERE o.state = 'honoured') AS honorees,
               coalesce(sum(o.cheques_honoured) FILTER (WHERE o.state = 'honoured'), 0)
                   AS cheques_honores,
               count(o.answered_at) AS repondues,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY
                   extract(epoch FROM o.answered_at - o.created_at) / 86400.0)
                   FILTER (WHERE o.answered_at IS NOT NULL) AS delai_median
        FROM orientation o
        JOIN lieu l ON l.id = o.lieu_id
        JOIN commune c ON c.code = l.code_insee
        JOIN departement d ON d.code = c.departement_code
        JOIN region r ON r.code = c.region_code
        LEFT JOIN programme p ON p.id = o.programme_id
        WHERE {' AND '.join(where)}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 5, 2, 4"""), params).mappings().all()
    reasons = _reasons(session, code, where, params)
    result = []
    for row in rows:
        key = (row["programme_id"], row["code"], row["mois"])
        by_reason = protect_parts(
            {label: reasons.get(key, {}).get(reason, 0)
             for reason, label in states.REFUSAL_REASONS.items()}, row["refusees"])
        median = row["delai_median"] if row["repondues"] >= THRESHOLD else None
        result.append({
            "programme": row["programme"], "programme_id": row["programme_id"],
            "niveau": filters.level, "code": row["code"], "territoire": row["territoire"],
            "mois": row["mois"], "envoyees": suppress(row["envoyees"]),
            "acceptees": suppress(row["acceptees"]), "refusees": suppress(row["refusees"]),
            "refusees_par_motif": by_reason, "expirees": suppress(row["expirees"]),
            "honorees": suppress(row["honorees"]),
            "cheques_honores": row["cheques_honores"]
            if suppress(row["honorees"]) is not None else None,
            "delai_median_jours": round(float(median), 1) if median is not None else None,
        })
    return result


def _reasons(session: Session, code: str, where: list[str], params: dict) -> dict:
    out: dict = {}
    for row in session.execute(text(f"""
        SELECT o.programme_id, {code} AS code,
               to_char(date_trunc('month', o.created_at AT TIME ZONE 'Europe/Paris'),
                       'YYYY-MM') AS mois, o.refusal_reason, count(*) AS n
        FROM orientation o
        JOIN lieu l ON l.id = o.lieu_id
        JOIN commune c ON c.code = l.code_insee
        JOIN departement d ON d.code = c.departement_code
        JOIN region r ON r.code = c.region_code
        WHERE o.state = 'refused' AND {' AND '.join(where)}
        GROUP BY 1, 2, 3, 4"""), params):
        out.setdefault((row.programme_id, row.code, row.mois), {})[row.refusal_reason] = row.n
    return out


TABLES = {"commune": ("commune", "c.code"), "departement": ("departement", "d.code"),
          "region": ("region", "r.code")}


def demand_layer(session: Session, level: str, programme_id: int | None = None,
                 simplify: float = 0.005) -> dict:
    """The planner's layer: per territory, referrals per 1,000 inhabitants (the demand
    that reached a venue) and refusals for lack of capacity (the demand that was not
    met); a GeoJSON FeatureCollection (lon/lat), counts below THRESHOLD suppressed."""
    if level not in TABLES:
        raise InvalidInput(errors={"niveau": ["Niveau attendu : commune, departement ou "
                                              "region."]})
    table, key = TABLES[level]
    params: dict = {"tolerance": simplify}
    where = ""
    if programme_id is not None:
        where = "AND o.programme_id = :programme_id"
        params["programme_id"] = programme_id
    rows = session.execute(text(f"""
        WITH counts AS (
            SELECT {key} AS code, count(*) AS envoyees,
                   count(*) FILTER (WHERE o.state = 'refused'
                                    AND o.refusal_reason = 'capacity') AS refus_capacite
            FROM orientation o
            JOIN lieu l ON l.id = o.lieu_id
            JOIN commune c ON c.code = l.code_insee
            JOIN departement d ON d.code = c.departement_code
            JOIN region r ON r.code = c.region_code
            WHERE TRUE {where}
            GROUP BY 1)
        SELECT t.code, t.name, t.population, counts.envoyees, counts.refus_capacite,
               ST_AsGeoJSON(ST_SimplifyPreserveTopology(t.geom, :tolerance), 5) AS geometry
        FROM counts JOIN {table} t ON t.code = counts.code
        ORDER BY t.code"""), params).mappings().all()
    features = []
    for row in rows:
        sent = suppress(row["envoyees"])
        rate = (round(1000 * row["envoyees"] / row["population"], 2)
                if sent is not None and row["population"] else None)
        features.append({
            "type": "Feature",
            "geometry": json.loads(row["geometry"]) if row["geometry"] else None,
            "properties": {"code": row["code"], "nom": row["name"],
                           "population": row["population"], "orientations": sent,
                           "orientations_pour_1000_habitants": rate,
                           "refus_manque_de_place": suppress(row["refus_capacite"])}})
    return {"type": "FeatureCollection", "features": features}
