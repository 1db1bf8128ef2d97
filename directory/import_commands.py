"""``flask --app app directory import`` and ``… directory export``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from core import clock
from core.cli import database_error
from core.text import number_fr as _n
from directory.commands import CommandError, directory_cli
from directory.importer.report import CANDIDATE, CONFLICT, WARNING, format_problem

MAX_PRINTED_ERRORS = 50
MAX_PRINTED_CANDIDATES = 30
IMPORT_FORMATS = ("standard-v1-csv", "standard-v1-json", "standard-v0-json",
                  "standard-v0-csv")


class ImportGroup(click.Group):
    """``directory import FICHIER …`` imports; ``directory import runs`` and
    ``directory import undo N`` list and undo runs (any other first word is a file)."""

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name in self.commands and name != DEFAULT_SUBCOMMAND:
            return name, self.commands[name], args[1:]
        return DEFAULT_SUBCOMMAND, self.commands[DEFAULT_SUBCOMMAND], args


DEFAULT_SUBCOMMAND = "fichier"


@directory_cli.group("import", cls=ImportGroup, invoke_without_command=False,
                     context_settings={"ignore_unknown_options": True})
def import_group():
    """Importe un fichier de lieux : « directory import FICHIER --source NOM … »
    (voir « directory import fichier --help ») ; « directory import runs » liste les
    imports, « directory import undo N » annule l'import n° N."""


@import_group.command(DEFAULT_SUBCOMMAND, hidden=True)
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
@click.option("--confirm-closures", type=click.IntRange(min=0), default=None,
              help="Nombre exact de lieux que --complete-snapshot va fermer (obligatoire "
                   "au-delà de --max-closure-share).")
@click.option("--max-closure-share", type=click.FloatRange(0, 100), default=20.0,
              show_default=True,
              help="Part (en %) des lieux ouverts de la source qu'un import complet peut "
                   "fermer sans --confirm-closures.")
@click.option("--skip-invalid", is_flag=True,
              help="Écrire les lignes valides et mettre les autres en quarantaine (par défaut "
                   "tout ou rien).")
@click.option("--quarantine", "quarantine_path", default=None,
              help="Fichier des lignes rejetées, au format d'origine avec leur motif "
                   "(défaut avec --skip-invalid : FICHIER.quarantaine.csv|json).")
@click.option("--by", "by_user", default=None,
              help="Auteur de l'import enregistré (défaut : l'utilisateur du système).")
