"""Controlled vocabularies of the catalogue, in one place.

The values of the national standard "Lieux de médiation numérique" v1.0.2 come from its
``enumerations.csv`` (LaMednum/standard-mediation-num); they are copied here as constants
because the application must not read ../shared/data at run time. The importer, the
exporter, the offers importer, the demo, the API schemas and the matcher all use these.
"""

from __future__ import annotations

# --- Standard v1.0.2 list fields (values exactly as in the standard) -----------------------

SERVICES: tuple[str, ...] = (
    "Aide aux démarches administratives",
    "Maîtrise des outils numériques du quotidien",
    "Insertion professionnelle via le numérique",
    "Utilisation sécurisée du numérique",
    "Parentalité et éducation avec le numérique",
    "Loisirs et créations numériques",
    "Compréhension du monde numérique",
    "Accès internet et matériel informatique",
    "Acquisition de matériel informatique à prix solidaire",
)

ITINERANCE: tuple[str, ...] = ("Itinérant", "Fixe")

PUBLICS_SPECIFIQUEMENT_ADRESSES: tuple[str, ...] = (
    "Jeunes",
    "Étudiants",
    "Familles et/ou enfants",
    "Seniors",
    "Femmes",
)

PRISE_EN_CHARGE_SPECIFIQUE: tuple[str, ...] = (
    "Surdité",
    "Handicaps moteurs",
    "Handicaps mentaux",
    "Illettrisme",
    "Langues étrangères (anglais)",
    "Langues étrangères (autres)",
    "Déficience visuelle",
)

FRAIS_A_CHARGE: tuple[str, ...] = ("Gratuit", "Gratuit sous condition", "Payant")

DISPOSITIF_PROGRAMMES_NATIONAUX: tuple[str, ...] = (
    "Aidants Connect",
    "Bibliothèques numérique de référence",
    "Certification PIX",
    "Conseillers numériques",
    "Emmaüs Connect",
    "France Services",
    "Grande école du numérique",
    "La Croix Rouge",
    "Point d'accès numérique CAF",
    "Promeneurs du net",
    "Relais numérique (Emmaüs Connect)",
)

FORMATIONS_LABELS: tuple[str, ...] = (
    "Formé à « Mon Espace Santé »",
    "Formé à « DUPLEX » (illettrisme)",
    "Arnia/MedNum BFC (Bourgogne-Franche-Comté)",
    "Collectif ressources et acteurs réemploi (Normandie)",
    "Étapes numériques(La Poste)",
    "Fabriques de Territoire",
    "Les Éclaireurs du numérique (Drôme)",
    "Mes Papiers (Métropole de Lyon)",
    "ORDI 3.0",
    "SUD LABS (PACA)",
)

MODALITES_ACCES: tuple[str, ...] = (
    "Se présenter",
    "Téléphoner",
    "Contacter par mail",
    "Prendre un RDV en ligne",
    "Ce lieu n'accueille pas de public",
    "Envoyer un mail avec une fiche de prescription",
)

MODALITES_ACCOMPAGNEMENT: tuple[str, ...] = (
    "En autonomie",
    "Accompagnement individuel",
    "Dans un atelier collectif",
    "À distance",
)

# Every enumerated list field of the standard, by column name.
STANDARD_ENUMERATIONS: dict[str, tuple[str, ...]] = {
    "services": SERVICES,
    "itinerance": ITINERANCE,
    "publics_specifiquement_adresses": PUBLICS_SPECIFIQUEMENT_ADRESSES,
    "prise_en_charge_specifique": PRISE_EN_CHARGE_SPECIFIQUE,
    "frais_a_charge": FRAIS_A_CHARGE,
    "dispositif_programmes_nationaux": DISPOSITIF_PROGRAMMES_NATIONAUX,
    "formations_labels": FORMATIONS_LABELS,
    "modalites_acces": MODALITES_ACCES,
    "modalites_accompagnement": MODALITES_ACCOMPAGNEMENT,
}

# The `typologie` codes of the ANCT (typologies-anct-lib.csv), with their French labels for
# the ones the demo uses; the full list of codes is what validation accepts.
TYPOLOGIES: tuple[str, ...] = (
    "ACI", "ACIPHC", "AFPA", "AI", "ASE", "ASSO", "ASSO_CHOMEUR", "Autre", "AVIP", "BIB",
    "CAARUD", "CADA", "CAF", "CAP_EMPLOI", "CAVA", "CC", "CCAS", "CCONS", "CD", "CDAS", "CFP",
    "CHRS", "CHU", "CIAS", "CIDFF", "CITMET", "CMP", "CMS", "CPAM", "CPH", "CS", "CSAPA", "CSC",
    "DEETS", "DEPT", "DIPLP", "E2C", "EA", "EATT", "EI", "EITI", "ENM", "EPCI", "EPI", "EPIDE",
    "EPN", "ES", "ESAT", "ESS", "ETTI", "EVS", "FABLAB", "FABRIQUE", "FAIS", "FT", "GEIQ", "HUDA",
    "LA_POSTE", "MDE", "MDH", "MDEF", "MDPH", "MDS", "MJC", "ML", "MQ", "MSA", "MSAP", "MUNI",
    "OACAS", "ODC", "OF", "OIL", "OPCS", "PAD", "PENSION", "PI", "PIJ_BIJ", "PIMMS", "PJJ",
    "PLIE", "PREF", "PREVENTION", "REG", "RELAIS_LECTURE", "RESSOURCERIE", "RFS", "RS_FJT",
    "SCP", "SPIP", "TIERS_LIEUX", "UDAF",
)

