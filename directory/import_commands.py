"""``flask --app app directory import`` and ``… directory export``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from core import clock
from core.text import number_fr as _n
from directory.commands import CommandError, directory_cli
from directory.importer.report import CANDIDATE, WARNING, format_problem

MAX_PRINTED_ERRORS = 50
MAX_PRINTED_CANDIDATES = 30
IMPORT_FORMATS = ("standard-v1-csv", "standard-v1-json", "standard-v0-json",
                  "standard-v0-csv")


@directory_cli.command("import")
@click.argument("location", metavar="FICHIER_OU_URL")
@click.option("--source", required=True,
              help="Nom stable de la source (clé d'import avec l'id de chaque lieu).")
@click.option("--format", "fmt", default=None,
              help="standard-v1-csv | standard-v1-json | standard-v0-json | standard-v0-csv "
                   "| mapping:FICHIER.toml (défaut : d'après l'extension, standard v1).")
@click.option("--programme", default=None,
              help="Code du programme dont « Accepte le Pass numérique » / APTIC (v0.1) "
                   "devient une acceptation.")
@click.option("--dry-run", is_flag=True, help="Tout vérifier, ne rien écrire.")
@click.option("--report", "report_path", default=None,
              help="Écrire le rapport (ligne, champ, niveau, motif) dans ce fichier CSV.")
@click.option("--complete-snapshot", is_flag=True,
              help="Le fichier est complet : fermer les lieux de la source qui n'y sont plus.")
def import_command(location, source, fmt, programme, dry_run, report_path, complete_snapshot):
    """Importe un fichier de lieux (standard national ou format local) en une transaction."""
    from directory.importer.report import write_csv
    from directory.importer.service import ImportFailed, run_import
    from extensions import db

    geocoder = current_app.extensions.get("geocoder")
    try:
        outcome = run_import(db.engine, location, source, fmt=fmt, programme=programme,
                             dry_run=dry_run, complete_snapshot=complete_snapshot,
                             geocoder=geocoder, today=clock.today())
    except ImportFailed as exc:
        raise CommandError(str(exc)) from exc
    except SQLAlchemyError as exc:  # e.g. statement timeout, server gone: rolled back
        reason = type(getattr(exc, "orig", exc)).__name__
        raise CommandError(f"la base a interrompu l'import ({reason}) : rien n'a été "
                           "écrit.") from exc
    report = outcome.report
    if report_path:
        with open(report_path, "w", encoding="utf-8", newline="") as out:
            write_csv(report, out)

    click.echo(f"Lecture : {_n(outcome.rows_read)} ligne(s) ({outcome.fmt}).")
    click.echo(f"Validation : {_n(outcome.valid)} lieu(x) valide(s), "
               f"{_n(outcome.rejected)} ligne(s) rejetée(s), "
               f"{_n(report.count(WARNING))} avertissement(s).")
    _summarise_warnings(report)
    candidates = report.of_level(CANDIDATE)
    if candidates:
        click.echo(f"Candidats à l'acceptation d'un programme : {_n(len(candidates))}")
        for problem in candidates[:MAX_PRINTED_CANDIDATES]:
            click.echo("  " + format_problem(problem))
        if len(candidates) > MAX_PRINTED_CANDIDATES:
            click.echo(f"  … et {_n(len(candidates) - MAX_PRINTED_CANDIDATES)} autre(s) "
                       "(voir --report).")
    if report_path:
        click.echo(f"Rapport : {report_path} ({_n(len(report.problems))} ligne(s)).")
    errors = report.errors
    if errors:
        for problem in errors[:MAX_PRINTED_ERRORS]:
            click.echo(format_problem(problem), err=True)
        if len(errors) > MAX_PRINTED_ERRORS:
            click.echo(f"… et {_n(len(errors) - MAX_PRINTED_ERRORS)} autre(s) erreur(s) "
                       "(voir --report).", err=True)
        lines = sorted({p.line for p in errors if p.line is not None})
        shown = ", ".join(str(line) for line in lines[:20]) + (" …" if len(lines) > 20 else "")
        where = f" (ligne(s) {shown})" if lines else ""
        raise CommandError(f"fichier rejeté : {_n(len(errors))} erreur(s){where} ; "
                           "rien n'a été écrit.")
    result = outcome.write
    assert result is not None
    if not result.geography:
        click.echo("Géographie absente (flask --app app geodata load) : code INSEE, "
                   "code postal déduit et contrôle des communes non faits.")
    click.echo(f"Écriture : {_n(result.inserted)} créé(s), {_n(result.updated)} mis à jour, "
               f"{_n(result.unchanged)} inchangé(s), {_n(result.closed)} fermé(s), "
               f"{_n(result.acceptances)} acceptation(s) de programme.")
    click.echo(f"Contrôles : {_n(result.geocoded)} géocodé(s) (précision commune ou code "
               f"postal), {_n(result.insee_filled)} code(s) INSEE déduit(s) du point, "
               f"{_n(result.outside_commune)} point(s) hors de leur commune, "
               f"{_n(result.duplicates_flagged)} doublon(s) probable(s) signalé(s).")
    if dry_run:
        click.echo(f"Simulation (--dry-run) : rien n'a été écrit "
                   f"({_n(result.rows_written)} ligne(s) l'auraient été).")
    else:
        click.echo(f"Lignes écrites : {_n(result.rows_written)} en {outcome.seconds:.1f} s.")


def _summarise_warnings(report) -> None:
    """Warnings by field, with one example each (the full list is in --report)."""
    by_field: Counter = Counter()
    example: dict = {}
    for problem in report.problems:
        if problem.level == WARNING:
            by_field[problem.field or "(ligne)"] += 1
            example.setdefault(problem.field or "(ligne)", problem)
    for field_name, count in by_field.most_common():
        click.echo(f"  {_n(count)} × {field_name} — ex. {format_problem(example[field_name])}")


@directory_cli.command("export")
@click.option("--format", "fmt", required=True,
              type=click.Choice(["standard-v1-csv", "standard-v1-json", "geojson",
                                 "data-inclusion"]),
              help="Format de sortie.")
@click.option("--source", default=None, help="Seulement les lieux de cette source.")
@click.option("--out", "out_path", default=None, help="Fichier de sortie (défaut : sortie "
                                                      "standard).")
@click.option("--no-extensions", is_flag=True,
              help="Sans les colonnes d'extension x_… (standard strict).")
def export_command(fmt, source, out_path, no_extensions):
    """Exporte les lieux ouverts (standard v1.0.2, GeoJSON ou data·inclusion)."""
    from directory.exporter import export
    from extensions import db

    with db.engine.connect() as connection:
        if out_path:
            path = Path(out_path)
            if not path.parent.exists():
                raise CommandError(f"dossier introuvable : {path.parent}")
            with open(path, "w", encoding="utf-8", newline="") as out:
                count = export(connection, fmt, out, source, extensions=not no_extensions,
                               today=clock.today())
            click.echo(f"{_n(count)} lieu(x) exporté(s) dans {out_path} ({fmt}).")
        else:
            count = export(connection, fmt, click.get_text_stream("stdout"), source,
                           extensions=not no_extensions, today=clock.today())
            click.echo(f"{_n(count)} lieu(x) exporté(s) ({fmt}).", err=True)