def import_command(location, source, fmt, programme, dry_run, report_path, complete_snapshot,
                   confirm_closures, max_closure_share, skip_invalid, quarantine_path,
                   by_user):
    """Importe un fichier de lieux (standard national ou format local) en une transaction."""
    from directory.importer.report import write_csv
    from directory.importer.service import ImportFailed, run_import
    from extensions import db

    geocoder = current_app.extensions.get("geocoder")
    if skip_invalid and quarantine_path is None and "://" not in location:
        suffix = "json" if location.lower().endswith(".json") else "csv"
        quarantine_path = f"{location.rsplit('.', 1)[0]}.quarantaine.{suffix}"
    if quarantine_path and not Path(quarantine_path).resolve().parent.is_dir():
        raise CommandError(f"dossier introuvable pour la quarantaine : {quarantine_path}")
    try:
        outcome = run_import(db.engine, location, source, fmt=fmt, programme=programme,
                             dry_run=dry_run, complete_snapshot=complete_snapshot,
                             geocoder=geocoder, today=clock.today(),
                             skip_invalid=skip_invalid, quarantine=quarantine_path,
                             by_user=by_user, confirm_closures=confirm_closures,
                             max_closure_share=max_closure_share / 100)
    except ImportFailed as exc:
        raise CommandError(str(exc)) from exc
    except SQLAlchemyError as exc:  # e.g. statement timeout, server gone: rolled back
        error = database_error(exc, db.engine.url.render_as_string(hide_password=True))
        if error is not None:
            raise CommandError(f"import interrompu, rien n'a été écrit : {error.message}") \
                from exc
        reason = type(getattr(exc, "orig", exc)).__name__
        raise CommandError(f"la base a interrompu l'import ({reason}) : rien n'a été "
                           "écrit.") from exc
    report = outcome.report
    if report_path:
        with open(report_path, "w", encoding="utf-8", newline="") as out:
            write_csv(report, out)

    if outcome.format_note:
        click.echo(outcome.format_note.capitalize() + ".")
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
    conflicts = report.of_level(CONFLICT)
    if conflicts:
        click.echo(f"Conflits avec les modifications des gestionnaires (valeur importée non "
                   f"appliquée) : {_n(len(conflicts))}")
        for problem in conflicts[:MAX_PRINTED_CANDIDATES]:
            click.echo("  " + format_problem(problem))
    if report_path:
        click.echo(f"Rapport : {report_path} ({_n(len(report.problems))} ligne(s)).")
    errors = report.errors
    if errors and outcome.write is not None and skip_invalid:
        click.echo(f"Lignes rejetées (--skip-invalid) : {_n(outcome.rejected)}, mises en "
                   f"quarantaine dans {quarantine_path} ({_n(outcome.quarantined)} ligne(s)).")
        for problem in errors[:MAX_PRINTED_ERRORS]:
            click.echo("  " + format_problem(problem))
    elif errors:
        for problem in errors[:MAX_PRINTED_ERRORS]:
            click.echo(format_problem(problem), err=True)
        if len(errors) > MAX_PRINTED_ERRORS:
            click.echo(f"… et {_n(len(errors) - MAX_PRINTED_ERRORS)} autre(s) erreur(s) "
                       "(voir --report).", err=True)
        lines = sorted({p.line for p in errors if p.line is not None})
        shown = ", ".join(str(line) for line in lines[:20]) + (" …" if len(lines) > 20 else "")
        where = f" (ligne(s) {shown})" if lines else ""
        run = f" (import n° {outcome.run_id} enregistré comme rejeté)" if outcome.run_id \
            else ""
        raise CommandError(f"fichier rejeté : {_n(len(errors))} erreur(s){where} ; "
                           f"rien n'a été écrit{run}.")
    result = outcome.write
    assert result is not None
    if not result.geography:
        click.echo("Géographie absente (flask --app app geodata load) : code INSEE, "
                   "code postal déduit et contrôle des communes non faits.")
    click.echo(f"Écriture : {_n(result.inserted)} créé(s), {_n(result.updated)} mis à jour, "
               f"{_n(result.unchanged)} inchangé(s), {_n(result.closed)} fermé(s), "
               f"{_n(result.acceptances)} acceptation(s) de programme.")
    click.echo(f"Contrôles : {_n(result.geocoded)} géocodé(s) (précision commune ou code "
               f"postal), {_n(result.insee_filled)} code(s) INSEE déduit(s) (du point ou de "
               f"la commune déclarée), "
               f"{_n(result.outside_commune)} point(s) hors de leur commune, "
               f"{_n(result.duplicates_flagged)} doublon(s) probable(s) signalé(s).")
    if dry_run:
        click.echo(f"Simulation (--dry-run) : rien n'a été écrit "
                   f"({_n(result.rows_written)} ligne(s) l'auraient été).")
    else:
        click.echo(f"Lignes écrites : {_n(result.rows_written)} en {outcome.seconds:.1f} s "
                   f"(import n° {outcome.run_id} ; « directory import undo "
                   f"{outcome.run_id} » pour l'annuler).")


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
@click.option("--with-extensions", "extensions", is_flag=True,
              help="Ajouter nos colonnes x_… (programmes acceptés, précision de la position, "
                   "signalements) : relues à l'import, rien n'est perdu ; sans elles (défaut), "
                   "le standard strict.")
@click.option("--no-extensions", is_flag=True, hidden=True,
              help="Sans les colonnes d'extension (le défaut ; gardé pour les scripts).")
def export_command(fmt, source, out_path, extensions, no_extensions):
    """Exporte les lieux ouverts (standard v1.0.2, GeoJSON ou data·inclusion)."""
    from directory.exporter import export
    from extensions import db

    with db.engine.connect() as connection:
        if out_path:
            path = Path(out_path)
            if not path.parent.exists():
                raise CommandError(f"dossier introuvable : {path.parent}")
            with open(path, "w", encoding="utf-8", newline="") as out:
                count = export(connection, fmt, out, source, extensions=extensions,
                               today=clock.today())
            click.echo(f"{_n(count)} lieu(x) exporté(s) dans {out_path} ({fmt}).")
        else:
            count = export(connection, fmt, click.get_text_stream("stdout"), source,
                           extensions=extensions, today=clock.today())
            click.echo(f"{_n(count)} lieu(x) exporté(s) ({fmt}).", err=True)



COUNT_LABELS = {"lues": "lues", "valides": "valides", "rejetees": "rejetées",
                "creees": "créés", "mises_a_jour": "mis à jour", "inchangees": "inchangés",
                "fermees": "fermés", "acceptations": "acceptations"}


@import_group.command("runs")
@click.option("--source", default=None, help="Seulement les imports de cette source.")
@click.option("--limit", type=click.IntRange(1, 1000), default=30, show_default=True,
              help="Nombre d'imports affichés (les plus récents d'abord).")
