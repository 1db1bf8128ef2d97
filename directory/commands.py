"""Command line of the catalogue: ``flask --app app directory …`` and ``flask --app app demo …``.

Other modules add commands to the same group with::

    from directory.commands import directory_cli

    @directory_cli.command("import")
    def import_command(...): ...
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import AppGroup

from core import clock
from core.cli import CommandError
from core.errors import PasserelleError
from core.text import euros_fr

directory_cli = AppGroup("directory", help="Catalogue : lieux, offres, programmes de pass.")
programme_cli = AppGroup("programme", help="Programmes de Pass Numérique et acceptation.")
offers_cli = AppGroup("offers", help="Offres de formation et séances des lieux.")
demo_cli = AppGroup("demo", help="Données de démonstration (source « demo »).")
directory_cli.add_command(programme_cli)
directory_cli.add_command(offers_cli)


def parse_date(value: str | None, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"Date invalide pour {what} : « {value} » (attendu AAAA-MM-JJ, "
            "par exemple 2026-01-31).") from None


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeated options, each possibly a ``|``-list."""
    result: list[str] = []
    for value in values:
        result += [piece.strip() for piece in value.split("|") if piece.strip()]
    return result


def _run(action):
    """Run ``action`` in a transaction: commit on success, roll back and exit 1 on error."""
    from extensions import db

    try:
        result = action(db.session)
        db.session.commit()
        return result
    except PasserelleError as exc:
        db.session.rollback()
        raise CommandError(exc.message) from exc
    except Exception:
        db.session.rollback()
        raise


# --------------------------------------------------------------------------- programmes


@programme_cli.command("create")
@click.argument("code")
@click.option("--name", "name", required=True, help="Nom affiché (ex. « Pass Numérique Gironde »).")
@click.option("--perimeter", "perimeter", multiple=True, required=True,
              help="Territoire : fr, reg:75, dep:33, epci:243300316, com:33063 "
                   "(répétable, ou séparés par des virgules).")
@click.option("--from", "valid_from", required=True, help="Début de validité, AAAA-MM-JJ.")
@click.option("--to", "valid_to", default=None, help="Fin de validité incluse, AAAA-MM-JJ.")
@click.option("--issuer", default=None, help="Émetteur des chèques.")
@click.option("--funder", default=None, help="Financeur (commanditaire).")
@click.option("--description", default=None, help="Description courte.")
@click.option("--service", "services", multiple=True,
              help="Service autorisé (valeur du standard) ; aucun = tous.")
@click.option("--public", "publics", multiple=True, help="Public éligible ; aucun = tous.")
@click.option("--levels", default="1,2,3", show_default=True,
              help="Niveaux autorisés parmi 1, 2, 3.")
@click.option("--cheque-value", "cheque_value", default="10", show_default=True,
              help="Valeur d'un chèque en euros.")
@click.option("--update", "update", is_flag=True,
              help="Mettre à jour le programme s'il existe déjà.")
def programme_create(code, name, perimeter, valid_from, valid_to, issuer, funder, description,
                     services, publics, levels, cheque_value, update):
    """Crée (ou met à jour avec --update) le programme CODE et calcule son périmètre."""
    from directory.programmes import save_programme

    start = parse_date(valid_from, "--from")
    end = parse_date(valid_to, "--to")
    try:
        level_list = [int(x) for x in levels.replace(" ", "").split(",") if x]
    except ValueError:
        raise CommandError(f"Niveaux invalides : « {levels} » (ex. 1,2).") from None
    try:
        cents = round(float(cheque_value.replace(",", ".")) * 100)
    except ValueError:
        raise CommandError(f"Valeur de chèque invalide : « {cheque_value} ».") from None

    def action(session):
        return save_programme(
            session, code=code, name=name, perimeter_codes=perimeter, valid_from=start,
            valid_to=end, issuer=issuer, funder=funder, description=description,
            eligible_publics=_split(publics), allowed_services=_split(services),
            levels=level_list, cheque_value_cents=cents, create_only=not update)

    programme, changed = _run(action)
    verb = "enregistré" if changed else "inchangé"
    click.echo(f"Programme « {programme.code} » {verb} : {programme.name} ; périmètre "
               f"{', '.join(programme.perimeter_codes)} "
               f"({len(programme.perimeter_communes)} communes).")


@programme_cli.command("list")
@click.option("--date", "on_date", default=None,
              help="N'afficher que les programmes valides ce jour (AAAA-MM-JJ).")
def programme_list(on_date):
    """Liste les programmes, avec le nombre de lieux qui les acceptent aujourd'hui."""
    from directory.programmes import acceptance_counts, list_programmes

    day = parse_date(on_date, "--date")

    def action(session):
        programmes = list_programmes(session, day)
        return programmes, acceptance_counts(session, day or clock.today())

    programmes, counts = _run(action)
    for p in programmes:
        until = p.valid_to.isoformat() if p.valid_to else "sans fin"
        services = "tous services" if not p.allowed_services else \
            f"{len(p.allowed_services)} service(s)"
        click.echo(f"{p.code}\t{p.name}\t{', '.join(p.perimeter_codes)}\t"
                   f"du {p.valid_from.isoformat()} au {until}\t"
                   f"{euros_fr(p.cheque_value_cents, always_cents=True)}"
                   f"\t{services}\t{counts.get(p.id, 0)} lieu(x)")
    click.echo(f"{len(programmes)} programme(s).")


@programme_cli.command("accept")
@click.argument("programme_code")
@click.argument("venues", nargs=-1)
@click.option("--from", "valid_from", default=None,
              help="Début, AAAA-MM-JJ (défaut : aujourd'hui).")
