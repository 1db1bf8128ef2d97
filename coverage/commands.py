"""``flask coverage …``: coverage from the catalogue (``refresh``, ``suggest``,
``fragility import``) and from files (``fca``, see :mod:`coverage.fca_cli`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core import clock
from core.cli import CommandError
from core.errors import PasserelleError

from .accessibility import DEFAULT_METHOD, METHODS
from .fca_cli import fca_command
from .fragility import FRAGILITY_DEFAULT_COLUMN
from .selection import NEEDS

coverage_cli = AppGroup("coverage", help="Couverture et accessibilité des lieux.")
coverage_cli.add_command(fca_command)


def summarise(values: Iterable[str], limit: int = 8) -> str:
    items = list(values)
    shown = ", ".join(items[:limit])
    return shown + (f"… (+{len(items) - limit})" if len(items) > limit else "")


def _fail(exc: Exception) -> CommandError:
    message = exc.message if isinstance(exc, PasserelleError) else str(exc)
    return CommandError(message)


def _selection_options(function):
    options = [
        click.option("--programme", metavar="CODE",
                     help="Code du programme : seuls les lieux qui l'acceptent aujourd'hui "
                          "(par défaut : tous les lieux ouverts)."),
        click.option("--service", metavar="S",
                     help="Service du standard proposé par le lieu (par défaut : tous)."),
        click.option("--within", default="fr", show_default=True, metavar="TERRITOIRE",
                     help="Territoire étudié : fr, reg:75, dep:33, epci:<SIREN>, "
                          "com:<code INSEE>."),
        click.option("--need", type=click.Choice(NEEDS),
                     default="population", show_default=True,
                     help="Poids de la demande : population, population × taux "
                          "d'illectronisme (15,4 %, × indice de fragilité s'il est importé), "
                          "ou population × indice de fragilité / 100."),
        click.option("--detour", type=float, default=None, metavar="FACTEUR",
                     help="Distance routière ≈ géodésique × ce facteur (par défaut "
                          "PASSERELLE_DETOUR_FACTOR, 1.3)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _detour(value: float | None) -> float:
    return float(current_app.config["PASSERELLE_DETOUR_FACTOR"] if value is None else value)


@coverage_cli.command("refresh")
@_selection_options
@click.option("--method", type=click.Choice(METHODS), default=DEFAULT_METHOD,
              show_default=True,
              help="Indice d'accessibilité utilisé pour l'écart de capacité.")
@click.option("--costs-engine", "engine", type=click.Choice(["python", "sql"]),
              default="python", show_default=True,
              help="Calcul des distances : pyproj sur tableaux, ou PostGIS (ST_DWithin, "
                   "ST_Distance sur l'ellipsoïde).")
def refresh_command(programme, service, within, need, detour, method, engine) -> None:
    """Calcule et enregistre la couverture d'une sélection, agrégée par EPCI, département,
    région et France."""
    from core.text import number_fr as n
    from core.text import share_fr as share
    from extensions import db

    from .refresh import refresh
    from .selection import Selection

    selection = Selection(programme, service, within, need)
    try:
        report = refresh(
            db.session, selection, detour=_detour(detour), method=method, engine=engine,
            today=clock.today(), progress=lambda name: click.echo(f"… {name}", err=True))
        db.session.commit()
    except (PasserelleError, ValueError) as exc:
        db.session.rollback()
        raise _fail(exc) from exc
    click.echo(f"Couverture de {report.territory.name} ({report.territory.code}) — "
               f"programme : {programme or 'tous les lieux ouverts'}, service : "
               f"{service or 'tous'}, besoin : {need}, détour × {report.detour:g}.")
    click.echo(f"Demande : {n(report.communes)} communes, {n(report.population)} habitants, "
               f"besoin {n(report.need)} ; {n(report.ring_communes)} communes au-delà de la "
               "limite prises en compte pour les bassins des lieux frontaliers.")
    if report.without_point:
        click.echo(f"Attention : {n(report.without_point)} communes sans point ni polygone, "
                   "ignorées.")
    if report.without_fragility:
        click.echo(f"Attention : {n(report.without_fragility)} communes sans indice de "
                   "fragilité, comptées à 100 (moyenne).")
    click.echo(f"Offre : {n(report.venues)} lieux ({n(report.supply_points)} points d'accueil"
               f", dont {n(report.stops)} arrêts d'itinérance) ; capacité inconnue pour "
               f"{n(report.unknown_capacity)} lieux, comptée 1 accompagnement par semaine.")
    click.echo(f"Paires commune–lieu à moins de 30 km (coût) : {n(report.pairs)}.")
    for t in (10.0, 20.0, 30.0):
        click.echo(f"Couverts à {t:g} km : {n(report.covered_population[t])} habitants "
                   f"({share(report.covered_population[t], report.population)}), besoin "
                   f"{share(report.covered_need[t], report.need)} ; non couverts : "
                   f"{n(report.population - report.covered_population[t])} habitants.")
    mean = f"{report.reference_mean:.6g}".replace(".", ",")
    click.echo(f"Accessibilité moyenne Ā ({report.method}, référence : {report.reference}) : "
               f"{mean} accompagnement(s) par semaine et par unité de besoin.")
    timings = " ; ".join(f"{name} {seconds:.2f} s".replace(".", ",")
                         for name, seconds in report.timings.items())
    total = f"{sum(report.timings.values()):.2f}".replace(".", ",")
    click.echo(f"Durées : {timings} ; total {total} s.")
    click.echo(f"Calcul n° {report.run_id} enregistré.")


@coverage_cli.command("suggest")
@_selection_options
@click.option("-k", "k", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Nombre de nouveaux sites à proposer.")
@click.option("--radius-km", type=click.FloatRange(1, 60), default=20.0, show_default=True,
              help="Rayon (coût en km) dans lequel un site couvre une commune.")
@click.option("--candidates", type=click.Choice(["townhalls", "venues"]),
              default="townhalls", show_default=True,
              help="Sites candidats : mairies, ou lieux n'acceptant pas encore le programme.")
@click.option("--gap-limit", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Nombre de territoires classés par écart de capacité.")
def suggest_command(programme, service, within, need, detour, k, radius_km, candidates,
                    gap_limit) -> None:
    """Propose k nouveaux sites (glouton, couverture maximale du besoin) et classe les
    territoires où ajouter de la capacité comblerait le plus grand écart."""
    from core.text import number_fr as n
    from core.text import share_fr as share
    from extensions import db

    from .selection import Selection
    from .suggestions import suggest

    if within == "fr" and candidates == "townhalls":
        click.echo("Toute la France : ce calcul prend quelques secondes.")
    try:
        result = suggest(db.session, Selection(programme, service, within, need),
                         k=k, radius_km=radius_km, candidates=candidates,
                         detour=_detour(detour), gap_limit=gap_limit, today=clock.today())
    except (PasserelleError, ValueError) as exc:
        raise _fail(exc) from exc
    base = result["baseline"]
    click.echo(f"{result['within_name']} ({result['within']}) : aujourd'hui "
               f"{n(base['population_covered'])} habitants sur {n(base['population'])} "
               f"couverts à {radius_km:g} km "
               f"({share(base['population_covered'], base['population'])}).")
    if not result["sites"]:
        click.echo("Aucun site candidat ne couvre de nouveau besoin.")
    for site in result["sites"]:
        where = f"{site['commune_name']} ({site['commune_code']})"
        click.echo(f"{site['rank']}. {site['name']} — {where} : "
                   f"+{n(site['newly_covered_population'])} personnes couvertes "
                   f"({n(site['newly_covered_communes'])} communes) ; part couverte ensuite : "
                   f"{share(site['share_population_covered_after'] or 0, 1)}.")
    gaps = result["capacity_gaps"]
    mean = f"{gaps['reference_mean']:.6g}".replace(".", ",")
    click.echo(f"Écarts de capacité par {gaps['level']} (référence {gaps['reference']}, "
               f"Ā = {mean}) :")
    if not gaps["territories"]:
        click.echo("  aucun écart.")
    for item in gaps["territories"]:
        click.echo(f"  {item['rank']}. {item['name']} ({item['code']}) : "
                   f"{n(item['capacity_gap'], 1)} accompagnements par semaine manquants.")


@coverage_cli.group("fragility")
def fragility_cli() -> None:
    """Indice de fragilité numérique (IFN) par commune."""


@fragility_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--column", default=FRAGILITY_DEFAULT_COLUMN, show_default=True,
              help="Colonne du score (100 = moyenne de la zone de référence).")
@click.option("--decoupage-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="PASSERELLE_DECOUPAGE_DIR",
              help="Dossier data/ du paquet npm @etalab/decoupage-administratif, pour "
                   "rattacher les anciens codes aux communes 2026.")
def fragility_import_command(file: Path, column: str, decoupage_dir: Path | None) -> None:
    """Importe l'indice depuis un CSV (code_insee, in_cog2026_as, nb_iris, colonne du score).

    Les codes de communes déléguées, associées et d'arrondissements sont rattachés à leur
    commune 2026 (moyenne pondérée par le nombre d'IRIS) ; les codes absents du COG 2026
    sont ignorés et listés. Remplace tout l'indice en une transaction.
    """
    from core.text import number_fr as n
    from extensions import db

    from . import fragility

    directory = decoupage_dir or Path(current_app.root_path) / fragility.DECOUPAGE_COMMUNES.parent
    if not file.is_file():
        raise CommandError(f"{file} : fichier introuvable.")
    try:
        current, parent = fragility.current_codes(directory / "communes.json")
        report = fragility.read_fragility(file, column, current, parent)
        stored = fragility.store_fragility(db.session, report, column)
        db.session.commit()
    except fragility.FragilityFileError as exc:
        db.session.rollback()
        raise CommandError(str(exc)) from exc
    kinds = ", ".join(f"{label} : {n(count)}" for label, count in sorted(report.by_kind.items()))
    click.echo(f"Indice de fragilité : {n(report.rows)} lignes lues dans {file} "
               f"(colonne « {column} ») ; rattachées : {kinds or 'aucune'}.")
    if report.absent:
        click.echo(f"{n(len(report.absent))} codes absents du COG 2026 ignorés : "
                   f"{summarise(report.absent)}.")
    if report.unmapped:
        click.echo(f"{n(len(report.unmapped))} codes sans commune 2026 connue ignorés : "
                   f"{summarise(report.unmapped)}.")
    if report.without_score:
        click.echo(f"{n(len(report.without_score))} lignes sans score ignorées : "
                   f"{summarise(report.without_score)}.")
    click.echo(f"{n(stored)} communes 2026 enregistrées.")
