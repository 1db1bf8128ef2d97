"""click's own messages in French (core.cli.speak_french): usage errors and help headings of
every ``flask --app app …`` command, and every message click marks for translation has its
French (this fails when a click upgrade adds one)."""

from __future__ import annotations

import ast
from pathlib import Path

import click

from core.cli import CLICK_FRENCH, CLICK_FRENCH_PLURAL, CLICK_MODULES


def _click_messages() -> tuple[set[str], set[tuple[str, str]]]:
    """The literal messages of click's sources passed to ``_`` and ``ngettext``."""
    singles, plurals = set(), set()
    root = Path(click.__file__).parent
    for name in CLICK_MODULES:
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            texts = [a.value for a in node.args if isinstance(a, ast.Constant)
                     and isinstance(a.value, str)]
            if node.func.id == "_" and texts:
                singles.add(texts[0])
            elif node.func.id == "ngettext" and len(texts) >= 2:
                plurals.add((texts[0], texts[1]))
    return singles, plurals


def test_every_message_of_click_has_its_french():
    singles, plurals = _click_messages()
    assert len(singles) > 50 and len(plurals) > 5  # the scan found click's messages
    # "required" reaches ``_`` through a variable (the help of a required option).
    assert sorted(singles - CLICK_FRENCH.keys()) == []
    assert sorted(plurals - CLICK_FRENCH_PLURAL.keys()) == []


def test_each_translating_module_of_click_is_reached(app):
    import importlib

    from core.cli import _click_gettext

    modules = [importlib.import_module(f"click.{name}") for name in CLICK_MODULES]
    assert all(getattr(m, "_", None) is _click_gettext for m in modules)
    # No other module of click translates (one missed would stay in English).
    root = Path(click.__file__).parent
    others = {p.stem for p in root.glob("*.py") if "gettext import" in p.read_text("utf-8")}
    assert others - set(CLICK_MODULES) <= {"_winconsole"}


def _run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    return result, result.output


def test_usage_errors_are_in_french(app):
    result, out = _run(app, "jobs", "list", "--limit", "abc")
    assert result.exit_code == 2, out
    assert "Erreur : Valeur invalide pour '--limit' : 'abc' n'est pas un nombre valide." in out
    assert "Essayez « " in out and " jobs list --help » pour l'aide." in out
    assert out.startswith("Utilisation : ")

    _result, out = _run(app, "jobs", "list", "--limit", "0")
    assert "0 est hors de l'intervalle 1<=x<=1000." in out

    _result, out = _run(app, "jobs", "list", "--nope")
    assert "Erreur : Option inconnue : '--nope'." in out

    _result, out = _run(app, "jobs", "lst")
    assert "Erreur : Commande inconnue : 'lst'. Vouliez-vous dire 'list' ?" in out

    _result, out = _run(app, "match", "cohort", "/nulle/part.csv", "--out", "/tmp/x.csv")
    assert "Erreur : Valeur invalide pour 'PEOPLE' : " in out and "introuvable." in out
    for english in ("Error", "Usage:", "Try '", "No such", "Invalid value", "is not"):
        assert english not in out, out


def test_help_is_in_french(app):
    result, out = _run(app, "jobs", "list", "--help")
    assert result.exit_code == 0, out
    assert out.startswith("Utilisation : ")
    assert "Afficher ce message et quitter." in out and "[défaut : 50;" in out
    assert "Show this message" not in out and "default:" not in out
    _result, out = _run(app, "directory", "--help")
    assert "Commandes:" in out and "Commands:" not in out
