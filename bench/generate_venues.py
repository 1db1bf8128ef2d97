"""Benchmark catalogue: N fictional venues over France, placed in communes in proportion to
their population, deterministic for a given seed.

    .venv/bin/python bench/generate_venues.py [--count 20000] [--seed 1] --out venues.csv
    .venv/bin/python bench/generate_venues.py --count 1000000 --load [--source bench]

``--out`` writes a standard "Lieux de médiation numérique" v1.0.2 CSV (import it with
``flask --app app directory import FILE --source NAME``); ``--load`` writes the venues
straight into the ``lieu`` table (COPY, one transaction; the rows of that source are replaced),
with their opening hours already normalised, for the matching and coverage benchmarks.

Needs the reference geography (``flask --app app geodata load``), read from the database of
DATABASE_URL (the local ``passerelle`` database by default). Every venue has valid OSM hours,
services of the standard, a weekly capacity (10 % unknown), and a point a short distance
from its commune's town hall (the first venue of a commune exactly at it).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory.vocabulary import STANDARD_FIELDS, STANDARD_LIST_FIELDS  # noqa: E402


def read_communes(connection) -> list[tuple]:
    """(code, name, population, postal code, lon, lat) of every commune with a point."""
    rows = connection.exec_driver_sql(
        "SELECT c.code, c.name, COALESCE(c.population, 0), "
        "(SELECT min(p.code) FROM postal_code p WHERE p.commune_code = c.code), "
        "ST_X(COALESCE(c.town_hall_point, c.point)), ST_Y(COALESCE(c.town_hall_point, c.point)) "
        "FROM commune c WHERE COALESCE(c.town_hall_point, c.point) IS NOT NULL "
        "ORDER BY c.code").all()
    return [row for row in rows if row[3] is not None]


def generate(communes: list[tuple], count: int, seed: int, source_name: str):
    """Yield ``count`` venues as dicts of the standard's fields (strings, ``|`` lists)."""
    from directory.demo import HOURS, luhn_siret, pick_typology, presentation, slug, venue_profile
    from directory.vocabulary import french_area_of

    rng = random.Random(seed)
    weights = [max(population, 50) for _, _, population, _, _, _ in communes]
    chosen = rng.choices(range(len(communes)), weights=weights, k=count)
    per_commune: dict[int, int] = {}
    hours_keys = sorted(HOURS)
    for number, index in enumerate(chosen, start=1):
        code, name, population, postal_code, lon, lat = communes[index]
        rank = per_commune.get(index, 0)
        per_commune[index] = rank + 1
        if rank:
            radius = 0.004 + min(0.03, population / 3_000_000)
            for _ in range(10):
                x = round(lon + rng.uniform(-radius, radius) * 1.4, 6)
                y = round(lat + rng.uniform(-radius, radius), 6)
                if french_area_of(x, y):
                    break
            else:
                x, y = lon, lat
        else:
            x, y = lon, lat
        village = population < 3000
        typology = pick_typology(rng, village)
        profile = venue_profile(rng, typology, name, village, rank)
        if rng.random() < 0.3:
            profile["horaires"] = HOURS[rng.choice(hours_keys)]
        services = profile["services"]
        nom = profile["nom"]
        yield {
            "id": f"{source_name}-{number:07d}",
            "pivot": luhn_siret(rng),
            "nom": nom,
            "commune": name,
            "code_postal": postal_code,
            "code_insee": code,
            "adresse": f"{rng.randint(1, 120)} rue de la République",
            "complement_adresse": "",
            "latitude": f"{y:.6f}",
            "longitude": f"{x:.6f}",
            "typologie": typology,
            "telephone": f"+33{rng.randint(100_000_000, 999_999_999)}",
            "courriels": f"contact.{slug(nom)[:30]}@example.org",
            "site_web": "",
            "horaires": profile["horaires"],
            "presentation_resume": presentation(services),
            "presentation_detail": "",
            "source": "Passerelle (banc d'essai)",
            "itinerance": "Fixe",
            "structure_parente": "",
            "date_maj": (dt.date(2026, 9, 1) - dt.timedelta(days=rng.randint(0, 700))).isoformat(),
            "services": "|".join(services),
            "publics_specifiquement_adresses": "|".join(
                profile["publics_specifiquement_adresses"]),
            "prise_en_charge_specifique": "|".join(profile["prise_en_charge_specifique"]),
            "frais_a_charge": rng.choice(("Gratuit", "Gratuit", "Gratuit sous condition")),
            "dispositif_programmes_nationaux": "France Services" if typology == "MSAP" else "",
            "formations_labels": "",
            "autres_formations_labels": "",
            "modalites_acces": "Se présenter|Téléphoner",
            "modalites_accompagnement": "Accompagnement individuel|Dans un atelier collectif",
            "fiche_acces_libre": "",
            "prise_rdv": "",
            # Not in the standard: used by --load only.
            "_weekly_capacity": None if rng.random() < 0.1 else rng.randint(4, 60),
        }


