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


@referrals_cli.command("tick")
def tick_command() -> None:
    """Expire les orientations sans réponse et relance les lieux (à lancer chaque heure)."""
    report = run_tick(current_app)
    click.echo(f"{len(report.expired)} orientation(s) expirée(s), "
               f"{len(report.reminded)} rappel(s) envoyé(s) aux lieux.")


@referrals_cli.command("anonymise")
@click.option("--jours", "days", type=click.IntRange(min=1), default=None,
              help="Âge en jours au-delà duquel effacer (défaut : "
                   "PASSERELLE_REFERRAL_ANONYMISE_DAYS).")
def anonymise_command(days: int | None) -> None:
    """Efface les données personnelles des orientations trop anciennes."""
    count = run_anonymise(current_app, days)
    click.echo(f"{count} orientation(s) anonymisée(s).")
