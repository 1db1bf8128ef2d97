"""Job functions used by the tests of core/jobs.py; the worker subprocess imports them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core import jobs
from extensions import db


def stepwise(params: dict[str, Any]) -> dict[str, Any]:
    """Report ``steps`` steps; at step ``wait_at`` wait for the test to push on the Redis
    list ``gate`` (so that the test sees the job running, or kills its worker)."""
    steps = params["steps"]
    conn = jobs.connection()
    for i in range(steps):
        jobs.progress(i, steps, f"étape {i + 1}")
        if i == params.get("wait_at"):
            conn.rpush(params["gate"] + ":waiting", "1")
            if conn.blpop([params["gate"]], timeout=120) is None:
                raise TimeoutError("la porte du test ne s'est pas ouverte")
    jobs.progress(steps, steps, "terminé")
    database = db.session.execute(text("SELECT current_database()")).scalar_one()
    timeout = db.session.execute(text("SHOW statement_timeout")).scalar_one()
    return {"steps": steps, "database": database, "statement_timeout": timeout}


def failing(params: dict[str, Any]) -> None:
    from core.errors import InvalidInput

    raise InvalidInput(f"Territoire inconnu : {params['within']}.")
