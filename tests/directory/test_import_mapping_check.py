"""Mapping files checked like code: schema, suggestions, lines of the TOML file, and no
traceback for any broken mapping or data file (through the command line)."""

from __future__ import annotations

import pytest

from directory.importer import mapping, validate
from tests.conftest import ROOT, shared_data
from tests.directory.test_import_readers import TODAY

MAPPINGS = ROOT / "directory" / "mappings"

BASE = """[source]
format = "csv"

[fields]
id = "ref"
nom = "nom"
pivot = { value = "00000000000000" }
commune = "ville"
code_postal = "cp"
adresse = "adr"
date_maj = { column = "maj", format = "%d/%m/%Y" }
"""
DATA = "ref;nom;ville;cp;adr;maj;desc\n1;EPN;Talence;33400;1 rue A;02/03/2024;APTIC\n"


def load_text(tmp_path, text: str) -> mapping.Mapping:
    path = tmp_path / "correspondance.toml"
    path.write_text(text, encoding="utf-8")
    return mapping.load(path)


@pytest.mark.parametrize(("extra", "message"), [
    ('\n[acceptence]\ncolumns = ["desc"]\npattern = "APTIC"\n',
     "ligne 13 : section [acceptence] inconnue : vouliez-vous dire `acceptance` ?"),
    ('\n[fields.typologie]\ncolumn = "t"\nfallbak = "ASSO"\n',
     "ligne 13 : champ « typologie » : clé « fallbak » inconnue : vouliez-vous dire "
     "`fallback` ?"),
    ('\n[hours]\ncolumn = "h"\nfree_txt = "convert"\n',
     "ligne 15 : clé « free_txt » inconnue dans [hours] : vouliez-vous dire `free_text` ?"),
    ('\n[acceptance]\ncolumns = ["desc"]\npattern = "(?i)pass (num"\n',
     "ligne 15 : expression régulière « (?i)pass (num » invalide (pattern) : parenthèse "
     "fermante manquante"),
    ('telephone = { column = "tel", split = "[/;" }\n',
     "ligne 12 : expression régulière « [/; » invalide (split) : crochet « ] » manquant"),
    ('complement_adresse = { template = "{BP" }\n',
     "ligne 12 : champ « complement_adresse » : modèle « {BP » invalide"),
    ('horaires_x = "h"\n',
     "ligne 12 : champ « horaires_x » hors standard dans [fields] : vouliez-vous dire "
     "`horaires` ?"),
])
def test_mistakes_are_french_errors_with_the_line_and_a_suggestion(tmp_path, extra, message):
    with pytest.raises(mapping.MappingError) as caught:
        load_text(tmp_path, BASE + extra)
    assert message in str(caught.value)


def test_a_bad_date_format_is_refused_with_its_line(tmp_path):
    with pytest.raises(mapping.MappingError, match=r"ligne 11 : champ « date_maj » : format "
                                                   r"de date « %d/%q/%Y » invalide"):
        load_text(tmp_path, BASE.replace("%d/%m/%Y", "%d/%q/%Y"))


def test_two_columns_for_one_day_make_one_day_of_hours(tmp_path):
    spec = load_text(tmp_path, BASE + """
[hours]
public_holidays = "off"
[hours.days]
lundi = ["LUN_MATIN", "LUN_APM"]
mardi = [["MAR_OUV", "MAR_FERM"], ["MAR_OUV2", "MAR_FERM2"]]
mercredi = ["MER_MATIN", "MER_APM"]
""")
    data = ("ref;nom;ville;cp;adr;maj;LUN_MATIN;LUN_APM;MAR_OUV;MAR_FERM;MAR_OUV2;MAR_FERM2;"
            "MER_MATIN;MER_APM\n"
            "1;EPN;Talence;33400;1 rue A;02/03/2024;9h-12h;14h-17h;09:00;12:30;13:30;18:00;"
            "fermé;14h00 - 16h30\n")
    candidates, _ = spec.read(data.encode())
    record = validate.validate(candidates, today=TODAY).records[0]
    assert record.values["horaires"] == ("Mo 09:00-12:00,14:00-17:00; Tu 09:00-12:30,"
                                         "13:30-18:00; We 14:00-16:30; PH off")
    assert record.hours is not None