# --- Our own vocabularies (not in the standard) -------------------------------------------

# Venue status (column lieu.status).
VENUE_STATUSES: tuple[str, ...] = ("open", "temporarily_closed", "closed")
VENUE_STATUS_LABELS: dict[str, str] = {
    "open": "ouvert",
    "temporarily_closed": "fermé temporairement",
    "closed": "fermé définitivement",
}

# How precisely lieu.geom locates the venue (column lieu.location_precision).
LOCATION_PRECISIONS: tuple[str, ...] = ("address", "commune", "postal_code")

# Offer formats (column offre.format) and their French labels.
OFFER_FORMATS: tuple[str, ...] = ("individual", "collective", "remote", "autonomous")
OFFER_FORMAT_LABELS: dict[str, str] = {
    "individual": "accompagnement individuel",
    "collective": "atelier collectif",
    "remote": "à distance",
    "autonomous": "en autonomie",
}
# The standard's modalites_accompagnement value that corresponds to each offer format.
OFFER_FORMAT_TO_MODALITE: dict[str, str] = {
    "individual": "Accompagnement individuel",
    "collective": "Dans un atelier collectif",
    "remote": "À distance",
    "autonomous": "En autonomie",
}

# APTIC's referential: three levels.
LEVELS: dict[int, str] = {1: "Découvrir", 2: "Maîtriser", 3: "Augmenter son pouvoir d'agir"}

# Where an acceptance of a programme comes from (column acceptation.source).
ACCEPTANCE_SOURCES: tuple[str, ...] = ("import", "manual", "label")

# Time zones by overseas département / collectivity code; metropole is Europe/Paris.
TIME_ZONE_METROPOLE = "Europe/Paris"

# Plausible French areas, as (name, min_lon, min_lat, max_lon, max_lat) in EPSG:4326.
# lieu.geom and lieu_stop.geom must fall in one of them (database CHECK, see models.py).
# Slightly generous boxes: they catch other countries and swapped latitude/longitude,
# not a point a few kilometres off shore.
FRENCH_AREAS: tuple[tuple[str, float, float, float, float], ...] = (
    ("France métropolitaine et Corse", -5.6, 41.2, 9.9, 51.2),
    ("Guadeloupe", -61.9, 15.8, -60.9, 16.6),
    ("Martinique", -61.3, 14.35, -60.75, 14.95),
    ("Guyane", -54.7, 2.0, -51.5, 5.9),
    ("La Réunion", 55.1, -21.5, 55.9, -20.8),
    ("Saint-Pierre-et-Miquelon", -56.5, 46.7, -56.1, 47.2),
    ("Mayotte", 44.9, -13.1, 45.35, -12.6),
    ("Saint-Barthélemy", -62.95, 17.85, -62.75, 17.98),
    ("Saint-Martin", -63.2, 18.0, -62.95, 18.15),
    ("Wallis-et-Futuna", -178.3, -14.4, -176.0, -13.1),
    ("Polynésie française", -154.8, -28.0, -134.4, -7.8),
    ("Nouvelle-Calédonie", 163.5, -23.0, 169.0, -18.0),
)


def french_area_of(longitude: float, latitude: float) -> str | None:
    """Name of the French area containing the point, or None (same test as the CHECK)."""
    for name, min_lon, min_lat, max_lon, max_lat in FRENCH_AREAS:
        if min_lon <= longitude <= max_lon and min_lat <= latitude <= max_lat:
            return name
    return None


def french_area_check_sql(column: str) -> str:
    """SQL boolean expression: ``column`` (a Point 4326) lies in one of FRENCH_AREAS."""
    boxes = " OR ".join(
        f"(ST_X({column}) BETWEEN {a} AND {c} AND ST_Y({column}) BETWEEN {b} AND {d})"
        for _, a, b, c, d in FRENCH_AREAS
    )
    return f"{column} IS NULL OR {boxes}"


# Fields of the standard v1.0.2, in the order of its schema (the export writes this order).
STANDARD_FIELDS: tuple[str, ...] = (
    "id", "pivot", "nom", "commune", "code_postal", "code_insee", "adresse",
    "complement_adresse", "latitude", "longitude", "typologie", "telephone", "courriels",
    "site_web", "horaires", "presentation_resume", "presentation_detail", "source",
    "itinerance", "structure_parente", "date_maj", "services",
    "publics_specifiquement_adresses", "prise_en_charge_specifique", "frais_a_charge",
    "dispositif_programmes_nationaux", "formations_labels", "autres_formations_labels",
    "modalites_acces", "modalites_accompagnement", "fiche_acces_libre", "prise_rdv",
)
# Its `|`-separated list fields (text[] columns of `lieu`).
STANDARD_LIST_FIELDS: tuple[str, ...] = (
    "typologie", "telephone", "courriels", "site_web", "itinerance", "services",
    "publics_specifiquement_adresses", "prise_en_charge_specifique", "frais_a_charge",
    "dispositif_programmes_nationaux", "formations_labels", "autres_formations_labels",
    "modalites_acces", "modalites_accompagnement",
)
