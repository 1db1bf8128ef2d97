"""The inputs of a run, read from the database: demand (communes, weighted by the need)
and supply (the venues that count, with their capacity).

- **Demand** ``P_i``: one point per commune (``commune.point``, a point on the surface, else
  a point on the polygon), weighted by the *need*: ``population`` (default);
  ``fragility`` = population × IFN / 100 (imported index, 100 where a commune has none);
  ``illectronisme`` = population × 15.4 % (INSEE 2021, people aged 15+) × IFN / 100 where
  the index is imported. We have no age pyramid per commune, so the national rate applies
  uniformly (children included: an upper bound), and only the fragility index makes the
  need differ between communes; without the index, shares and accessibility are those of
  the population weight (the rate is a constant factor).
- **Supply** ``S_j``: the venues :func:`counted_venues` selects. Capacity =
  ``weekly_capacity``, 1 where unknown (counted). An itinerant venue with stops is supplied
  at each stop, its capacity shared equally.
- **Border effect**: venues up to the catchment beyond the studied territory are included,
  and so are the communes up to twice the catchment (the demand of those venues), so that
  a venue's ratio ``S_j / D_j`` is the same as in a national run.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from directory import rules
from directory.models import Acceptance, Programme, Venue, VenueStop
from geodata.models import Commune

from .models import FragilityIndex
from .selection import Selection, Territory

# INSEE 2021: 15.4 % of people aged 15+ in illectronisme (62 % of the 75+, 24 % of 60–74).
ILLECTRONISME_RATE = 0.154

Box = tuple[float, float, float, float]


@dataclass
class Demand:
    codes: list[str]
    population: np.ndarray
    need: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    inside: np.ndarray           # in the studied territory (else: border ring)
    names: list[str]
    parents: dict[str, list[str | None]]  # level -> code of each point's territory
    without_point: int = 0       # communes of the territory with neither point nor polygon
    without_fragility: int = 0   # communes of the territory without an imported index

    def __len__(self) -> int:
        return len(self.codes)


@dataclass
class Supply:
    lieu_ids: np.ndarray         # venue id of each supply point
    capacity: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    venues: int = 0              # distinct venues
    unknown_capacity: int = 0    # venues whose capacity is unknown (counted as 1)
    stops: int = 0               # supply points that are stops of itinerant venues

    def __len__(self) -> int:
        return int(self.lieu_ids.size)


def straight_radius_km(cost_km: float, detour: float) -> float:
    return cost_km / detour


def _expanded_box(session: Session, territory: Territory, margin_km: float) -> Box | None:
    """The territory's bounding box grown by ``margin_km`` on every side (None: France)."""
    if territory.kind == "fr":
        return None
    extent = func.ST_Extent(func.coalesce(Commune.geom, Commune.point))
    row = session.execute(
        select(func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent),
               func.ST_YMax(extent)).where(territory.clause(Commune.__table__))).one()
    if row[0] is None:
        raise InvalidInput(f"Aucune commune localisée dans {territory.name} "
                           f"({territory.code}).")
    xmin, ymin, xmax, ymax = (float(v) for v in row)
    dlat = margin_km / 110.5 * 1.01
    top = min(89.0, max(abs(ymin - dlat), abs(ymax + dlat)))
    dlon = min(180.0, margin_km / (111.32 * math.cos(math.radians(top))) * 1.01)
    return xmin - dlon, max(-90.0, ymin - dlat), xmax + dlon, min(90.0, ymax + dlat)


def _in_box(geometry, box: Box) -> ColumnElement[bool]:
    return geometry.op("&&")(func.ST_MakeEnvelope(*box, 4326))


