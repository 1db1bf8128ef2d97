"""Schemas of the referral figures' API (``/api/v1/stats``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from . import figures

PROGRAMME_HELP = ("code du programme (ex. pass-numerique-gironde, celui du sélecteur de la "
                  "carte) ou son identifiant numérique")


class StatsQuerySchema(Schema):
    niveau = fields.String(load_default="departement",
                           validate=validate.OneOf(list(figures.LEVELS)),
                           metadata={"description": "commune, departement ou region"})
    programme = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                              metadata={"description": PROGRAMME_HELP})
    depuis = fields.Date(load_default=None)
    jusqua = fields.Date(load_default=None)


class StatsRowSchema(Schema):
    programme = fields.String()
    programme_id = fields.Integer(allow_none=True)
    niveau = fields.String()
    code = fields.String()
    territoire = fields.String()
    mois = fields.String(metadata={"description": "AAAA-MM (heure de Paris)"})
    envoyees = fields.Integer(allow_none=True)
    acceptees = fields.Integer(allow_none=True)
    refusees = fields.Integer(allow_none=True)
    refusees_par_motif = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    expirees = fields.Integer(allow_none=True)
    honorees = fields.Integer(allow_none=True)
    cheques_honores = fields.Integer(allow_none=True)
    delai_median_jours = fields.Float(allow_none=True)


class StatsSchema(Schema):
    seuil = fields.Integer()
    lignes = fields.List(fields.Nested(StatsRowSchema))


class LayerQuerySchema(Schema):
    niveau = fields.String(load_default="departement",
                           validate=validate.OneOf(list(figures.LEVELS)))
    programme = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                              metadata={"description": PROGRAMME_HELP})
