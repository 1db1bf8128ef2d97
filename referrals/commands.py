"""``flask --app app referrals …``: the timed work by hand: reminders and expiry (``tick``),
anonymisation (``anonymise``); the worker runs them by itself (referrals/jobs.py). Each is
idempotent and prints counts."""

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
    """Expire and remind, commit, then send the e-mails now (this runs in the worker or
    the CLI: the reminders not taken by the mail server are tried at the next tick)."""
    report = services.tick(db.session, clock.now(app),
                           services.Settings.from_config(app.config), CLI)
    db.session.commit()
    for referral_id in report.expired:
        notify.to_prescriber(db.session.get(Referral, referral_id), queued=False)
    failed = [referral_id for referral_id, token in report.reminded
              if not notify.to_venue(db.session.get(Referral, referral_id), token,
                                     reminder=True, queued=False)]
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


def _enqueue(kind: str, days: int | None = None) -> None:
    """Put this period's job of ``kind`` in the queue (the same job as the worker's
    scheduler: one per period), or a job of its own for another age limit."""
    from core import jobs

    if days is not None:
        job = jobs.enqueue(kind, {"jour": clock.now().date().isoformat(), "jours": days})
    else:
        job, _mine = jobs.enqueue_period(kind, clock.now())
    if job is None:
        click.echo("Tâche de cette période déjà faite (son résultat a expiré).")
        return
    state = jobs.STATE_LABELS.get(job.get_status(), "inconnu")
    click.echo(f"Tâche mise en file : {job.id} ({state}).")


@referrals_cli.command("tick")
@click.option("--file", "queued", is_flag=True,
              help="Mettre le travail dans la file des tâches (une fois par période, comme "
                   "le planificateur du processus de fond) au lieu de le faire ici.")
def tick_command(queued: bool) -> None:
    """Expire les orientations sans réponse et relance les lieux (le processus de fond le
    fait chaque heure de lui-même)."""
    if queued:
        _enqueue("referrals.tick")
        return
    report = run_tick(current_app)
    click.echo(f"{len(report.expired)} orientation(s) expirée(s), "
               f"{len(report.reminded)} rappel(s) envoyé(s) aux lieux.")


@referrals_cli.command("anonymise")
@click.option("--jours", "days", type=click.IntRange(min=1), default=None,
              help="Âge en jours au-delà duquel effacer (défaut : "
                   "PASSERELLE_REFERRAL_ANONYMISE_DAYS).")
@click.option("--file", "queued", is_flag=True,
              help="Mettre le travail dans la file des tâches (une fois par période).")
def anonymise_command(days: int | None, queued: bool) -> None:
    """Efface les données personnelles des orientations trop anciennes (le processus de
    fond le fait chaque jour de lui-même)."""
    if queued:
        _enqueue("referrals.anonymise", days)
        return
    count = run_anonymise(current_app, days)
    click.echo(f"{count} orientation(s) anonymisée(s).")
