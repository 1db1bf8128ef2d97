"""``flask --app app jobs worker | list``: the background worker and its jobs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core.cli import CommandError

jobs_cli = AppGroup("jobs", help="Tâches de fond (file RQ sur Redis).")


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True,
              help="Traiter les tâches en attente puis s'arrêter.")
@click.option("--name", default=None, help="Nom du processus (unique).")
def worker_command(burst: bool, name: str | None) -> None:
    """Lance un processus de fond qui exécute les tâches de la file."""
    import redis

    from . import jobs

    app = current_app._get_current_object()
    try:
        requeued = [job for q in jobs.queues(app) for job in jobs.requeue_abandoned(q)]
    except redis.RedisError as exc:
        raise CommandError(
            f"Redis injoignable ({app.config['PASSERELLE_REDIS_URL']}) : "
            "lancez redis-server ou réglez PASSERELLE_REDIS_URL.") from exc
    if requeued:
        click.echo(f"{len(requeued)} tâche(s) abandonnée(s) remise(s) en file.")
    namespace = app.config["PASSERELLE_JOBS_NAMESPACE"]
    click.echo(f"Processus de fond prêt sur la file « {namespace} ».")
    jobs.start_worker(app, burst=burst, name=name)


@jobs_cli.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="Nombre de tâches affichées.")
def list_command(limit: int) -> None:
    """Liste les tâches récentes avec leur état et leur avancement."""
    import redis

    from . import jobs

    app = current_app._get_current_object()
    try:
        rows = jobs.list_jobs(app, limit)
        health = jobs.health(app)
    except redis.RedisError as exc:
        raise CommandError("Redis injoignable : la file des tâches est "
                           "indisponible.") from exc
    worker = health["worker"]
    click.echo(f"Processus de fond actifs : {worker.get('count', 0)}.")
    if not rows:
        click.echo("Aucune tâche.")
        return
    click.echo(f"{len(rows)} tâche(s), les plus récentes d'abord :")
    for row in rows:
        when = row["enqueued_at"].strftime("%d/%m/%Y %H:%M:%S") if row["enqueued_at"] else "—"
        progress = row["progress"]
        step = ""
        if progress:
            step = f" — {progress['done']}/{progress['total']}"
            if progress.get("message"):
                step += f" {progress['message']}"
        click.echo(f"{when}  {row['state']:<10}  {row['label']}  [{row['id']}]{step}")
