"""The coverage map's own view of the figures: GET /api/v1/coverage/map/{level}.

The coverage API (:mod:`coverage.api`) serves every figure with polygons fit for
any zoom; a map only needs what it draws at the zoom it shows. This endpoint reuses that
API's checks and rows (same run lookup, same territory and bbox filters, same figures,
same errors) and differs in three ways, each measured by bench/map_payload.py:

- only the properties the choropleth, its circles and its labels use (``MAP_FIELDS``; the
  side panel fetches the full figures of the one territory clicked from the coverage API);
- polygons simplified to about one screen pixel at ``zoom``, stored per zoom by the
  refresh (:mod:`coverage.map_shapes`), with coordinates rounded to match;
- gzip when the client accepts it.

A view is one statement after the newest run's id: PostgreSQL joins the Features the
refresh stored for the run and zoom (:mod:`coverage.map_features`; assembled on the fly
for a run older than that store). The newest run's id keys the answers: the checked
arguments and the run of a selection are kept per process until a new run appears, and so
are the gzipped answers (the same tile asked by another user, or after a pan back, costs
one query).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import schemas as fr
from core.geojson import MEDIA_TYPE, FeatureCollectionSchema, collection_text
from core.schemas import BBOX_PATTERN, other_content
from extensions import db

from .map_features import MAP_FIELDS, has_map_features, map_rows, stored_statement
from .map_shapes import degrees_per_pixel, digits_for, shape_zoom, tolerance_for
from .models import CoverageRun
from .readouts import (
    ViewRequest,
    bbox_params,
    check_view_size,
    features_text,
    prepare_view,
)
from .schemas import TERRITORY_PATTERN, BBox, SelectionArgs
from .selection import Selection

__all__ = ["MAP_FIELDS", "ResponseCache", "degrees_per_pixel", "digits_for", "map_view",
           "tolerance_for"]

GZIP_LEVEL = 1           # 4× faster than 5 on a tile, ≈ 15 % larger: the wire is not the cost
RESPONSE_CACHE_MAX_BYTES = 32_000_000   # gzipped answers kept per process
PREPARED_MAX_ENTRIES = 256
CACHE_CONTROL = "public, max-age=300"
# A URL naming its run (``run=``) always answers the same: the browser keeps it for the
# session and never asks again (a new run is a new URL).
CACHE_CONTROL_RUN = "public, max-age=31536000, immutable"


class ResponseCache:
    """Values by key, the least recently used dropped past ``max_bytes`` (the size of a
    value is ``len``, or 1): gzipped answers by the latest run id and the request's
    arguments — a tile asked again is served without computing it."""

    def __init__(self, max_bytes: int = RESPONSE_CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def _weight(value) -> int:
        return len(value) if isinstance(value, bytes | str) else 1

    def get(self, key):
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key, data) -> None:
        with self._lock:
            previous = self._items.pop(key, None)
            self._size -= self._weight(previous) if previous is not None else 0
            self._items[key] = data
            self._size += self._weight(data)
            while self._size > self.max_bytes and len(self._items) > 1:
                _key, dropped = self._items.popitem(last=False)
                self._size -= self._weight(dropped)


def latest_run_id(session: Session) -> int:
    """The newest run's id: any new run (a refresh) changes every key and every ETag."""
    runs = CoverageRun.__table__
    return session.execute(select(func.coalesce(func.max(runs.c.id), 0))).scalar_one()


def map_view(session: Session, level: str, selection: Selection, *, zoom: int,
             bbox: Sequence[float] | None = None, run_id: int | None = None,
             prepared: ViewRequest | None = None, stored: bool | None = None
             ) -> tuple[dict, str]:
    """(run, GeoJSON text) of ``level`` within the selection's territory and ``bbox``;
    ``prepared``: the arguments already checked (:func:`coverage.readouts.prepare_view`);
    ``stored``: whether the run's Features are stored (looked up when None) — if not (a
    run older than the store), they are built now."""
    if prepared is None:
        prepared = prepare_view(session, level, selection, bbox=bbox, run_id=run_id)
    if stored is None:
        stored = has_map_features(session, prepared.run["id"], level)
    at = shape_zoom(level, zoom)
    tolerance = tolerance_for(level, at)
    shape = (prepared.run["method"], prepared.territory.kind, bbox is not None)
    if stored:
        statement = stored_statement(level, *shape)
    else:
        statement = features_text(map_rows(level, *shape))
    count, features = session.execute(statement, {
        **prepared.params, **bbox_params(bbox), "shape_zoom": at,
        "tolerance": tolerance, "digits": digits_for(tolerance)}).one()
    check_view_size(level, int(count))
    run = {**prepared.run, "created_at": prepared.run["created_at"].isoformat()}
    return prepared.run, collection_text(features or "", {
        "level": level, "zoom": zoom, "tolerance": tolerance, "run": run})


