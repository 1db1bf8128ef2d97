"""``flask --app app referrals …``: the timed work by hand (or from cron): reminders and
expiry (``tick``), anonymisation (``anonymise``). Each is idempotent and prints counts."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import update

from accounts.journal import CLI
from core import clock
from extensions import db

from . import notify, services
from .models import Referral

referrals_cli = AppGroup("referrals", help="Orientations : rappels, expiration, anonymisation.")


def run_tick(app) -> services.TickReport:
    """Expire and remind, commit, then send the e-mails (a job or the CLI)."""
    report = services.tick(db.session, clock.now(app),
                           services.Settings.from_config(app.config), CLI)
    db.session.commit()
    for referral_id in report.expired:
        notify.to_prescriber(db.session.get(Referral, referral_id))
    failed = [referral_id for referral_id, token in report.reminded
              if not notify.to_venue(db.session.get(Referral, referral_id), token,
                                     reminder=True)]
    if failed:  # not sent: the next tick tries again
        db.session.execute(update(Referral).where(Referral.id.in_(failed))
                           .values(reminded_at=None))
        db.session.commit()
        report.reminded = [r for r in report.reminded if r[0] not in failed]
    return report


def run_anonymise(app, days: int | None = None) -> int:
    count = services.anonymise(db.session, clock.now(app),
                               days or app.config["PASSERELLE_REFERRAL_ANONYMISE_DAYS"], CLI)
    db.session.commit()
    return count


def _enqueue(kind: str, params: dict) -> None:
    from core import jobs

    job = jobs.enqueue(kind, params)
    state = jobs.STATE_LABELS.get(job.get_status(), "inconnu")
    click.echo(f"Tâche mise en file : {job.id} ({state}).")


@referrals_cli.command("tick")
@click.option("--file", "queued", is_flag=True,
              help="Mettre le travail dans la file des tâches (une fois par heure) au lieu "
                   "de le faire ici.")
def tick_command(queued: bool) -> None:
    """Expire les orientations sans réponse et relance les lieux (à lancer chaque heure)."""
    if queued:
        _enqueue("referrals.tick", {"heure": clock.now().strftime("%Y-%m-%dT%H")})
        return
    report = run_tick(current_app)
    click.echo(f"{len(report.expired)} orientation(s) expirée(s), "
               f"{len(report.reminded)} rappel(s) envoyé(s) aux lieux.")


@referrals_cli.command("anonymise")
@click.option("--jours", "days", type=click.IntRange(min=1), default=None,
              help="Âge en jours au-delà duquel effacer (défaut : "
                   "PASSERELLE_REFERRAL_ANONYMISE_DAYS).")
@click.option("--file", "queued", is_flag=True,
              help="Mettre le travail dans la file des tâches (une fois par jour).")
def anonymise_command(days: int | None, queued: bool) -> None:
    """Efface les données personnelles des orientations trop anciennes."""
    if queued:
        _enqueue("referrals.anonymise", {"jour": clock.now().date().isoformat(),
                                         "jours": days})
        return
    count = run_anonymise(current_app, days)
    click.echo(f"{count} orientation(s) anonymisée(s).")