@click.option("--to", "valid_to", default=None, help="Fin incluse, AAAA-MM-JJ.")
@click.option("--service", "services", multiple=True,
              help="Service couvert ; aucun = tous ceux du programme.")
@click.option("--reference", default=None, help="Référence de qualification.")
@click.option("--source", default="manual", show_default=True,
              type=click.Choice(["manual", "import", "label"]), help="Origine.")
@click.option("--from-report", "report_path", default=None,
              help="Accepter les candidats d'un rapport d'import (directory import … "
                   "--report FICHIER).")
def programme_accept(programme_code, venues, valid_from, valid_to, services, reference,
                     source, report_path):
    """Enregistre que des lieux (id ou source:identifiant) acceptent le programme."""
    from directory.programmes import accept, accept_candidates, report_candidates

    start = parse_date(valid_from, "--from") or clock.today()
    end = parse_date(valid_to, "--to")
    if report_path:
        if venues:
            raise CommandError("--from-report ou une liste de lieux, pas les deux.")

        def bulk(session):
            references = report_candidates(report_path)
            return accept_candidates(session, programme_code=programme_code,
                                     references=references, valid_from=start, valid_to=end,
                                     services=_split(services),
                                     qualification_reference=reference)

        outcomes = _run(bulk)
        found = [o for _, o in outcomes]
        skipped = [(r, o) for r, o in outcomes if o not in ("created", "updated", "unchanged")]
        click.echo(f"{len(outcomes)} candidat(s) dans le rapport : {found.count('created')} "
                   f"acceptation(s) créée(s), {found.count('updated')} mise(s) à jour, "
                   f"{found.count('unchanged')} inchangée(s), {len(skipped)} non "
                   "enregistrée(s).")
        for reference_, reason in skipped[:30]:
            click.echo(f"  {reference_} : {reason}")
        return
    if not venues:
        raise CommandError("Donnez au moins un lieu (id ou source:identifiant), ou "
                           "--from-report FICHIER.")

    def action(session):
        outcomes = []
        for venue in venues:
            acceptance, outcome = accept(
                session, programme_code=programme_code, venue_reference=venue,
                valid_from=start, valid_to=end, services=_split(services),
                qualification_reference=reference, source=source)
            outcomes.append(outcome)
        return outcomes

    outcomes = _run(action)
    click.echo(f"{outcomes.count('created')} acceptation(s) créée(s), "
               f"{outcomes.count('updated')} mise(s) à jour, "
               f"{outcomes.count('unchanged')} inchangée(s).")


@programme_cli.command("revoke")
@click.argument("programme_code")
@click.argument("venues", nargs=-1, required=True)
@click.option("--date", "on_date", default=None,
              help="Date à partir de laquelle le lieu n'accepte plus le pass (défaut : "
                   "aujourd'hui).")
@click.option("--reason", default=None, help="Motif du retrait.")
def programme_revoke(programme_code, venues, on_date, reason):
    """Retire la qualification de lieux pour le programme."""
    from directory.programmes import revoke

    day = parse_date(on_date, "--date") or clock.today()

    def action(session):
        for venue in venues:
            revoke(session, programme_code=programme_code, venue_reference=venue,
                   on_date=day, reason=reason)
        return len(venues)

    count = _run(action)
    click.echo(f"{count} acceptation(s) retirée(s) à compter du {day.isoformat()}.")


# --------------------------------------------------------------------------- offers


@offers_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Format du fichier (défaut : d'après l'extension).")
@click.option("--dry-run", is_flag=True, help="Valider seulement, sans rien écrire.")
def offers_import(path: Path, fmt, dry_run):
    """Importe des offres et leurs séances (format décrit dans le README)."""
    from directory.offers import OffersFileError, import_offers

    if not path.exists():
        raise CommandError(f"Fichier introuvable : {path}")

    def action(session):
        return import_offers(session, path, fmt=fmt, dry_run=dry_run)

    try:
        result = _run(action)
    except CommandError as exc:
        cause = exc.__cause__
        if isinstance(cause, OffersFileError):
            for problem in cause.problems:
                click.echo(f"  {problem}", err=True)
        raise
    prefix = "Simulation : " if dry_run else ""
    click.echo(f"{prefix}{result.offers_read} offre(s) et {result.sessions_read} séance(s) "
               f"lues ; offres : {result.offers_created} créée(s), {result.offers_updated} "
               f"mise(s) à jour, {result.offers_unchanged} inchangée(s) ; séances : "
               f"{result.sessions_created} créée(s), {result.sessions_updated} mise(s) à "
               f"jour, {result.sessions_unchanged} inchangée(s).")
    if result.unmapped:
        click.echo(f"{len(result.unmapped)} offre(s) sans thématique reconnue :")
        for note in result.unmapped:
            click.echo(f"  {note}")


# --------------------------------------------------------------------------- demo


@demo_cli.command("load")
@click.option("--date", "reference_date", default=None,
              help="Date de référence des séances (AAAA-MM-JJ, défaut : aujourd'hui).")
@click.option("--region", "region_code", default="75", show_default=True,
              help="Code de la région couverte par la démo.")
@click.option("--seed", default=2015, show_default=True, type=int,
              help="Graine du générateur pseudo-aléatoire.")
def demo_load(reference_date, region_code, seed):
    """Charge les données de démonstration (déterministe ; une seconde exécution n'écrit rien)."""
    from directory.demo import load_demo

    day = parse_date(reference_date, "--date") or clock.today()

    def action(session):
        return load_demo(session, reference_date=day, region_code=region_code, seed=seed,
                         progress=lambda message: click.echo(message))

    result = _run(action)
    click.echo(result.summary())