def write_csv(rows, path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=STANDARD_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _multirange(intervals: list[tuple[int, int]]) -> str:
    return "{" + ",".join(f"[{a},{b})" for a, b in intervals) + "}"


def load(engine, rows, source: str) -> int:
    """COPY the venues into a staging table, then replace the source's rows in ``lieu``."""
    from directory import hours as hours_module

    weekly: dict[tuple[str, str], str] = {}
    staged = ["source_id", *[f for f in STANDARD_FIELDS if f not in ("id", "source")],
              "source_donnees", "timezone", "opening_week", "weekly_capacity"]
    raw = engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        columns = ", ".join(f"{c} text" for c in staged)
        cursor.execute(f"CREATE TEMP TABLE bench_venue ({columns}) ON COMMIT DROP")
        with cursor.copy(f"COPY bench_venue ({', '.join(staged)}) FROM STDIN") as copy:
            for row in rows:
                tz = hours_module.timezone_for_code_insee(row["code_insee"])
                key = (row["horaires"], tz)
                if key not in weekly:
                    weekly[key] = _multirange(hours_module.weekly_intervals(
                        hours_module.parse(row["horaires"], tz)))
                values = dict(row)
                values["source_id"] = row["id"]
                values["source_donnees"] = row["source"]
                values["timezone"] = tz
                values["opening_week"] = weekly[key]
                values["weekly_capacity"] = row["_weekly_capacity"]
                copy.write_row([values[c] if values[c] not in ("",) else None for c in staged])
                count += 1
                if count % 100_000 == 0:
                    print(f"  {count} lieux copiés…", flush=True)
        lists = {f: f"COALESCE(string_to_array(NULLIF({f}, ''), '|'), '{{}}')"
                 for f in STANDARD_LIST_FIELDS}
        select_list = []
        target = []
        for column in ("source_id", "pivot", "nom", "commune", "code_postal", "code_insee",
                       "adresse", "complement_adresse", *STANDARD_LIST_FIELDS, "horaires",
                       "presentation_resume", "presentation_detail", "source_donnees",
                       "structure_parente", "fiche_acces_libre", "prise_rdv", "timezone"):
            target.append(column)
            select_list.append(lists.get(column, column))
        target += ["source", "date_maj", "geom", "location_precision", "horaires_osm",
                   "horaires_valides", "opening_week", "weekly_capacity", "flags"]
        select_list += ["%(source)s", "date_maj::date",
                        "ST_SetSRID(ST_MakePoint(longitude::float8, latitude::float8), 4326)",
                        "'address'", "horaires", "true", "opening_week::int4multirange",
                        "weekly_capacity::int", "'[]'::jsonb"]
        cursor.execute("DELETE FROM lieu WHERE source = %(source)s", {"source": source})
        deleted = cursor.rowcount
        cursor.execute(f"INSERT INTO lieu ({', '.join(target)}) "
                       f"SELECT {', '.join(select_list)} FROM bench_venue", {"source": source})
        raw.commit()
        print(f"{deleted} lieux « {source} » remplacés.")
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="nombre de lieux (20000)")
    parser.add_argument("--seed", type=int, default=1, help="graine (1)")
    parser.add_argument("--out", type=Path, help="fichier CSV du standard v1.0.2 à écrire")
    parser.add_argument("--load", action="store_true", help="charger dans la table lieu")
    parser.add_argument("--source", default="bench", help="source des lieux chargés (bench)")
    args = parser.parse_args(argv)
    if not args.out and not args.load:
        parser.error("indiquez --out FICHIER.csv et/ou --load")
    if args.count <= 0:
        parser.error("--count doit être positif")

    from app import create_app
    from extensions import db

    app = create_app()
    with app.app_context():
        with db.engine.connect() as connection:
            communes = read_communes(connection)
        if not communes:
            print("La géographie n'est pas chargée : lancez « flask --app app geodata load ».",
                  file=sys.stderr)
            return 1
        started = time.perf_counter()
        if args.out:
            written = write_csv(generate(communes, args.count, args.seed, args.source), args.out)
            print(f"{written} lieux écrits dans {args.out} "
                  f"en {time.perf_counter() - started:.1f} s ({len(communes)} communes).")
        if args.load:
            started = time.perf_counter()
            loaded = load(db.engine, generate(communes, args.count, args.seed, args.source),
                          args.source)
            print(f"{loaded} lieux chargés (source « {args.source} ») "
                  f"en {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