def load_demand(session: Session, territory: Territory, need: str,
                ring_km: float) -> Demand:
    """Communes of the territory, and those within ``ring_km`` beyond its border."""
    if need == "fragility":
        imported = session.execute(select(func.count()).select_from(FragilityIndex)).scalar()
        if not imported:
            raise InvalidInput("Aucun indice de fragilité importé : lancez d'abord "
                               "flask --app app coverage fragility import FICHIER.")
    box = _expanded_box(session, territory, ring_km)
    communes = Commune.__table__
    inside = territory.clause(communes)
    point = func.coalesce(Commune.point, func.ST_PointOnSurface(Commune.geom))
    query = (
        select(Commune.code, Commune.name, func.coalesce(Commune.population, 0),
               func.ST_X(point), func.ST_Y(point), inside.label("inside"),
               FragilityIndex.score, Commune.epci_code, Commune.departement_code,
               Commune.region_code)
        .outerjoin(FragilityIndex, FragilityIndex.commune_code == Commune.code)
        .where(point.is_not(None))
        .order_by(Commune.code))
    if box is not None:
        query = query.where(or_(inside, _in_box(point, box)))
    rows = session.execute(query).all()
    without_point = session.execute(
        select(func.count()).select_from(Commune).where(
            inside, Commune.point.is_(None), Commune.geom.is_(None))).scalar() or 0
    n = len(rows)
    population = np.fromiter((r[2] for r in rows), dtype=np.float64, count=n)
    scores = np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=np.float64)
    inside_flags = np.fromiter((bool(r[5]) for r in rows), dtype=bool, count=n)
    missing = np.isnan(scores)
    factor = np.where(missing, 1.0, scores / 100.0)
    if need == "population":
        weight = population.copy()
    elif need == "fragility":
        weight = population * factor
    else:
        weight = population * ILLECTRONISME_RATE * factor
    return Demand(
        codes=[r[0] for r in rows], population=population, need=weight,
        lon=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
        lat=np.fromiter((r[4] for r in rows), dtype=np.float64, count=n),
        inside=inside_flags, names=[r[1] for r in rows],
        parents={"epci": [r[7] for r in rows], "departement": [r[8] for r in rows],
                 "region": [r[9] for r in rows]},
        without_point=int(without_point),
        without_fragility=int(np.count_nonzero(missing & inside_flags))
        if need != "population" else 0)


def counted_venues(selection: Selection, day: dt.date, *,
                   accepting: bool = True) -> ColumnElement[bool]:
    """Which venues count for ``selection`` on ``day`` (a condition on ``lieu``): open
    that day (:func:`directory.rules.open_on_sql`), offering the selection's service
    (:func:`directory.rules.offers_service_sql`), and accepting its programme that day
    (:func:`directory.rules.accepts_sql`, the service covered by
    :func:`directory.rules.covers_service_sql`); with ``accepting=False``, not accepting
    it (the candidates of new sites). The one place coverage says which venues count."""
    parts: list[ColumnElement[bool]] = [rules.open_on_sql(day)]
    service = selection.service
    if service is not None:
        parts.append(rules.offers_service_sql(literal(service)))
    if selection.programme is not None:
        accepted = exists().where(
            Acceptance.lieu_id == Venue.id, Acceptance.programme_id == Programme.id,
            Programme.code == selection.programme, rules.accepts_sql(day),
            true() if service is None else rules.covers_service_sql(literal(service)))
        parts.append(accepted if accepting else not_(accepted))
    return and_(*parts)


def load_supply(session: Session, selection: Selection, territory: Territory,
                margin_km: float, today: dt.date) -> Supply:
    box = _expanded_box(session, territory, margin_km)
    venues = (select(Venue.id, Venue.weekly_capacity, Venue.geom)
              .where(counted_venues(selection, today)).cte("v"))
    stop_points = (
        select(venues.c.id, venues.c.weekly_capacity, VenueStop.geom.label("pt"),
               func.count().over(partition_by=venues.c.id).label("n"),
               true().label("stop"))
        .join(VenueStop, VenueStop.lieu_id == venues.c.id))
    own_points = (
        select(venues.c.id, venues.c.weekly_capacity, venues.c.geom.label("pt"),
               literal(1).label("n"), false().label("stop"))
        .where(venues.c.geom.is_not(None),
               not_(exists().where(VenueStop.lieu_id == venues.c.id))))
    points = union_all(stop_points, own_points).subquery("p")
    query = select(points.c.id, points.c.weekly_capacity, func.ST_X(points.c.pt),
                   func.ST_Y(points.c.pt), points.c.n, points.c.stop)
    if box is not None:
        query = query.where(_in_box(points.c.pt, box))
    rows = session.execute(query.order_by(points.c.id, points.c.pt)).all()
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    capacity = np.fromiter(((1.0 if r[1] is None else float(r[1])) / r[4] for r in rows),
                           dtype=np.float64, count=n)
    unknown = len({r[0] for r in rows if r[1] is None})
    return Supply(
        lieu_ids=ids, capacity=capacity,
        lon=np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
        lat=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
        venues=int(np.unique(ids).size), unknown_capacity=unknown,
        stops=sum(1 for r in rows if r[5]))
