"""Stored coverage results: one run per selection and date, its figures per commune and
per territory, and the imported digital fragility index.

A **selection** is (programme or none, service or none, territory studied, need kind). A run
keeps its parameters (detour factor, radii, method, …) and the reference mean Ā its capacity
gaps are measured against. Results are reported for the run's territory only (communes
beyond its border served only to compute the venues' catchments).
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

NEED_KINDS = ("population", "illectronisme", "fragility")
LEVELS = ("commune", "epci", "departement", "region", "france")
REFERENCES = ("nation", "territoire")


class CoverageRun(db.Model):
    __tablename__ = "coverage_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # programme|service|within|need: what the API looks up (latest run first).
    selection_key: Mapped[str] = mapped_column(Text)
    programme_code: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(Text)
    within: Mapped[str] = mapped_column(Text)  # fr | reg:75 | dep:33 | epci:… | com:…
    need_kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # accessibility.METHODS, for the gap
    parameters: Mapped[dict] = mapped_column(JSONB)
    stats: Mapped[dict] = mapped_column(JSONB)  # counts and timings
    reference_mean: Mapped[float] = mapped_column(Float)  # Ā of the gap
    reference: Mapped[str] = mapped_column(String(12))  # nation | territoire
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())

    __table_args__ = (
        CheckConstraint("need_kind IN ('population', 'illectronisme', 'fragility')",
                        name="need_kind"),
        CheckConstraint("reference IN ('nation', 'territoire')", name="reference"),
        Index("ix_coverage_run_selection_key_created_at", "selection_key", "created_at"),
    )


class CoverageResult(db.Model):
    """One commune of a run's territory."""

    __tablename__ = "coverage_result"

    run_id: Mapped[int] = mapped_column(ForeignKey("coverage_run.id", ondelete="CASCADE"),
                                        primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    population: Mapped[float] = mapped_column(Float)
    need: Mapped[float] = mapped_column(Float)  # the demand weight P_i
    a_2sfca: Mapped[float] = mapped_column(Float)
    a_e2sfca_step: Mapped[float] = mapped_column(Float)
    a_e2sfca_gauss: Mapped[float] = mapped_column(Float)
    a_3sfca: Mapped[float] = mapped_column(Float)
    capacity_gap: Mapped[float] = mapped_column(Float)  # P_i · max(0, Ā − A_i)
    nearest_lieu_id: Mapped[int | None] = mapped_column(BigInteger)
    nearest_cost_km: Mapped[float | None] = mapped_column(Float)
    venues_10km: Mapped[int] = mapped_column(Integer)
    venues_20km: Mapped[int] = mapped_column(Integer)
    venues_30km: Mapped[int] = mapped_column(Integer)
    capacity_10km: Mapped[float] = mapped_column(Float)
    capacity_20km: Mapped[float] = mapped_column(Float)
    capacity_30km: Mapped[float] = mapped_column(Float)
    covered_10km: Mapped[bool] = mapped_column(Boolean)
    covered_20km: Mapped[bool] = mapped_column(Boolean)
    covered_30km: Mapped[bool] = mapped_column(Boolean)
    # The map's properties of this commune, rounded, built once at refresh (see views).
    properties: Mapped[dict | None] = mapped_column(JSONB)


class CoverageAggregate(db.Model):
    """A territory (EPCI, département, région, France) of a run: sums over its communes
    that lie in the run's territory."""

    __tablename__ = "coverage_aggregate"

    run_id: Mapped[int] = mapped_column(ForeignKey("coverage_run.id", ondelete="CASCADE"),
                                        primary_key=True)
    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    code: Mapped[str] = mapped_column(String(9), primary_key=True)  # "FR" for France
    communes: Mapped[int] = mapped_column(Integer)
    population: Mapped[float] = mapped_column(Float)
    need: Mapped[float] = mapped_column(Float)
    population_covered_10km: Mapped[float] = mapped_column(Float)
    population_covered_20km: Mapped[float] = mapped_column(Float)
    population_covered_30km: Mapped[float] = mapped_column(Float)
    need_covered_10km: Mapped[float] = mapped_column(Float)
    need_covered_20km: Mapped[float] = mapped_column(Float)
    need_covered_30km: Mapped[float] = mapped_column(Float)
    communes_uncovered_30km: Mapped[int] = mapped_column(Integer)
    mean_accessibility: Mapped[float] = mapped_column(Float)
    capacity_gap: Mapped[float] = mapped_column(Float)
    mean_nearest_km: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[dict | None] = mapped_column(JSONB)  # as for CoverageResult

    __table_args__ = (
        CheckConstraint("level IN ('epci', 'departement', 'region', 'france')", name="level"),
    )


class FragilityIndex(db.Model):
    """Digital fragility index (IFN) per 2026 commune: 100 = average of the reference area,
    higher = more fragile. Imported by ``flask coverage fragility import``."""

    __tablename__ = "fragility_index"

    commune_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    # Old (COG ≈ 2019) codes merged into this one and their IRIS count, for the record.
    source_codes: Mapped[list[str]] = mapped_column(JSONB)
    iris: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(Text)  # the file's column the score comes from
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())


class CoverageShape(db.Model):
    """A territory's polygon simplified for its map level, as GeoJSON text, computed by
    ``coverage refresh`` so that views do not simplify on every request. ``source_md5``
    is the md5 of the source polygon's EWKB: a changed polygon is simplified again."""

    __tablename__ = "coverage_shape"

    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    tolerance: Mapped[float] = mapped_column(Float)
    digits: Mapped[int] = mapped_column(Integer)
    source_md5: Mapped[str] = mapped_column(Text)
    geojson: Mapped[str] = mapped_column(Text)


class CoverageMapShape(db.Model):
    """A territory's polygon simplified to about one screen pixel at one zoom of the map
    (coverage/map_api.py, :func:`~coverage.map_api.shape_zoom`), as GeoJSON text with
    the decimals that zoom needs. Computed by ``coverage refresh`` with the shapes above
    (again when the source polygon's md5 changes), so that a map tile simplifies nothing."""

    __tablename__ = "coverage_map_shape"

    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    zoom: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    source_md5: Mapped[str] = mapped_column(Text)
    geojson: Mapped[str] = mapped_column(Text)


class CoverageMapFeature(db.Model):
    """One territory of a run as the coverage map draws it at one stored zoom: the whole
    GeoJSON Feature as text (the map's properties and the shape of that zoom), written by
    ``coverage refresh`` after the read-outs (:mod:`coverage.map_features`), so that a map
    view is an indexed lookup and a ``string_agg`` of stored text. Deleted with its run."""

    __tablename__ = "coverage_map_feature"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_run.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    zoom: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    feature: Mapped[str] = mapped_column(Text)
    # The territory's bounding box: a view of France within a box is one GiST lookup
    # (run, level, zoom and box in one index: btree_gist), without joining the territories.
    bbox = mapped_column(Geometry("GEOMETRY", 4326, spatial_index=False), nullable=True)

    __table_args__ = (
        Index("ix_coverage_map_feature_box", "run_id", "level", "zoom", "bbox",
              postgresql_using="gist"),
    )
