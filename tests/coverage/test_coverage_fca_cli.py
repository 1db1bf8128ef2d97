"""``flask coverage fca``: files in, one exact row per demand point out; bad input refused
with a French message that names the file, the line and the column."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from coverage import accessibility as acc
from coverage.fca_cli import RESULT_COLUMNS

ABOVE_20 = math.nextafter(20.0, math.inf)


def write(path, text, *, bom=False):
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run(runner, tmp_path, demand, supply, costs, *extra):
    out = tmp_path / "result.csv"
    result = runner.invoke(args=["coverage", "fca", "--demand", str(demand),
                                 "--supply", str(supply), "--costs", str(costs),
                                 "--out", str(out), *extra])
    return result, out


@pytest.fixture
def files(tmp_path):
    # DEMAND: UTF-8 with BOM, ';' separator, decimal comma, an extra column, ids that look
    # like numbers, a point with nothing in reach (99999) and one at zero population.
    demand = write(tmp_path / "demand.csv",
                   "commentaire;demand_id;population;besoin\n"
                   "a;01001;1200;12,5\n"
                   "b;2A004;350,5;3\n"
                   "\n"
                   "c;99999;80;8\n"
                   "d;00010;0;1e1\n", bom=True)
    supply = write(tmp_path / "supply.csv",
                   "supply_id,capacity,nom\n"
                   "L2,3,Médiathèque\n"
                   "L1,1.5,\"Espace, numérique\"\n"
                   "L3,4,Bus\n")
    # 01001: L1 and L2 tie at 10 km (L2 first in the supply file); L3 at 30 km exactly.
    # 2A004: L1 just above 20 km. 00010: L3 at 31 km, beyond every catchment.
    costs = write(tmp_path / "costs.csv",
                  "demand_id,supply_id,cost_km,source\n"
                  f"01001,L1,10,x\n01001,L2,10.0,x\n01001,L3,30,x\n2A004,L1,{ABOVE_20!r},x\n"
                  "00010,L3,31,x\n")
    return demand, supply, costs


def expected_result(weights):
    # The same problem through the library: demand order 01001, 2A004, 99999, 00010;
    # supply order L2, L1, L3.
    pairs = acc.make_pairs(np.array([0, 0, 0, 1, 3]), np.array([1, 0, 2, 1, 2]),
                           np.array([10.0, 10.0, 30.0, ABOVE_20, 31.0]), 4, 3)
    return acc.compute_all(np.array(weights), np.array([3.0, 1.5, 4.0]), pairs)


def read_result(path):
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_round_trip(runner, tmp_path, files):
    result, out = run(runner, tmp_path, *files)
    assert result.exit_code == 0, result.output
    assert "Demande : 4 points" in result.output
    assert "Offre : 3 lieux" in result.output
    assert "Coûts : 5 paires" in result.output
    assert "4 lignes écrites" in result.output

    header, rows = read_result(out)
    assert tuple(header) == RESULT_COLUMNS
    assert [row[0] for row in rows] == ["01001", "2A004", "99999", "00010"]
    expected = expected_result([1200.0, 350.5, 80.0, 0.0])
    for i, row in enumerate(rows):
        values = dict(zip(header, row, strict=True))
        for method in acc.METHODS:
            # exact read-back, and the shortest text for it
            assert float(values[method]) == expected.accessibility[method][i]
            assert values[method] == repr(float(expected.accessibility[method][i]))
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_id["01001"]["nearest_supply_id"] == "L2"  # tie: first in the supply file
    assert by_id["01001"]["nearest_cost_km"] == "10.0"
    assert [by_id["01001"][f"covered_{t}km"] for t in (10, 20, 30)] == ["true"] * 3
    assert by_id["2A004"]["nearest_supply_id"] == "L1"
    assert float(by_id["2A004"]["nearest_cost_km"]) == ABOVE_20
    assert [by_id["2A004"][f"covered_{t}km"] for t in (10, 20, 30)] == ["false", "false",
                                                                      "true"]
    assert by_id["2A004"]["2sfca"] == "0.0"  # just beyond the 20 km catchment
    assert by_id["99999"]["nearest_supply_id"] == by_id["99999"]["nearest_cost_km"] == ""
    assert [by_id["99999"][m] for m in acc.METHODS] == ["0.0"] * 4
    assert [by_id["00010"][f"covered_{t}km"] for t in (10, 20, 30)] == ["false"] * 3
    assert by_id["00010"]["nearest_supply_id"] == "L3"
    # By hand: within 20 km only 01001 (P = 1200) reaches L2 (S = 3) and L1 (S = 1.5).
    assert float(by_id["01001"]["2sfca"]) == pytest.approx(3 / 1200 + 1.5 / 1200, rel=1e-15)
    # The identity on what was written: L3 (S = 4) is served only by the step weights
    # (0.22 at exactly 30 km); for the others its only points are at 30 and 31 km.
    population = [1200.0, 350.5, 80.0, 0.0]
    served = {"2sfca": 4.5, "e2sfca_step": 8.5, "e2sfca_gauss": 4.5, "3sfca": 4.5}
    for method in acc.METHODS:
        total = sum(p * float(row[header.index(method)])
                    for p, row in zip(population, rows, strict=True))
        assert total == pytest.approx(served[method], rel=1e-12), method


def test_weight_column(runner, tmp_path, files):
    result, out = run(runner, tmp_path, *files, "--weight", "besoin")
    assert result.exit_code == 0, result.output
    assert "poids « besoin », total 33.5" in result.output
    header, rows = read_result(out)
    expected = expected_result([12.5, 3.0, 8.0, 10.0])
    for method in acc.METHODS:
        column = header.index(method)
        assert [float(row[column]) for row in rows] == expected.accessibility[method].tolist()


def test_header_only_supply_and_costs_give_zero_everywhere(runner, tmp_path):
    demand = write(tmp_path / "d.csv", "demand_id,population\nx,10\ny,5\n")
    supply = write(tmp_path / "s.csv", "supply_id,capacity\n")
    costs = write(tmp_path / "c.csv", "demand_id,supply_id,cost_km\n")
    result, out = run(runner, tmp_path, demand, supply, costs)
    assert result.exit_code == 0, result.output
    _, rows = read_result(out)
    assert rows == [[i, "0.0", "0.0", "0.0", "0.0", "", "", "false", "false", "false"]
                    for i in ("x", "y")]


GOOD_DEMAND = "demand_id,population\nA,10\nB,20\n"
GOOD_SUPPLY = "supply_id,capacity\nS,2\nT,1\n"
GOOD_COSTS = "demand_id,supply_id,cost_km\nA,S,5\nB,T,12\n"


@pytest.mark.parametrize(("which", "text", "expected"), [
    ("demand", "demand_id,pop\nA,10\n", ["demand.csv", "ligne 1", "« population »", "absente"]),
    ("supply", "supply_id\nS\n", ["supply.csv", "ligne 1", "« capacity »"]),
    ("costs", "demand_id,supply_id,cout\nA,S,5\n", ["costs.csv", "ligne 1", "« cost_km »"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,5\nZ,S,3\n",
     ["costs.csv", "ligne 3", "« demand_id »", "« Z » inconnu"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,5\nB,U,3\n",
     ["costs.csv", "ligne 3", "« supply_id »", "« U » inconnu"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,-5\n",
     ["costs.csv", "ligne 2", "« cost_km »", "négatif"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,cinq\n",
     ["costs.csv", "ligne 2", "« cost_km »", "n'est pas un nombre"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,nan\n",
     ["costs.csv", "ligne 2", "« cost_km »", "n'est pas un nombre"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,1e999\n",
     ["costs.csv", "ligne 2", "« cost_km »", "hors limites"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,\n",
     ["costs.csv", "ligne 2", "« cost_km »", "valeur manquante"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,5\nB,T,4\nA,S,5\n",
     ["costs.csv", "ligne 4", "« A »", "« S »", "déjà ligne 2"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,5,5\nA,T,1,5\n",
     None),  # extra fields are ignored: accepted
    ("costs", "demand_id;supply_id;cost_km\nA;S;5,5\n\n;;\nB;T;12\n",
     None),  # decimal comma with ';', blank lines: accepted
    ("costs", "demand_id,supply_id,cost_km\nA,S,5\nB,T\n",
     ["costs.csv", "ligne 3", "« cost_km »", "valeur manquante"]),
    ("costs", "demand_id,supply_id,cost_km\nA,S,5\n,T,3\n",
     ["costs.csv", "ligne 3", "« demand_id »", "valeur manquante"]),
    ("supply", "supply_id,capacity\nS,2\nT,-1\n",
     ["supply.csv", "ligne 3", "« capacity »", "négatif"]),
    ("supply", "supply_id,capacity\nS,deux\n",
     ["supply.csv", "ligne 2", "« capacity »", "n'est pas un nombre"]),
    ("supply", "supply_id,capacity\nS,2\nS,1\n",
     ["supply.csv", "ligne 3", "« supply_id »", "« S » déjà présent ligne 2"]),
    ("supply", "supply_id;capacity\nS;1,5\nT;1,2,5\n",
     ["supply.csv", "ligne 3", "« capacity »", "« 1,2,5 » n'est pas un nombre"]),
    ("demand", "demand_id,population\nA,10\n\nA,3\n",
     ["demand.csv", "ligne 4", "« demand_id »", "« A » déjà présent ligne 2"]),
    ("demand", "demand_id,population\nA,-10\n",
     ["demand.csv", "ligne 2", "« population »", "négatif"]),
    ("demand", "demand_id,population\nA,dix\n",
     ["demand.csv", "ligne 2", "« population »", "n'est pas un nombre"]),
    ("demand", "demand_id,population\n,10\n",
     ["demand.csv", "ligne 2", "« demand_id »", "valeur manquante"]),
    ("demand", "", ["demand.csv", "vide"]),
    ("supply", "\n\n", ["supply.csv", "vide"]),
    ("costs", "", ["costs.csv", "vide"]),
    ("demand", "demand_id,population\n", ["demand.csv", "aucun point de demande"]),
    ("demand", "demand_id,population,population\nA,1,2\n",
     ["demand.csv", "ligne 1", "« population »", "plusieurs fois"]),
])
def test_bad_input_is_refused_in_french(runner, tmp_path, which, text, expected):
    paths = {}
    for name, good in (("demand", GOOD_DEMAND), ("supply", GOOD_SUPPLY),
                       ("costs", GOOD_COSTS)):
        paths[name] = write(tmp_path / f"{name}.csv", text if name == which else good)
    result, out = run(runner, tmp_path, paths["demand"], paths["supply"], paths["costs"])
    if expected is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code != 0
    assert result.stderr.startswith("Erreur : ")
    for fragment in expected:
        assert fragment in result.stderr
    assert not out.exists()


def test_not_utf8_is_refused(runner, tmp_path):
    demand = tmp_path / "demand.csv"
    demand.write_bytes("demand_id,population\nSaint-Étienne,10\n".encode("latin-1"))
    supply = write(tmp_path / "supply.csv", GOOD_SUPPLY)
    costs = write(tmp_path / "costs.csv", "demand_id,supply_id,cost_km\n")
    result, out = run(runner, tmp_path, demand, supply, costs)
    assert result.exit_code != 0
    assert "demand.csv" in result.stderr and "UTF-8" in result.stderr
    assert not out.exists()


def test_missing_file_is_refused(runner, tmp_path):
    supply = write(tmp_path / "supply.csv", GOOD_SUPPLY)
    result, _ = run(runner, tmp_path, tmp_path / "absent.csv", supply, supply)
    assert result.exit_code != 0
    assert "absent.csv : fichier introuvable" in result.stderr


def test_semicolon_files_with_quoted_fields(runner, tmp_path):
    demand = write(tmp_path / "demand.csv", 'demand_id;population\n"A;1";1 000\n')
    supply = write(tmp_path / "supply.csv", GOOD_SUPPLY)
    costs = write(tmp_path / "costs.csv", "demand_id,supply_id,cost_km\n")
    result, _ = run(runner, tmp_path, demand, supply, costs)
    # "1 000" (a thousands separator) is not a number we guess at.
    assert result.exit_code != 0
    assert "ligne 2, colonne « population » : « 1 000 » n'est pas un nombre" in result.stderr
    write(demand, 'demand_id;population\n"A;1";1000\n')
    result, out = run(runner, tmp_path, demand, supply, costs)
    assert result.exit_code == 0, result.output
    assert read_result(out)[1][0][0] == "A;1"
