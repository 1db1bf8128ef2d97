"""What a coverage run answers: the selection (programme, service, territory, need), the
territory it studies, and the checks that turn bad input into French errors."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from directory.models import Programme
from directory.programmes import PERIMETER_KINDS, parse_perimeter_code
from geodata.models import Commune, Departement, Epci, Region

from .models import NEED_KINDS

NEEDS = NEED_KINDS
# Territory levels above the commune: the commune column naming a commune's territory of
# that level, and the model of that level (tests/coverage/test_queries.py checks them).
LEVEL_COLUMNS = {"epci": "epci_code", "departement": "departement_code",
                 "region": "region_code"}
LEVEL_MODELS = {"epci": Epci, "departement": Departement, "region": Region}
# Kind of a territory code (directory.programmes.PERIMETER_KINDS, the codes of programme
# perimeters) -> the commune column that designates membership, the kind's model, its name.
MEMBERSHIP = {kind: entry[1] for kind, entry in PERIMETER_KINDS.items()}
KIND_MODELS = {kind: next(m for m in (Region, Departement, Epci, Commune)
                          if m.__tablename__ == entry[0])
               for kind, entry in PERIMETER_KINDS.items()}
_KIND_LABEL = {kind: entry[3] for kind, entry in PERIMETER_KINDS.items()}


@dataclass(frozen=True)
class Selection:
    """What a run answers: venues of ``programme`` (None: every open venue) offering
    ``service`` (None: any), for the communes of ``within``, demand weighted by ``need``."""

    programme: str | None = None
    service: str | None = None
    within: str = "fr"
    need: str = "population"

    @property
    def key(self) -> str:
        return f"{self.programme or '*'}|{self.service or '*'}|{self.within}|{self.need}"

    def with_within(self, within: str) -> Selection:
        return Selection(self.programme, self.service, within, self.need)

    def command(self) -> str:
        """The refresh command that computes this selection (for messages)."""
        parts = ["flask --app app coverage refresh", f"--within {self.within}"]
        if self.programme:
            parts.append(f"--programme {self.programme}")
        if self.service:
            parts.append(f'--service "{self.service}"')
        if self.need != "population":
            parts.append(f"--need {self.need}")
        return " ".join(parts)


@dataclass(frozen=True)
class Territory:
    code: str          # fr | reg:75 | dep:33 | epci:… | com:…
    kind: str          # fr | reg | dep | epci | com
    value: str
    name: str

    def clause(self, communes) -> ColumnElement[bool]:
        """Membership of a commune in the territory, on ``communes`` (the commune table, an
        alias of it, or a subquery with its membership columns)."""
        return member_of(communes, self.kind, self.value)


def member_of(communes, kind: str, value) -> ColumnElement[bool]:
    """A commune of ``communes`` lies in the territory of ``kind`` and code ``value`` (a
    value or a bound parameter)."""
    if kind == "fr":
        return true()
    return communes.c[MEMBERSHIP[kind]] == value


def parse_territory(code: str | None) -> tuple[str, str]:
    return parse_perimeter_code(code or "fr")


def territory_name(session: Session, kind: str, value: str) -> str | None:
    if kind == "fr":
        return "France entière"
    table = KIND_MODELS[kind].__table__
    return session.execute(select(table.c.name).where(table.c.code == value)).scalar()


def resolve_territory(session: Session, code: str | None) -> Territory:
    kind, value = parse_territory(code)
    name = territory_name(session, kind, value)
    if name is None:
        raise InvalidInput(
            f"Territoire inconnu : {_KIND_LABEL[kind]} « {value} » ({kind}:{value}). "
            "La géographie est-elle chargée (flask --app app geodata load) ?")
    return Territory("fr" if kind == "fr" else f"{kind}:{value}", kind, value, name)


def containing_territories(session: Session, territory: Territory) -> set[str]:
    """Codes of the territories that hold every commune of ``territory``: itself, France,
    and the région, département and EPCI its communes all share (a planner of any of them
    may act on it)."""
    codes = {"fr", territory.code}
    communes = Commune.__table__
    for kind in ("reg", "dep", "epci"):
        column = communes.c[MEMBERSHIP[kind]]
        found = session.execute(select(column).distinct().where(
            territory.clause(communes)).limit(2)).scalars().all()
        if len(found) == 1 and found[0] is not None:
            codes.add(f"{kind}:{found[0]}")
    return codes


def check_selection(session: Session, selection: Selection) -> None:
    """InvalidInput (French) for an unknown programme, service or need."""
    from directory.vocabulary import SERVICES

    if selection.need not in NEEDS:
        raise InvalidInput(f"Besoin « {selection.need} » inconnu : population, "
                           "illectronisme ou fragility.")
    if selection.service is not None and selection.service not in SERVICES:
        raise InvalidInput(f"Service « {selection.service} » inconnu. Valeurs admises : "
                           + " ; ".join(SERVICES) + ".")
    if selection.programme is not None:
        programmes = Programme.__table__
        found = session.execute(select(programmes.c.id).where(
            programmes.c.code == selection.programme)).scalar()
        if found is None:
            raise InvalidInput(f"Programme « {selection.programme} » inconnu "
                               "(flask --app app directory programme list).")