def runs_command(source, limit):
    """Liste les imports : numéro, date, auteur, source, statut, empreinte, comptes."""
    from directory.importer.runs import STATUS_FR, list_runs
    from extensions import db

    with db.engine.connect() as connection:
        lines = list_runs(connection, source, limit)
    if not lines:
        click.echo("Aucun import enregistré" + (f" pour la source « {source} »." if source
                                                 else "."))
        return
    for run in lines:
        counts = ", ".join(f"{COUNT_LABELS.get(k, k)} {v}" for k, v in run.counts.items())
        when = run.started_at.astimezone().strftime("%d/%m/%Y %H:%M")
        click.echo(f"n° {run.id} — {when} — {run.by_user} — source « {run.source} » — "
                   f"{STATUS_FR.get(run.status, run.status)} — {run.rows} lieu(x) touché(s) "
                   f"— empreinte {(run.file_digest or '')[:12]} — {counts}")


@import_group.command("undo")
@click.argument("run_id", metavar="N", type=int)
@click.option("--force", is_flag=True,
              help="Annuler même si un import plus récent a touché les mêmes lieux.")
@click.option("--by", "by_user", default=None, help="Auteur de l'annulation.")
def undo_command(run_id, force, by_user):
    """Annule l'import n° N : lieux créés supprimés, lieux modifiés ou fermés remis dans
    leur état d'avant, acceptations créées retirées (en une transaction)."""
    from directory.importer.runs import UndoRefused, current_user, undo
    from extensions import db

    try:
        with db.engine.begin() as connection:
            result = undo(connection, run_id, by_user=current_user(by_user), force=force)
    except UndoRefused as exc:
        raise CommandError(str(exc)) from exc
    click.echo(f"Import n° {run_id} annulé : {_n(result.deleted)} lieu(x) créé(s) supprimé(s), "
               f"{_n(result.restored)} lieu(x) remis dans leur état d'avant, "
               f"{_n(result.acceptances)} acceptation(s) retirée(s).")


mapping_cli = click.Group("mapping", help="Fichiers de correspondance (formats locaux).")
directory_cli.add_command(mapping_cli)
PREVIEW_ROWS = 5


@mapping_cli.command("check")
@click.argument("mapping_path", metavar="CORRESPONDANCE.toml")
@click.argument("data_path", metavar="[FICHIER]", required=False)
@click.option("--rows", type=click.IntRange(0, 100), default=PREVIEW_ROWS, show_default=True,
              help="Nombre de lignes montrées telles qu'elles seraient importées.")
def mapping_check(mapping_path, data_path, rows):
    """Vérifie une correspondance seule, ou avec un fichier : colonnes, valeurs, et les
    premières lignes telles qu'elles seraient importées (rien n'est écrit)."""
    from directory.importer import mapping as mapping_module
    from directory.importer import validate
    from directory.importer.service import ImportFailed, _check_rows, fetch

    try:
        spec = mapping_module.load(mapping_path)
    except mapping_module.MappingError as exc:
        raise CommandError(str(exc)) from exc
    click.echo(f"Correspondance {Path(mapping_path).name} valide : {len(spec.fields)} champ(s), "
               f"{len(spec.columns)} colonne(s) lue(s) ({spec.format}).")
    if not data_path:
        return
    try:
        data = fetch(data_path)
        candidates, problems = spec.read(data)
        _check_rows(data, f"mapping:{mapping_path}", candidates, spec)
    except (ImportFailed, mapping_module.MappingError, mapping_module.ReadError) as exc:
        raise CommandError(str(exc)) from exc
    checked = validate.validate(candidates, today=clock.today())
    click.echo(f"Fichier {Path(data_path).name} : {_n(checked.rows_read)} ligne(s) lue(s), "
               f"{_n(len(checked.records))} valide(s), {_n(checked.rejected)} rejetée(s).")
    for record in checked.records[:rows]:
        click.echo(f"— ligne {record.line} :")
        for name, value in record.values.items():
            if value in (None, [], ""):
                continue
            shown = " | ".join(value) if isinstance(value, list) else str(value)
            click.echo(f"    {name} = {shown}")
        if record.hours is not None:
            click.echo(f"    (horaires OSM valides : {record.hours.osm})")
    from directory.importer.report import Report

    report = Report(problems + checked.problems)
    if report.count(WARNING):
        click.echo(f"Avertissements : {_n(report.count(WARNING))} (lignes écrites, "
                   "problème signalé) :")
        _summarise_warnings(report)
    errors = report.errors
    for problem in errors[:MAX_PRINTED_ERRORS]:
        click.echo(format_problem(problem), err=True)
    if errors:
        raise CommandError(f"{_n(checked.rejected)} ligne(s) seraient rejetées.")
