"""Polygons for the coverage map, simplified once per zoom: about one screen pixel at that
zoom (Leaflet drops finer vertices anyway, its ``smoothFactor`` is one pixel), never finer
than the coverage API's own shapes (:data:`coverage.readouts.SIMPLIFY`), coordinates
rounded to match.

``coverage refresh`` stores them (``coverage_map_shape``) with the API's shapes, for the
territories it computes, again only when a source polygon changes (md5 of its EWKB): a
map tile joins them and simplifies nothing. Past the zoom where a level reaches its
floor tolerance one row serves every higher zoom; below the lowest zoom the map asks for
that level at, the lowest row serves (finer than needed, still right).
"""

from __future__ import annotations

import math

from sqlalchemy import Float, Integer, Text, and_, column, func, literal, or_, select, true, values
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geodata.models import Commune

from .models import CoverageMapShape, CoverageShape
from .readouts import COORDINATE_DIGITS, SIMPLIFY
from .selection import LEVEL_COLUMNS, LEVEL_MODELS, Territory

PIXEL_FRACTION = 1.0          # simplify to one pixel (Leaflet's own smoothing threshold)
# The lowest zoom each level is drawn at by /carte (static/js/coverage-map.js: régions from
# the lowest zoom, EPCI in the ranked list at 5, communes in it at 7 and tiles from 8).
LOWEST_ZOOM = {"region": 3, "departement": 3, "epci": 3, "commune": 7}
_MODELS = {"commune": Commune, **LEVEL_MODELS}


def degrees_per_pixel(zoom: int) -> float:
    """Longitude degrees covered by one 256-pixel-tile pixel at ``zoom`` (Web Mercator)."""
    return 360.0 / (256 * 2 ** zoom)


def tolerance_for(level: str, zoom: int) -> float:
    return max(SIMPLIFY[level], PIXEL_FRACTION * degrees_per_pixel(zoom))


def digits_for(tolerance: float) -> int:
    """Decimals such that rounding moves a vertex by at most half the tolerance."""
    return max(2, min(COORDINATE_DIGITS, math.ceil(-math.log10(tolerance / 2))))


def highest_zoom(level: str) -> int:
    """The first zoom at which ``level`` reaches its floor tolerance."""
    zoom = LOWEST_ZOOM[level]
    while PIXEL_FRACTION * degrees_per_pixel(zoom) > SIMPLIFY[level]:
        zoom += 1
    return zoom


def stored_zooms(level: str) -> range:
    return range(LOWEST_ZOOM[level], highest_zoom(level) + 1)


def shape_zoom(level: str, zoom: int) -> int:
    """The stored zoom whose shapes serve ``level`` at map zoom ``zoom``."""
    return min(max(zoom, LOWEST_ZOOM[level]), highest_zoom(level))


def refresh_map_shapes(session: Session, territory: Territory) -> int:
    """Store the map's shapes of the territory's communes and of the EPCI, départements
    and régions they belong to, at every stored zoom (again when a polygon changed);
    returns the rows written. Runs after :func:`coverage.refresh.refresh_shapes`, whose
    md5 of each source polygon it reuses."""
    shapes = CoverageMapShape.__table__
    communes = Commune.__table__
    done = 0
    for level, model in _MODELS.items():
        g = model.__table__
        if level == "commune":
            scope = territory.clause(g)
        elif territory.kind == "fr":
            scope = true()
        else:
            member = communes.c[LEVEL_COLUMNS[level]]
            scope = g.c.code.in_(select(member).distinct().where(
                territory.clause(communes), member.is_not(None)))
        wanted = stored_zooms(level)
        zooms = values(column("zoom", Integer), column("tolerance", Float),
                       column("digits", Integer), name="z").data(
            [(z, tolerance_for(level, z), digits_for(tolerance_for(level, z)))
             for z in wanted])
        # The md5 the API's shapes were just checked against (refresh_shapes, same scope);
        # a territory is simplified again when one of its zooms is missing or stale.
        api = CoverageShape.__table__
        held = (select(shapes.c.code, func.count().label("zooms"),
                       func.min(shapes.c.source_md5).label("low"),
                       func.max(shapes.c.source_md5).label("high"))
                .where(shapes.c.level == level, shapes.c.zoom.in_(list(wanted)))
                .group_by(shapes.c.code).subquery("held"))
        stale = (select(g.c.code, g.c.geom, api.c.source_md5.label("md5"))
                 .join(api, and_(api.c.level == level, api.c.code == g.c.code))
                 .outerjoin(held, held.c.code == g.c.code)
                 .where(g.c.geom.is_not(None), scope, or_(
                     held.c.code.is_(None), held.c.zooms != len(wanted),
                     held.c.low != api.c.source_md5, held.c.high != api.c.source_md5))
                 .subquery("stale"))
        fresh = (
            select(literal(level, Text), stale.c.code, zooms.c.zoom, stale.c.md5,
                   # preserveCollapsed: a commune smaller than a pixel stays a dot.
                   func.ST_AsGeoJSON(func.ST_Simplify(stale.c.geom, zooms.c.tolerance, True),
                                     zooms.c.digits))
            .select_from(stale.join(zooms, true())))
        statement = pg_insert(shapes).from_select(
            ["level", "code", "zoom", "source_md5", "geojson"], fresh)
        # (An INSERT … SELECT's rowcount reads -1 through SQLAlchemy here: rows counted.)
        done += len(session.execute(statement.on_conflict_do_update(
            index_elements=[shapes.c.level, shapes.c.code, shapes.c.zoom],
            set_={name: statement.excluded[name] for name in ("source_md5", "geojson")}
        ).returning(literal(1))).all())
    return done
