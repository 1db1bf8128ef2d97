"""The referrals' timed work as jobs of the queue (core/jobs.py): expiry and reminders
(``referrals.tick``, every ``PASSERELLE_REFERRAL_TICK_EVERY_S``, an hour), anonymisation
(``referrals.anonymise``, every ``PASSERELLE_REFERRAL_ANONYMISE_EVERY_S``, a day). The
worker's scheduler enqueues them by itself (no cron); each is idempotent and its job id is
a digest of its period, so however many workers (or ``referrals tick --file``) ask in the
same period, it runs once."""

from __future__ import annotations

from typing import Any

from flask import current_app

from core import jobs


def tick(params: dict[str, Any]) -> dict[str, int]:
    from .commands import run_tick

    report = run_tick(current_app._get_current_object())  # type: ignore[attr-defined]
    return {"expirees": len(report.expired), "rappels": len(report.reminded)}


def anonymise(params: dict[str, Any]) -> dict[str, int]:
    from .commands import run_anonymise

    return {"anonymisees": run_anonymise(current_app._get_current_object(),  # type: ignore
                                         params.get("jours"))}


def init_app() -> None:
    jobs.register("referrals.tick", tick, "Orientations : expiration et rappels")
    jobs.register("referrals.anonymise", anonymise, "Orientations : anonymisation")
    jobs.every("referrals.tick", "PASSERELLE_REFERRAL_TICK_EVERY_S")
    jobs.every("referrals.anonymise", "PASSERELLE_REFERRAL_ANONYMISE_EVERY_S")
