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
    from core.errors import (
        CONFLICT_MESSAGE,
        STATEMENT_TIMEOUT_MESSAGE,
        database_failure,
    )

    failure = database_failure(exc)
    if failure is None:
        return None
    if failure == CONFLICT_MESSAGE:
        return CommandError("une autre opération modifiait les mêmes données au même moment : "
                            "la base a annulé la transaction en cours ; relancez la commande.")
    if failure == STATEMENT_TIMEOUT_MESSAGE:
        return CommandError("la base a arrêté une requête trop longue (statement_timeout, "
                            "réglé par PASSERELLE_STATEMENT_TIMEOUT_MS) : la transaction en "
                            "cours est annulée.")
    # The server itself cannot be reached (core.errors.DATABASE_DOWN_MESSAGE).
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


# --------------------------------------------------------------------------- click in French

# click's own messages (usage errors, help headings), by their English text: click marks them
# for gettext (``_``, ``ngettext``) but ships no French catalogue, and gettext would pick one
# by the process's locale. ``tests/core/test_cli_french.py`` fails when a click upgrade adds
# a message missing here.
CLICK_FRENCH = {
    "(dynamic)": "(dynamique)",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "Aborted!": "Abandon.",
    "Argument {name!r} takes {nargs} values.": "L'argument {name!r} prend {nargs} valeurs.",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.":
        "Un argument prend exactement une déclaration, {length} données : {decls}.",
    "Boolean option {decl!r} cannot use the same flag for true/false.":
        "L'option booléenne {decl!r} ne peut pas prendre le même drapeau pour oui et non.",
    "Choice({choices})": "Choix({choices})",
    "Choose from:\n\t{choices}": "Choisissez parmi :\n\t{choices}",
    "Commands": "Commandes",
    "Confirm the action without prompting.": "Confirmer l'action sans la demander.",
    "Could not determine name for option with declarations {decls!r}":
        "Nom de l'option introuvable dans les déclarations {decls!r}",
    "Could not open file {filename!r}: {message}":
        "Impossible d'ouvrir le fichier {filename!r} : {message}",
    "Couldn't detect Bash version, shell completion is not supported.":
        "Version de Bash inconnue : la complétion n'est pas prise en charge.",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}":
        "Avertissement : la commande {name!r} est obsolète.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}":
        "Avertissement : le paramètre {name!r} est obsolète.{extra_message}",
    "Do you want to continue?": "Voulez-vous continuer ?",
    "Error: The two entered values do not match.":
        "Erreur : les deux valeurs saisies diffèrent.",
    "Error: invalid input": "Erreur : saisie invalide",
    "Error: {message}": "Erreur : {message}",
    "Invalid start character for option ({option})":
        "Caractère initial invalide pour une option ({option})",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Missing argument": "Argument manquant",
    "Missing command.": "Commande manquante.",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    # {param_type} is click's English "option" or "argument": the hint names the parameter.
    "Missing {param_type}": "Paramètre manquant",
    "Name '{name}' defined twice": "Nom « {name} » défini deux fois",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument "
    "instead? Did you mean to pass '--{name}'?":
        "Aucune option déclarée, mais un nom est donné ({name}) : un argument, ou "
        "« --{name} » ?",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Options": "Options",
    "Positional arguments": "Arguments",
    "Press any key to continue...": "Appuyez sur une touche pour continuer…",
    "Repeat for confirmation": "Répétez pour confirmer",
    "Shell completion is not supported for Bash versions older than 4.4.":
        "La complétion demande Bash 4.4 ou plus récent.",
    "Show the version and exit.": "Afficher la version et quitter.",
    "Show this message and exit.": "Afficher ce message et quitter.",
    "Try '{command} {option}' for help.": "Essayez « {command} {option} » pour l'aide.",
    "Unknown color {colour!r}": "Couleur inconnue : {colour!r}",
    "Unknown standard stream '{name}'": "Flux standard inconnu : « {name} »",
    "Usage:": "Utilisation :",
    "Value must be an iterable.": "La valeur doit être une liste.",
    "d": "j",
    "default: {default}": "défaut : {default}",
    "deprecated": "obsolète",
    "directory": "dossier",
    "env var: {var}": "variable d'environnement : {var}",
    "file": "fichier",
    "path": "chemin",
    "required": "obligatoire",
    "unknown error": "erreur inconnue",
    "{editor}: Editing failed": "{editor} : échec de l'édition",
    "{editor}: Editing failed: {e}": "{editor} : échec de l'édition : {e}",
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} : c'est un dossier.",
    "{name} {filename!r} is a file.": "{name} {filename!r} : c'est un fichier.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} non exécutable.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} illisible.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} non modifiable.",
    "{value!r} is not a valid UUID.": "{value!r} n'est pas un UUID valide.",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "{value!r} n'est pas oui ou non ; valeurs reconnues : {states}",
    # {number_type} is click's English "integer" or "float".
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un nombre valide.",
    "{value} is not in the range {range}.": "{value} est hors de l'intervalle {range}.",
}
# (singular, plural) → their French; French takes the singular for 0 and 1.
CLICK_FRENCH_PLURAL = {
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Vouliez-vous dire {possibility} ?", "(Vouliez-vous dire l'un de : {possibilities} ?)"),
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Argument en trop ({args})", "Arguments en trop ({args})"),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("L'option {name!r} attend une valeur.", "L'option {name!r} attend {nargs} valeurs."),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("Attend {nargs} valeurs, 1 donnée.", "Attend {nargs} valeurs, {len} données."),
    ("{len_type} values are required, but {len_value} was given.",
     "{len_type} values are required, but {len_value} were given."):
        ("{len_type} valeurs attendues, {len_value} donnée.",
         "{len_type} valeurs attendues, {len_value} données."),
    ("{value!r} does not match the format {format}.",
     "{value!r} does not match the formats {formats}."):
        ("{value!r} ne suit pas le format {format}.",
         "{value!r} ne suit aucun des formats {formats}."),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} n'est pas {choice}.", "{value!r} n'est pas l'une des valeurs {choices}."),
}
# click's modules that translate their messages (``from gettext import gettext as _``).
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "shell_completion",
                 "termui", "types", "utils", "_termui_impl")


def _click_gettext(message: str) -> str:
    return CLICK_FRENCH.get(message, message)


def _click_ngettext(singular: str, plural: str, n: int) -> str:
    french = CLICK_FRENCH_PLURAL.get((singular, plural))
    if french is None:
        return singular if n == 1 else plural
    return french[0] if n <= 1 else french[1]


def speak_french() -> None:
    """Make click print its own messages in French: usage errors (« Erreur : Option
    inconnue… »), help headings (« Utilisation : », « Options »)."""
    import importlib

    for name in CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = _click_gettext
        if hasattr(module, "ngettext"):
            module.ngettext = _click_ngettext
