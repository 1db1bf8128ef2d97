"""The referrals' timed work as jobs of the queue (core/jobs.py): expiry and reminders
(``referrals.tick``), anonymisation (``referrals.anonymise``). Each is idempotent; the job id
is a digest of its parameters (the hour or the day), so asking twice in the same hour runs
it once. ``flask --app app referrals tick --file`` (from cron) puts it in the queue."""

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
