"""``flask accounts …``: invitations, API tokens, reminders to confirm a venue's data."""

from __future__ import annotations

import logging

import click
from flask import current_app, url_for
from flask.cli import AppGroup

from core import clock
from core.cli import CommandError
from core.errors import PasserelleError
from core.mail import send_template
from extensions import db

from . import journal, services, venues
from .journal import CLI

accounts_cli = AppGroup("accounts", help="Comptes, rôles, jetons d'API et rappels.")


def _fail(exc: PasserelleError) -> CommandError:
    details = " ; ".join(m for ms in exc.errors.values() for m in ms) if exc.errors else ""
    return CommandError(details or exc.message)


@accounts_cli.command("invite")
@click.argument("email")
@click.option("--role", "roles", multiple=True, required=True,
              help="Rôle, avec sa portée : administrator, programme_manager:CODE, "
                   "venue_manager:ID_LIEU, prescriber:STRUCTURE, planner:dep:33 (répétable).")
def invite_command(email, roles):
    """Invite une personne avec ses rôles et lui envoie le lien par courriel."""
    from .views import send_invitation

    parsed = [services.parse_role(r) for r in roles]
    now = clock.now()
    try:
        person, secret = services.invite(db.session, email, parsed, now,
                                         current_app.config["PASSERELLE_INVITE_TTL_S"], CLI)
        with current_app.test_request_context(base_url=current_app.config[
                "PASSERELLE_PUBLIC_URL"]):
            send_invitation(person.email, secret, parsed)
    except PasserelleError as exc:
        db.session.rollback()
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"Invitation envoyée à {person.email} ({len(parsed)} rôle(s)).")


@accounts_cli.group("token")
def token_cli():
    """Jetons d'API des machines."""


@token_cli.command("create")
@click.option("--name", required=True, help="À quoi sert le jeton (ex. « annuaire régional »).")
@click.option("--source", "source", default=None, help="Portée : une source d'import.")
@click.option("--structure", default=None, help="Portée : une structure.")
def token_create(name, source, structure):
    """Crée un jeton ; il n'est affiché qu'une fois (seule son empreinte est gardée)."""
    if bool(source) == bool(structure):
        raise CommandError("Donnez --source ou --structure (l'un des deux).")
    kind, scope = ("source", source) if source else ("structure", structure)
    try:
        token, secret = services.create_api_token(db.session, name, kind, scope,
                                                  clock.now(), CLI)
    except PasserelleError as exc:
        db.session.rollback()
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"Jeton n° {token.id} ({kind} « {scope} ») : {secret}")
    click.echo("Copiez-le maintenant : il ne sera plus jamais affiché.")


@token_cli.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id):
    """Révoque un jeton."""
    try:
        services.revoke_api_token(db.session, token_id, clock.now(), CLI)
    except PasserelleError as exc:
        raise _fail(exc) from None
    db.session.commit()
    click.echo(f"Jeton n° {token_id} révoqué.")


@accounts_cli.command("remind")
@click.option("--months", type=click.IntRange(1, 120), default=None,
              help="Après combien de mois sans confirmation (défaut : "
                   "PASSERELLE_CONFIRM_AFTER_MONTHS, 6).")
def remind_command(months):
    """Rappelle aux gestionnaires de confirmer les informations de leurs lieux (le worker
    le fait chaque jour de lui-même ; un lieu reçoit au plus un rappel par mois)."""
    months = months or current_app.config["PASSERELLE_CONFIRM_AFTER_MONTHS"]
    due, sent = run_remind(current_app._get_current_object(), months)  # type: ignore
    click.echo(f"{due} lieu(x) à confirmer (plus de {months} mois), {sent} rappel(s) "
               "envoyé(s).")


def run_remind(app, months: int) -> tuple[int, int]:
    """Remind the managers of the venues unconfirmed for ``months`` (at most once a month
    a venue, journaled); ``(venues due, e-mails sent)``. The command and the worker's
    daily job (accounts/jobs.py) call it."""
    now = clock.now()
    due = venues.venues_to_remind(db.session, now, months)
    sent = 0
    with app.test_request_context(base_url=app.config["PASSERELLE_PUBLIC_URL"]):
        for venue in due:
            for email in venues.managers_of(db.session, venue.id):
                send_template(email, f"Les informations de « {venue.nom} » sont-elles à jour ?",
                              "confirm_reminder", venue=venue, months=months,
                              link=url_for("accounts.venue_home", venue_id=venue.id,
                                           _external=True))
                sent += 1
            journal.append(db.session, CLI, venues.REMINDER_ACTION, now, object_type="lieu",
                           object_id=venue.id, lieu_id=venue.id)
            db.session.commit()
    return len(due), sent


def journal_cli_commands(group: click.Group, prefix: str = "") -> None:
    """Wrap every command of the application's CLI so that each run appends one journal
    row (command, parameters, outcome), whatever package it belongs to."""
    for name, command in group.commands.items():
        full = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            journal_cli_commands(command, full)
        elif command.callback is not None and not getattr(command, "_journaled", False):
            command.callback = _journaled(command.callback, full)
            command._journaled = True


def _journaled(callback, name: str):
    import functools

    @functools.wraps(callback)
    def run(*args, **kwargs):
        outcome = "erreur"
        try:
            result = callback(*args, **kwargs)
            outcome = "terminée"
            return result
        finally:
            _append_cli(name, kwargs, outcome)

    return run


# Parameters never written to the journal.
_SECRET_PARAMETERS = {"password", "mot_de_passe"}


def _append_cli(name: str, parameters: dict, outcome: str) -> None:
    """In a session of its own: the command's session is left as the command left it."""
    from sqlalchemy.orm import Session

    try:
        with Session(db.engine) as session:
            journal.append(session, CLI, f"commande « {name} » {outcome}",
                           clock.now(), object_type="commande", object_id=name,
                           after={k: (v if isinstance(v, int | bool | None) else str(v))
                                  for k, v in parameters.items()
                                  if k not in _SECRET_PARAMETERS})
            session.commit()
    except Exception:  # the database may be what failed; the command's own error matters
        logging.getLogger(__name__).warning("commande « %s » non journalisée", name)
