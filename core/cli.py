"""What every command of ``flask --app app …`` shares: its French error, and no traceback when
the database cannot answer (unreachable, a statement over its timeout, two transactions in
conflict)."""

from __future__ import annotations

import functools

import click
from sqlalchemy.engine import make_url


class CommandError(click.ClickException):
    """A French message on stderr and exit status 1, without click's English prefix."""

    def show(self, file=None) -> None:
        click.echo(f"Erreur : {self.format_message()}", err=True, file=file)


def database_error(exc: BaseException, url: str) -> CommandError | None:
    """The command's error when ``exc`` means the database could not answer
    (``core.errors.database_failure``), naming the server of ``url``; None otherwise."""
    from core.errors import CONFLICT_MESSAGE, DATABASE_DOWN_MESSAGE, database_failure

    failure = database_failure(exc)
    if failure is None:
        return None
    if failure == CONFLICT_MESSAGE:
        return CommandError("une autre opération modifiait les mêmes données au même moment : "
                            "la base a annulé la transaction en cours ; relancez la commande.")
    if failure != DATABASE_DOWN_MESSAGE:
        return CommandError("la base a arrêté une requête trop longue (statement_timeout, "
                            "réglé par PASSERELLE_STATEMENT_TIMEOUT_MS) : la transaction en "
                            "cours est annulée.")
    parsed = make_url(url)
    server = f"{parsed.host or 'socket local'}:{parsed.port or 5432}, base {parsed.database}"
    return CommandError(f"base de données injoignable ({server}) : vérifiez que PostgreSQL "
                        "tourne et la variable DATABASE_URL, puis relancez la commande.")


def guard_database(group: click.Group) -> None:
    """Every command of ``group`` and of its subgroups answers a database failure with its
    French error (:func:`database_error`, naming the server of the application that ran it)
    instead of a traceback. The groups are shared by every application the process builds:
    each command is wrapped once."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            guard_database(command)
        callback = command.callback
        if callback is None or getattr(callback, "_database_guarded", False):
            continue

        @functools.wraps(callback)
        def guarded(*args, _callback=callback, **kwargs):
            try:
                return _callback(*args, **kwargs)
            except Exception as exc:
                error = database_error(exc, _application_url())
                if error is None:
                    raise
                raise error from exc

        guarded._database_guarded = True  # type: ignore[attr-defined]
        command.callback = guarded


def _application_url() -> str:
    """The database URL of the application the running command loaded (its application
    context is already gone when the error reaches :func:`guard_database`)."""
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    return app.config["DATABASE_URL"]
