"""Benchmark of the importer: a 20,000-venue standard v1.0.2 file, then the same file again.

    .venv/bin/python bench/import_venues.py [--rows 20000] [--keep]

Targets (issue #3): first import ≤ 20 s; unchanged re-import ≤ 5 s and 0 rows written.
Both runs go through the real command (``flask --app app directory import``) in a
subprocess, against the database of DATABASE_URL (the local ``passerelle`` one by default),
under a source of its own (``bench-import``) that is deleted at the end unless --keep.

Points: when the reference geography is loaded, venues are placed a few hundred metres from
the point-on-surface of real communes (weighted towards populous ones) with their code INSEE
and postal code, so the import's geography checks run for real; without it, at random in
metropolitan France (and the checks are skipped, as the import says).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory.vocabulary import STANDARD_FIELDS  # noqa: E402

SOURCE = "bench-import"
TARGET_IMPORT_S = 20.0
TARGET_REIMPORT_S = 5.0

KINDS = (("Médiathèque", "BIB"), ("Espace France Services", "RFS"), ("Mairie", "MUNI"),
         ("Centre social", "CS"), ("Tiers-lieu numérique", "TIERS_LIEUX"),
         ("Association numérique", "ASSO"), ("Espace public numérique", "EPN"),
         ("CCAS", "CCAS"), ("Mission locale", "ML"))
SERVICES = ("Aide aux démarches administratives", "Maîtrise des outils numériques du quotidien",
            "Insertion professionnelle via le numérique", "Utilisation sécurisée du numérique",
            "Parentalité et éducation avec le numérique", "Loisirs et créations numériques",
            "Compréhension du monde numérique", "Accès internet et matériel informatique")
HOURS = ("Mo-Fr 09:00-12:00,14:00-17:00", "Mo-Fr 09:00-12:00,14:00-18:00; PH off",
         "Tu-Sa 10:00-12:30,14:00-18:00; PH off", "Mo,We,Fr 14:00-17:30",
         "Mo-Th 08:30-12:00,13:30-17:00; Fr 08:30-12:00", "We 14:00-18:00; Sa 10:00-12:00",
         "Mo-Fr 08:45-12:15,13:30-16:45; PH off", "Tu,Th 09:00-12:00",
         "Mo 13:30-17:30; Tu-Fr 09:00-12:00,13:30-17:30", "Sa 09:00-12:00", "")
STREETS = ("rue de la République", "place de la Mairie", "avenue Jean Jaurès", "rue Victor Hugo",
           "rue de l'Église", "place du Marché", "rue Pasteur", "allée des Tilleuls")


def communes(database_url: str) -> list[tuple[str, str, str, float, float, int]]:
    """(code, name, postal code, lon, lat, population) of the loaded communes, if any."""
    import psycopg

    with psycopg.connect(_libpq(database_url)) as connection:
        return connection.execute("""
            SELECT c.code, c.name, min(p.code), ST_X(c.point), ST_Y(c.point),
                   COALESCE(c.population, 0)
            FROM commune c JOIN postal_code p ON p.commune_code = c.code
            WHERE c.point IS NOT NULL AND c.geom IS NOT NULL
            GROUP BY c.code""").fetchall()


def _libpq(url: str) -> str:
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def database_url() -> str:
    from core.config import load_config

    return os.environ.get("DATABASE_URL") or load_config()["DATABASE_URL"]


def generate_file(path: Path, rows: int, places: list, seed: int = 20_260_101) -> None:
    """A valid standard v1.0.2 CSV of ``rows`` venues (deterministic for a seed)."""
    rng = random.Random(seed)
    weights = [max(p[5], 50) ** 0.8 for p in places] if places else None
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(STANDARD_FIELDS)
        for index in range(rows):
            kind, typologie = KINDS[index % len(KINDS)]
            if places:
                code, name, postal, lon, lat, _ = rng.choices(places, weights)[0]
                # within ~200 m of the point on surface: stays in the commune
                lon += rng.uniform(-0.002, 0.002)
                lat += rng.uniform(-0.0015, 0.0015)
            else:
                code, name = "", "Commune"
                postal = f"{rng.randint(1, 95):02d}{rng.randint(0, 999):03d}"
                lon, lat = rng.uniform(-1.0, 6.0), rng.uniform(43.5, 49.5)
            services = rng.sample(SERVICES, rng.randint(1, 4))
            writer.writerow([
                f"bench-{index:06d}",
                f"{rng.randint(10**13, 10**14 - 1)}",
                f"{kind} {name} n° {index}",
                name, postal, code,
                f"{rng.randint(1, 120)} {rng.choice(STREETS)}", "",
                f"{lat:.6f}", f"{lon:.6f}", typologie,
                f"+335{rng.randint(10**7, 10**8 - 1)}",
                f"contact{index}@exemple.fr", f"https://lieu-{index}.exemple.fr",
                rng.choice(HOURS),
                "Accompagnement au numérique pour tous les publics.", "", "Banc d'essai",
                "Fixe", "", f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "|".join(services), rng.choice(("", "Seniors", "Jeunes|Seniors")), "",
                rng.choice(("Gratuit", "Gratuit sous condition", "Payant")),
                rng.choice(("", "France Services", "Conseillers numériques")), "", "",
                rng.choice(("Se présenter", "Téléphoner|Se présenter")),
                rng.choice(("Accompagnement individuel", "Dans un atelier collectif")), "", "",
            ])


def import_command(path: Path, *extra: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "directory", "import",
            str(path), "--source", SOURCE, "--format", "standard-v1-csv", *extra]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(path: Path) -> tuple[float, int, str]:
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(import_command(path), cwd=ROOT, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    print(f"  (processus d'import : {_children_cpu() - cpu:.1f} s de CPU)")
    if done.returncode != 0:
        sys.exit(f"import en échec ({done.returncode}) :\n{done.stdout}\n{done.stderr}")
    match = re.search(r"Lignes écrites : ([\d\u202f]+) en ([\d.]+) s", done.stdout)
    written = int(match.group(1).replace("\u202f", "")) if match else -1
    if match:
        print(f"  (dont lecture, validation et écriture : {float(match.group(2)):.1f} s ; "
              "le reste est le démarrage de l'application)")
    return seconds, written, done.stdout


def delete_source(url: str) -> int:
    import psycopg

    with psycopg.connect(_libpq(url)) as connection:
        return connection.execute("DELETE FROM lieu WHERE source = %s", (SOURCE,)).rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="garder les lieux importés")
    args = parser.parse_args()
    url = database_url()
    print("Charge de la machine (1, 5, 15 min) : "
          + ", ".join(f"{v:.1f}" for v in os.getloadavg()) + f" sur {os.cpu_count()} cœurs")
    places = communes(url)
    print(f"Géographie : {len(places)} communes chargées"
          + ("" if places else " (points au hasard, contrôles géographiques sautés)"))
    delete_source(url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lieux.csv"
        generate_file(path, args.rows, places)
        print(f"Fichier : {args.rows} lieux, {path.stat().st_size / 1e6:.1f} Mo")
        first, written, output = run_import(path)
        print(f"Import initial : {first:.1f} s, {written} lignes écrites "
              f"(cible ≤ {TARGET_IMPORT_S:.0f} s : ratio {first / TARGET_IMPORT_S:.2f})")
        second, rewritten, _ = run_import(path)
        print(f"Réimport inchangé : {second:.1f} s, {rewritten} lignes écrites "
              f"(cible ≤ {TARGET_REIMPORT_S:.0f} s et 0 ligne : ratio "
              f"{second / TARGET_REIMPORT_S:.2f})")
    ok = first <= TARGET_IMPORT_S and second <= TARGET_REIMPORT_S and rewritten == 0
    if not args.keep:
        print(f"Nettoyage : {delete_source(url)} lieux de la source {SOURCE} supprimés")
    print("Résultat : " + ("cibles tenues" if ok else "CIBLES NON TENUES"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
