"""Costs of the (commune, venue) pairs in reach: ellipsoidal (WGS 84) geodesic distance ×
detour factor, for the pairs within the largest catchment (30 km of cost, i.e. 30 / detour
km in straight line). Two engines give the same figures: ``python`` (a k-d tree on the
sphere to find the candidate pairs with a safety margin, then pyproj's ``Geod.inv`` on
arrays) and ``sql`` (``ST_DWithin`` on geography with a GiST index, then
``ST_Distance(…, true)``)."""

from __future__ import annotations

import io
import math

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy.orm import Session

from core.errors import InvalidInput

from . import accessibility
from .inputs import Demand, Supply, straight_radius_km

COST_ENGINES = ("python", "sql")
EARTH_MEAN_RADIUS_KM = 6371.0088
# Sphere versus WGS 84 geodesic: at most ≈ 0.56 % apart; the k-d tree looks 1 % farther.
_SPHERE_MARGIN = 1.01
# The temporary tables of the sql engine (fixed names, interpolated from here only).
_TEMP_TABLES = ("cov_demand", "cov_supply")


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lon), np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def geodesic_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray,
                lat2: np.ndarray) -> np.ndarray:
    """WGS 84 geodesic distance in km (pyproj, Karney's algorithm), element-wise."""
    from pyproj import Geod

    if lon1.size == 0:
        return np.zeros(0)
    _, _, metres = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return np.asarray(metres, dtype=np.float64) / 1000.0


def pairs_within_python(d_lon: np.ndarray, d_lat: np.ndarray, s_lon: np.ndarray,
                        s_lat: np.ndarray,
                        radius_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(demand index, supply index, geodesic km) of the pairs at most ``radius_km`` apart."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if d_lon.size == 0 or s_lon.size == 0:
        return empty
    arc = radius_km * _SPHERE_MARGIN / EARTH_MEAN_RADIUS_KM
    chord = 2.0 * math.sin(min(arc, math.pi) / 2.0)
    d_tree = cKDTree(_unit_xyz(d_lon, d_lat))
    s_tree = cKDTree(_unit_xyz(s_lon, s_lat))
    found = d_tree.sparse_distance_matrix(s_tree, chord, output_type="ndarray")
    di = found["i"].astype(np.int64)
    sj = found["j"].astype(np.int64)
    km = geodesic_km(d_lon[di], d_lat[di], s_lon[sj], s_lat[sj])
    keep = km <= radius_km
    di, sj, km = di[keep], sj[keep], km[keep]
    order = np.lexsort((sj, di))
    return di[order], sj[order], km[order]


def pairs_within_sql(session: Session, d_lon: np.ndarray, d_lat: np.ndarray,
                     s_lon: np.ndarray, s_lat: np.ndarray,
                     radius_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`pairs_within_python`, in PostGIS: ``ST_DWithin`` on geography with a
    GiST index on temporary tables, then ``ST_Distance(…, true)`` (spheroid)."""
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        for table, lon, lat in zip(_TEMP_TABLES, (d_lon, s_lon), (d_lat, s_lat), strict=True):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TEMP TABLE {table} (k integer, x float8, y float8) "
                           "ON COMMIT DROP")
            with cursor.copy(f"COPY {table} (k, x, y) FROM STDIN") as copy:
                for k in range(lon.size):
                    copy.write_row((k, float(lon[k]), float(lat[k])))
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN g geography(Point, 4326) "
                           "GENERATED ALWAYS AS "
                           "(ST_SetSRID(ST_MakePoint(x, y), 4326)::geography) STORED")
            cursor.execute(f"CREATE INDEX ON {table} USING gist (g)")
            cursor.execute(f"ANALYZE {table}")
        buffer = io.BytesIO()
        with cursor.copy(
                "COPY (SELECT d.k, s.k, ST_Distance(d.g, s.g, true) / 1000.0 "
                "FROM cov_demand d JOIN cov_supply s ON ST_DWithin(d.g, s.g, %s, true) "
                "ORDER BY d.k, s.k) TO STDOUT", (float(radius_km) * 1000.0,)) as copy:
            for chunk in copy:
                buffer.write(chunk)
        cursor.execute("DROP TABLE cov_demand")
        cursor.execute("DROP TABLE cov_supply")
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    table = np.loadtxt(buffer, dtype=np.float64, ndmin=2)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]


def cost_pairs(session: Session, demand: Demand, supply: Supply, max_cost_km: float,
               detour: float, engine: str = "python") -> accessibility.Pairs:
    """Pairs with ``cost = geodesic × detour <= max_cost_km``."""
    radius = straight_radius_km(max_cost_km, detour)
    if engine == "sql":
        di, sj, km = pairs_within_sql(session, demand.lon, demand.lat, supply.lon,
                                      supply.lat, radius)
    elif engine == "python":
        di, sj, km = pairs_within_python(demand.lon, demand.lat, supply.lon, supply.lat,
                                         radius)
    else:
        raise InvalidInput(f"Moteur de calcul des distances « {engine} » inconnu : "
                           "python ou sql.")
    cost = km * detour
    keep = cost <= max_cost_km
    return accessibility.make_pairs(di[keep], sj[keep], cost[keep], len(demand),
                                    len(supply), check_duplicates=False)