def test_mapping_check_alone_and_against_a_file(runner, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(BASE, encoding="utf-8")
    alone = runner.invoke(args=["directory", "mapping", "check", str(path)])
    assert alone.exit_code == 0 and "valide : 7 champ(s)" in alone.output
    data = tmp_path / "d.csv"
    data.write_text(DATA, encoding="utf-8")
    checked = runner.invoke(args=["directory", "mapping", "check", str(path), str(data)])
    assert checked.exit_code == 0, checked.output
    assert "1 ligne(s) lue(s), 1 valide(s), 0 rejetée(s)" in checked.output
    assert "— ligne 2 :" in checked.output and "commune = Talence" in checked.output
    assert "date_maj = 2024-03-02" in checked.output
    data.write_text(DATA + "2;EPN 2;Talence;33400;2 rue B;02/03/2024;x\n"
                    "3;EPN 3;Talence;33400;3 rue C;le 2 mars;x\n", encoding="utf-8")
    rejected = runner.invoke(args=["directory", "mapping", "check", str(path), str(data)])
    assert rejected.exit_code == 1
    assert "3 ligne(s) lue(s), 2 valide(s), 1 rejetée(s)" in rejected.output
    assert "ligne 4 (id 3), champ « date_maj » : date illisible « le 2 mars »" \
        in rejected.output


@pytest.mark.parametrize("name", ["gironde.toml", "maine-et-loire.toml", "la-creuse.toml"])
def test_shipped_mappings_pass_the_check(runner, name):
    result = runner.invoke(args=["directory", "mapping", "check", str(MAPPINGS / name)])
    assert result.exit_code == 0, result.output


BROKEN_MAPPINGS = {
    "toml illisible": ("[fields\nid = 1", "syntaxe TOML invalide"),
    "pas de fields": ("[source]\nformat = 'csv'\n", "section [fields] absente"),
    "format inconnu": (BASE.replace('format = "csv"', 'format = "xlsx"'),
                       "format « xlsx » inconnu"),
    "champ nombre": (BASE + "typologie = 3\n", "un nom de colonne ou une table"),
    "deux origines": (BASE + 'typologie = { column = "t", value = "ASSO" }\n',
                      "une seule origine"),
    "map non texte": (BASE + 'typologie = { column = "t", map = { a = 1 } }\n',
                      "« map » doit associer"),
    "crs inconnu": (BASE + '[coordinates]\nx = "x"\ny = "y"\ncrs = "EPSG:999999"\n',
                    "système de coordonnées « EPSG:999999 » inconnu"),
    "jour inconnu": (BASE + '[hours.days]\nlundii = "L"\n',
                     "jour « lundii » inconnu : vouliez-vous dire `lundi` ?"),
    "derive interdit": (BASE + 'nom_x = 1\n', "hors standard"),
    "derive sur nom": (BASE.replace('nom = "nom"', 'nom = { column = "nom", derive = "point" }'),
                       "« derive » n'est possible que pour"),
    "délimiteur": (BASE.replace('format = "csv"', 'format = "csv"\ndelimiter = ";;"'),
                   "séparateur « ;; » invalide"),
    "pad": (BASE + 'code_insee = { column = "cp", pad = "5" }\n', "« pad » doit être"),
    "contains": (BASE + 'typologie = { column = "t", contains = ["a", "b"] }\n',
                 "« contains » doit être une liste de paires"),
    "fields liste": ("fields = [1, 2]\n", "[fields] doit être une table"),
    "hours deux": (BASE + '[hours]\ncolumn = "h"\ndays = { lundi = "L" }\n',
                   "« column » ou « days », pas les deux"),
    "mauvais séparateur": (BASE.replace('format = "csv"', 'format = "csv"\ndelimiter = ","'),
                           "colonne(s) absente(s) du fichier : « ref » ([fields] id)"),
    "truthy nombre": (BASE + 'services = { flags = { a = "b" }, truthy = 3 }\n',
                      "« truthy » doit être"),
    "colonne nombre": (BASE + 'typologie = { column = 3 }\n', "doit être un nom de colonne"),
    "status map": (BASE + '[status]\ncolumn = "etat"\nmap = { F = 1 }\n',
                   "[status] map : chaque valeur"),
    "fallback date": (BASE.replace('format = "%d/%m/%Y"', 'format = "%d/%m/%Y", '
                                   'fallback = "hier"'), "date de repli « hier » invalide"),
}
BROKEN_FILES = {
    "vide": (b"", "fichier CSV vide ou sans ligne d'en-tête"),
    "binaire": (b"\x00\xff\xfe\x00PK\x03\x04", "séparateur de colonnes non reconnu"),
    "csv mal formé": (b'ref;nom\n1;"EPN\n', "colonne(s) absente(s) du fichier"),
    "json pour csv": (b'[{"ref": 1}]', "séparateur de colonnes non reconnu"),
    "en-tête seul": (b"ref;nom;ville;cp;adr;maj;desc\n", "aucune ligne lue"),
    "colonnes en double": (b"ref;ref;nom\n1;2;3\n", "colonnes en double"),
}


def assert_french_error_everywhere(runner, mapping_path, data_path, message: str) -> None:
    """``mapping check`` and ``import`` both end with exit 1 and a French message."""
    for args in (["directory", "mapping", "check", str(mapping_path), str(data_path)],
                 ["directory", "import", str(data_path), "--source", "jamais-ecrit",
                  "--format", f"mapping:{mapping_path}"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        assert "Erreur : " in result.output and message in result.output, result.output


CASES = [("correspondance", c) for c in sorted(BROKEN_MAPPINGS)] + [
    ("fichier", c) for c in sorted(BROKEN_FILES)]


@pytest.mark.parametrize(("broken", "case"), CASES)
def test_no_broken_mapping_or_file_ends_in_a_traceback(runner, tmp_path, broken, case):
    """A broken mapping with a good file, or a good mapping with a broken file."""
    text, content, message = (
        (*BROKEN_MAPPINGS[case][:1], DATA.encode(), BROKEN_MAPPINGS[case][1])
        if broken == "correspondance" else (BASE, *BROKEN_FILES[case]))
    path, data = tmp_path / "m.toml", tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    data.write_bytes(content)
    assert_french_error_everywhere(runner, path, data, message)


@pytest.mark.parametrize("name", ["gironde", "maine-et-loire", "la-creuse"])
def test_every_one_line_damage_to_a_real_mapping_is_a_french_error_or_works(name, tmp_path):
    """Each line of a shipped mapping removed, or its value replaced by a number, a
    list or a bad regex: loading and reading five real rows either works or raises
    MappingError / ReadError — never anything else."""
    import json

    from directory.importer.readers import ReadError

    rows = json.loads(shared_data("venues", "raw", f"{name}.json").read_text("utf-8"))[:5]
    data = json.dumps(rows, ensure_ascii=False).encode()
    lines = (MAPPINGS / f"{name}.toml").read_text(encoding="utf-8").splitlines()
    damaged = []
    for i, line in enumerate(lines):
        damaged.append(lines[:i] + lines[i + 1:])
        if "=" in line and not line.lstrip().startswith("#"):
            key = line.split("=", 1)[0]
            for value in ("1", "true", '"x"', "[1, 2]", '["x"]', '"(["', "{ }", '{ a = 1 }'):
                damaged.append(lines[:i] + [f"{key}= {value}"] + lines[i + 1:])
    outcomes = {"ok": 0, "refused": 0}
    for number, text in enumerate(damaged):
        path = tmp_path / f"{name}-{number}.toml"
        path.write_text("\n".join(text), encoding="utf-8")
        try:
            candidates, _ = mapping.load(path).read(data)
            validate.validate(candidates, today=TODAY)
            outcomes["ok"] += 1
        except (mapping.MappingError, ReadError) as exc:
            assert str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == len(damaged)