def reset_caches(app: Flask) -> None:
    """Empty this process's answers and checked arguments (bench: a cold server)."""
    app.extensions["coverage_map_answers"] = ResponseCache()
    app.extensions["coverage_map_prepared"] = ResponseCache(PREPARED_MAX_ENTRIES)


# --------------------------------------------------------------------------- web

class MapArgs(SelectionArgs):
    within = fr.String(
        load_default="fr",
        validate=validate.Regexp(TERRITORY_PATTERN, error="Territoire attendu : fr, reg:<code>, "
                                 "dep:<code>, epci:<SIREN> ou com:<code INSEE>."),
        metadata={"description": "Territoire montré (au niveau commune : autre que fr, "
                                 "sauf avec bbox)."})
    bbox = BBox(metadata={"description": "Emprise minlon,minlat,maxlon,maxlat de la vue ; "
                                         "vide = sans emprise.", "pattern": BBOX_PATTERN})
    zoom = fr.Integer(
        required=True,
        validate=validate.Range(min=0, max=18, error="zoom : entier de 0 à 18."),
        metadata={"description": "Zoom de la carte : les polygones sont simplifiés à environ "
                                 "un pixel à ce zoom."})
    run = fr.Integer(validate=validate.Range(min=1, error="Entier positif attendu."))


blp = Blueprint(
    "coverage_map", __name__, url_prefix="/api/v1/coverage/map",
    description="Couverture pour la carte : mêmes chiffres que /api/v1/coverage/{niveau}, "
                "réduits à ce que la carte dessine, polygones simplifiés pour le zoom.")


class MapCollectionSchema(FeatureCollectionSchema):
    """What the map draws: the features and, as foreign members, the level, the zoom, the
    simplification tolerance in degrees and the run the figures come from."""

    level = fields.String(metadata={"enum": ["commune", "epci", "departement", "region"]})
    zoom = fields.Integer()
    tolerance = fields.Float(allow_none=True)
    run = fields.Dict()


@blp.route("/<any(commune, epci, departement, region):level>")
@blp.arguments(MapArgs, location="query", unknown=RAISE)
@blp.response(200, description="FeatureCollection : propriétés " + ", ".join(MAP_FIELDS)
              + " ; membres `run`, `level`, `zoom`, `tolerance`. Gzip si accepté.",
              content_type="application/geo+json")
@blp.alt_response(304, description="Inchangé depuis l'ETag envoyé (If-None-Match).")
@blp.alt_response(404, description="Aucun calcul pour cette sélection (le message donne la "
                                   "commande à lancer).")
@blp.alt_response(422, description="Paramètres invalides, ou trop de communes dans la vue.")
@blp.doc(**other_content(200, **{MEDIA_TYPE: {"schema": MapCollectionSchema}}))
def map_level(args, level):
    """Chiffres d'un niveau pour la carte, au zoom de la vue

    Les mêmes territoires et chiffres que `/api/v1/coverage/{niveau}` (dernier calcul de la
    sélection, filtres `within` et `bbox`), limités aux propriétés dessinées ; polygones
    simplifiés à environ un pixel au `zoom` demandé.
    """
    selection = Selection(args.get("programme"), args.get("service"),
                          args.get("within") or "fr", args.get("need") or "population")
    query = json.dumps({k: v for k, v in sorted(args.items())}, sort_keys=True, default=str)
    latest = latest_run_id(db.session)
    tag = (f"map-{latest}-"
           f"{hashlib.sha1(f'{level}|{query}'.encode()).hexdigest()[:16]}")
    headers = {"ETag": f'"{tag}"', "Vary": "Accept-Encoding",
               "Cache-Control": CACHE_CONTROL_RUN if args.get("run") else CACHE_CONTROL}
    if request.if_none_match.contains(tag):
        return Response(status=304, headers=headers)
    answers: ResponseCache = current_app.extensions["coverage_map_answers"]
    data = answers.get(tag)
    if data is None:
        bbox = args.get("bbox")
        # Checked once per selection and run (three queries), not per tile.
        checked: ResponseCache = current_app.extensions["coverage_map_prepared"]
        key = (latest, level, selection, bbox is None, args.get("run"))
        found = checked.get(key)
        if found is None:
            prepared = prepare_view(db.session, level, selection, bbox=bbox,
                                    run_id=args.get("run"))
            found = (prepared, has_map_features(db.session, prepared.run["id"], level))
            checked.put(key, found)
        prepared, stored = found
        _run, body = map_view(db.session, level, selection, zoom=args["zoom"], bbox=bbox,
                              prepared=prepared, stored=stored)
        data = gzip.compress(body.encode(), compresslevel=GZIP_LEVEL, mtime=0)
        answers.put(tag, data)
    if "gzip" in request.accept_encodings:
        headers["Content-Encoding"] = "gzip"
    else:
        data = gzip.decompress(data)
    return Response(data, mimetype="application/geo+json", headers=headers)


def init_app(app: Flask) -> None:
    from extensions import api

    reset_caches(app)
    api.register_blueprint(blp)
