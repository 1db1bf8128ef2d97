"""The coverage map's Features, written once per run: each territory's GeoJSON Feature
(the map's properties, ``MAP_FIELDS``, and its shape at one stored zoom) as text in
``coverage_map_feature``, per (run, level, zoom, code).

Building the JSON was what a map view cost (≈ 0.1 ms a territory: 1,072 communes at zoom
9 took 100–140 ms even warm); with the Features stored by ``coverage refresh`` after the
read-outs, a view selects its territories as before (:func:`coverage.readouts.view_rows`:
same run, same ``within`` and ``bbox`` filters) and joins their stored text — PostgreSQL
only concatenates. Nothing in a stored Feature depends on the request beyond its run,
level and zoom (the measure the map shows is chosen in the browser among the properties).
A run refreshed before the store existed has no rows: its views are built on the fly
(:func:`map_rows`), as they were.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    Float,
    Integer,
    SmallInteger,
    Text,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from .map_shapes import digits_for, stored_zooms, tolerance_for
from .models import CoverageMapFeature, CoverageMapShape
from .readouts import MAX_COMMUNES_PER_VIEW, VIEW_LEVELS, feature_text, view_rows

# What the map draws: the five measures, the uncovered-people circles, names for labels.
MAP_FIELDS: tuple[str, ...] = (
    "code", "name", "level", "population", "need",
    "share_population_covered_20km", "share_population_covered_30km",
    "share_need_covered_20km", "share_need_covered_30km",
    "uncovered_population_20km", "uncovered_population_30km",
    "mean_nearest_km", "accessibility_index", "capacity_gap",
)


def _map_properties(props):
    """The map's properties (``MAP_FIELDS``, in that order) of a territory's stored ones."""
    return func.json_build_object(*(item for name in MAP_FIELDS for item in (
        cast(literal(name, literal_execute=True), Text), props[name])))


def _geometry(level: str, g, code, zoom, tolerance, digits):
    """The stored map shape of ``code`` at ``zoom`` — simplified here (``tolerance``,
    ``digits``) only for a territory the refresh stored no shape of."""
    shapes = CoverageMapShape.__table__
    source = g.alias("source")
    stored = (select(shapes.c.geojson)
              .where(shapes.c.level == level, shapes.c.code == code, shapes.c.zoom == zoom)
              .scalar_subquery())
    simplified = (select(func.ST_AsGeoJSON(func.ST_Simplify(source.c.geom, tolerance, True),
                                           digits))
                  .where(source.c.code == code).scalar_subquery())
    return func.coalesce(stored, simplified)


@functools.cache
def map_rows(level: str, method: str, kind: str, in_bbox: bool):
    """``code``, ``geometry`` and ``props`` of a view's territories, computed now: the
    view's rows (:func:`coverage.readouts.view_rows`) with only ``MAP_FIELDS`` and the
    shapes of ``shape_zoom``; binds ``shape_zoom``, ``tolerance``, ``digits`` besides the
    view's own values."""
    inner, g = view_rows(level, method, kind, in_bbox)
    rows = inner.subquery("rows")
    geometry = _geometry(level, g, rows.c.code, bindparam("shape_zoom", type_=Integer),
                         bindparam("tolerance", type_=Float), bindparam("digits", type_=Integer))
    return select(rows.c.code, geometry.label("geometry"),
                  _map_properties(rows.c.props).label("props"))


@functools.cache
def stored_statement(level: str, method: str, kind: str, in_bbox: bool):
    """``(count, Features joined by commas)`` of a view from the stored Features at
    ``shape_zoom``, the same territories as :func:`map_rows`; binds the view's values and
    ``shape_zoom``. France within a box (the map's views from zoom 7) is one index lookup
    on the stored boxes; otherwise the view's territories are joined to their text."""
    f = CoverageMapFeature.__table__
    at = and_(f.c.run_id == bindparam("run", type_=Integer), f.c.level == level,
              f.c.zoom == bindparam("shape_zoom", type_=SmallInteger))
    if kind == "fr" and in_bbox:
        box = func.ST_MakeEnvelope(*(bindparam(name, type_=Float)
                                     for name in ("x0", "y0", "x1", "y1")), 4326)
        inner = select(f.c.code, f.c.feature).where(at, f.c.bbox.op("&&")(box))
        if level == "commune":
            inner = inner.order_by(f.c.code).limit(MAX_COMMUNES_PER_VIEW + 1)
        v = inner.subquery("v")
        return select(func.count(), func.string_agg(
            v.c.feature, aggregate_order_by(literal_column("','"), v.c.code)))
    rows, _g = view_rows(level, method, kind, in_bbox)
    v = rows.with_only_columns(rows.selected_columns.code).subquery("v")
    return (select(func.count(), func.string_agg(
                f.c.feature, aggregate_order_by(literal_column("','"), v.c.code)))
            .select_from(v.outerjoin(f, and_(at, f.c.code == v.c.code))))


def has_map_features(session: Session, run_id: int, level: str) -> bool:
    """Whether the refresh stored the Features of ``level`` for the run (not an old run)."""
    f = CoverageMapFeature.__table__
    return session.execute(select(exists().where(f.c.run_id == run_id,
                                                 f.c.level == level))).scalar_one()


@functools.cache
def _fill_statement(level: str, method: str):
    inner, g = view_rows(level, method, "fr", False)
    # Every territory of the run (a view caps its communes, not the store), its map
    # properties built once (MATERIALIZED) for all the zooms.
    rows = inner.limit(None).order_by(None).subquery("rows")
    source = g.alias("box_source")
    box = (select(func.ST_Envelope(source.c.geom)).where(source.c.code == rows.c.code)
           .scalar_subquery())
    props = (select(rows.c.code, cast(_map_properties(rows.c.props), Text).label("props"),
                    box.label("bbox"))
             .cte("props").prefix_with("MATERIALIZED"))
    wanted = stored_zooms(level)
    zooms = values(column("zoom", Integer), column("tolerance", Float),
                   column("digits", Integer), name="z").data(
        [(z, tolerance_for(level, z), digits_for(tolerance_for(level, z))) for z in wanted])
    geometry = _geometry(level, g, props.c.code, zooms.c.zoom, zooms.c.tolerance,
                         zooms.c.digits)
    fresh = (select(bindparam("run", type_=Integer), literal(level, Text), zooms.c.zoom,
                    props.c.code, feature_text(props.c.code, geometry, props.c.props),
                    props.c.bbox)
             .select_from(props.join(zooms, true()))
             # Written in the order views read them (fewer pages per view).
             .order_by(zooms.c.zoom, props.c.code))
    f = CoverageMapFeature.__table__
    return (f.insert().from_select(["run_id", "level", "zoom", "code", "feature", "bbox"],
                                   fresh)
            .returning(literal(1)))


def store_map_features(session: Session, run_id: int, method: str,
                       reference_mean: float) -> int:
    """Write the run's Features of every level at every stored zoom; returns the rows
    written. Runs after the read-outs (:func:`coverage.readouts.store_properties`) and
    the map shapes (:func:`coverage.map_shapes.refresh_map_shapes`)."""
    done = 0
    for level in VIEW_LEVELS:
        # (An INSERT … SELECT's rowcount reads -1 through SQLAlchemy here: rows counted.)
        done += len(session.execute(_fill_statement(level, method), {
            "run": run_id, "reference": reference_mean}).all())
    return done
