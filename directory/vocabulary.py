"""Controlled vocabularies of the catalogue, in one place.

The values of the national standard "Lieux de médiation numérique" v1.0.2 come from its
``enumerations.csv`` (LaMednum/standard-mediation-num); they are copied here as constants
because the application must not read ../shared/data at run time. The importer, the
exporter, the offers importer, the demo, the API schemas and the matcher all use these.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from core.text import slug

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

# The same levels and access modes in the words of a beneficiary (no "niveau 3", no "RDV").
LEVEL_PLAIN: dict[int, str] = {1: "pour débuter", 2: "pour progresser",
                               3: "pour les personnes déjà à l'aise"}
MODALITES_ACCES_PLAIN: dict[str, str] = {
    "Se présenter": "venir sur place",
    "Téléphoner": "téléphoner",
    "Contacter par mail": "écrire un e-mail",
    "Prendre un RDV en ligne": "prendre rendez-vous sur internet",
    "Ce lieu n'accueille pas de public": "ce lieu ne reçoit pas de public",
    "Envoyer un mail avec une fiche de prescription":
        "venir envoyé par un travailleur social ou une association",
}

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


# --- Topics: what a person wants to learn --------------------------------------------------
# The standard's nine `services` are too broad to answer "what do you want to learn". The
# finer vocabulary is data·inclusion's digital `thematiques` (schema v0), which are the 15
# service labels of the standard v0.1: their codes and labels are kept exactly, so that
# imports and exports stay one-to-one. Three topics people ask for and the list lacks are
# added with codes in the same style. Each topic maps to exactly one v1.0.2 service.


class Topic(NamedTuple):
    code: str  # data·inclusion's thematique code (ours in the same style for the 3 added)
    label: str  # the v0.1 / data·inclusion label
    service: str  # the v1.0.2 service it belongs to
    plain: str  # the words a beneficiary reads on the tiles


_D, _M, _I = SERVICES[0], SERVICES[1], SERVICES[2]
_S, _P, _L, _C, _A, _Q = SERVICES[3], SERVICES[4], SERVICES[5], SERVICES[6], SERVICES[7], \
    SERVICES[8]

TOPICS: tuple[Topic, ...] = (
    Topic("numerique--prendre-en-main-un-smartphone-ou-une-tablette",
          "Prendre en main un smartphone ou une tablette", _M,
          "Me servir d'un smartphone ou d'une tablette"),
    Topic("numerique--prendre-en-main-un-ordinateur", "Prendre en main un ordinateur", _M,
          "Me servir d'un ordinateur"),
    Topic("numerique--envoyer-recevoir-gerer-ses-courriels",
          "Envoyer, recevoir, gérer ses courriels", _M, "Envoyer et recevoir des e-mails"),
    Topic("numerique--appeler-ses-proches-en-video", "Appeler ses proches en vidéo", _M,
          "Appeler mes proches en vidéo"),
    Topic("numerique--utiliser-le-numerique-au-quotidien", "Utiliser le numérique au quotidien",
          _M, "Me débrouiller au quotidien sur internet"),
    Topic("numerique--devenir-autonome-dans-les-demarches-administratives",
          "Devenir autonome dans les démarches administratives", _D,
          "Apprendre à faire mes démarches seul"),
    Topic("numerique--realiser-des-demarches-administratives-avec-un-accompagnement",
          "Réaliser des démarches administratives avec un accompagnement", _D,
          "Être aidé pour une démarche en ligne"),
    Topic("numerique--accompagner-les-demarches-de-sante", "Accompagner les démarches de santé",
          _D, "Ma santé en ligne (Ameli, rendez-vous médicaux)"),
    Topic("numerique--se-proteger-en-ligne", "Se protéger en ligne (arnaques, données)", _S,
          "Me protéger des arnaques"),
    Topic("numerique--favoriser-mon-insertion-professionnelle",
          "Favoriser mon insertion professionnelle", _I, "Chercher un emploi, faire mon CV"),
    Topic("numerique--creer-et-developper-mon-entreprise", "Créer et développer mon entreprise",
          _I, "Créer mon entreprise"),
    Topic("numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique",
          "Soutenir la parentalité et l'éducation avec le numérique", _P,
          "Suivre la scolarité de mes enfants"),
    Topic("numerique--creer-avec-le-numerique", "Créer avec le numérique", _L,
          "Photos, vidéos et créations"),
    Topic("numerique--approfondir-ma-culture-numerique", "Approfondir ma culture numérique", _C,
          "Comprendre internet et les réseaux sociaux"),
    Topic("numerique--promouvoir-la-citoyennete-numerique", "Promouvoir la citoyenneté numérique",
          _C, "Mes droits et la vie citoyenne en ligne"),
    Topic("numerique--acceder-a-une-connexion-internet", "Accéder à une connexion internet", _A,
          "Me connecter à internet sur place"),
    Topic("numerique--acceder-a-du-materiel", "Accéder à du matériel", _A,
          "Utiliser un ordinateur ou une imprimante sur place"),
    Topic("numerique--s-equiper-en-materiel-informatique", "S'équiper en matériel informatique",
          _Q, "Acheter un ordinateur à petit prix"),
)
TOPIC_BY_CODE: dict[str, Topic] = {t.code: t for t in TOPICS}
TOPIC_CODES: tuple[str, ...] = tuple(TOPIC_BY_CODE)
_TOPIC_BY_LABEL_SLUG: dict[str, Topic] = {slug(t.label): t for t in TOPICS}

# How a venue answers a topic (directory.rules.topic_answer), surest first: an active offer
# on it; else, only at a venue that lists no active offer at all, a topic it declares (its
# v0.1 services, its presentation) or the broad v1.0.2 service the topic belongs to.
BY_OFFER, BY_DECLARED, BY_SERVICE = "offer", "declared", "service"
TOPIC_ANSWERS: tuple[str, ...] = (BY_OFFER, BY_DECLARED, BY_SERVICE)

# What a topic is about, in a few words, for « sans précision sur … » when a venue only
# declares the broad service.
TOPIC_SUBJECTS: dict[str, str] = {
    "numerique--prendre-en-main-un-smartphone-ou-une-tablette": "le smartphone ou la tablette",
    "numerique--prendre-en-main-un-ordinateur": "l'ordinateur",
    "numerique--envoyer-recevoir-gerer-ses-courriels": "les e-mails",
    "numerique--appeler-ses-proches-en-video": "les appels en vidéo",
    "numerique--utiliser-le-numerique-au-quotidien": "le numérique au quotidien",
    "numerique--devenir-autonome-dans-les-demarches-administratives":
        "l'apprentissage des démarches en ligne",
    "numerique--realiser-des-demarches-administratives-avec-un-accompagnement":
        "l'aide à une démarche en ligne",
    "numerique--accompagner-les-demarches-de-sante": "les démarches de santé",
    "numerique--se-proteger-en-ligne": "la protection contre les arnaques",
    "numerique--favoriser-mon-insertion-professionnelle": "la recherche d'emploi",
    "numerique--creer-et-developper-mon-entreprise": "la création d'entreprise",
    "numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique":
        "la scolarité des enfants",
    "numerique--creer-avec-le-numerique": "les photos, vidéos et créations",
    "numerique--approfondir-ma-culture-numerique": "internet et les réseaux sociaux",
    "numerique--promouvoir-la-citoyennete-numerique": "les droits et la vie citoyenne en ligne",
    "numerique--acceder-a-une-connexion-internet": "la connexion à internet",
    "numerique--acceder-a-du-materiel": "l'accès à un ordinateur ou une imprimante",
    "numerique--s-equiper-en-materiel-informatique": "l'achat de matériel",
}

# Other spellings met in files: data·inclusion's later code for equipment, typographic
# apostrophes, the v0.1 labels themselves (handled by topic_of).
_TOPIC_ALIASES: dict[str, str] = {
    "numerique--acquerir-un-equipement": "numerique--s-equiper-en-materiel-informatique",
    "Acquérir un équipement numérique": "numerique--s-equiper-en-materiel-informatique",
}

# Free text → topic: words met in offer titles and local producers' descriptions. Checked
# in order; the first topic whose words all appear (accents folded) wins.
_TOPIC_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("smartphone",), "numerique--prendre-en-main-un-smartphone-ou-une-tablette"),
    (("tablette",), "numerique--prendre-en-main-un-smartphone-ou-une-tablette"),
    (("telephone", "portable"), "numerique--prendre-en-main-un-smartphone-ou-une-tablette"),
    (("courriel",), "numerique--envoyer-recevoir-gerer-ses-courriels"),
    (("mail",), "numerique--envoyer-recevoir-gerer-ses-courriels"),
    (("messagerie",), "numerique--envoyer-recevoir-gerer-ses-courriels"),
    (("video", "proches"), "numerique--appeler-ses-proches-en-video"),
    (("visio",), "numerique--appeler-ses-proches-en-video"),
    (("ordinateur", "reconditionne"), "numerique--s-equiper-en-materiel-informatique"),
    (("ordinateur", "acces"), "numerique--acceder-a-du-materiel"),
    (("ordinateur",), "numerique--prendre-en-main-un-ordinateur"),
    (("informatique", "debutant"), "numerique--prendre-en-main-un-ordinateur"),
    (("ameli",), "numerique--accompagner-les-demarches-de-sante"),
    (("sante",), "numerique--accompagner-les-demarches-de-sante"),
    (("demarche",), "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"),
    (("administratif",),
     "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"),
    (("arnaque",), "numerique--se-proteger-en-ligne"),
    (("mot", "passe"), "numerique--se-proteger-en-ligne"),
    (("securite",), "numerique--se-proteger-en-ligne"),
    (("cv",), "numerique--favoriser-mon-insertion-professionnelle"),
    (("emploi",), "numerique--favoriser-mon-insertion-professionnelle"),
    (("entreprise",), "numerique--creer-et-developper-mon-entreprise"),
    (("enfant",), "numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique"),
    (("parent",), "numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique"),
    (("photo",), "numerique--creer-avec-le-numerique"),
    (("video", "mont"), "numerique--creer-avec-le-numerique"),
    (("reseaux", "sociaux"), "numerique--approfondir-ma-culture-numerique"),
    (("intelligence", "artificielle"), "numerique--approfondir-ma-culture-numerique"),
    (("citoyen",), "numerique--promouvoir-la-citoyennete-numerique"),
    (("connexion",), "numerique--acceder-a-une-connexion-internet"),
    (("wifi",), "numerique--acceder-a-une-connexion-internet"),
    (("acces", "libre"), "numerique--acceder-a-du-materiel"),
    (("imprim",), "numerique--acceder-a-du-materiel"),
)


def topic_of(value: str) -> Topic | None:
    """The topic named by a code or a label (v0.1 / data·inclusion), or None."""
    value = " ".join(str(value).replace("’", "'").split())
    code = _TOPIC_ALIASES.get(value, value)
    if code in TOPIC_BY_CODE:
        return TOPIC_BY_CODE[code]
    return _TOPIC_BY_LABEL_SLUG.get(slug(value))


# Topics that name a place's equipment: "ordinateur" then is not a lesson on the computer.
_EQUIPMENT_TOPICS = frozenset({"numerique--s-equiper-en-materiel-informatique",
                               "numerique--acceder-a-du-materiel"})


def topics_from_text(text: str | None) -> list[str]:
    """Topic codes recognised in free text (an offer's title, a local producer's
    description), in vocabulary order; [] when nothing is recognised."""
    if not text:
        return []
    words = set(slug(text).split("-"))
    found = {code for needed, code in _TOPIC_WORDS
             # a needed stem matches the words that start with it ("demarches", "imprimante")
             if all(any(w.startswith(n) for w in words) for n in needed)}
    if found & _EQUIPMENT_TOPICS:
        found.discard("numerique--prendre-en-main-un-ordinateur")
    return [code for code in TOPIC_CODES if code in found]


# Contact details say nothing of what is taught ("écrivez-nous par mail"): left out of a
# presentation before its topics are read.
_CONTACT = re.compile(r"\S+@\S+|https?://\S+|www\.\S+"
                      r"|\b(?:par|un|en|via|notre|adresse|contact)\s+(?:e-?)?(?:mail|courriel)s?\b",
                      re.IGNORECASE)


def declared_topics(services: list[str] | tuple[str, ...], declared: list[str] | None = None,
                    text: str | None = None) -> list[str]:
    """A venue's declared topics (``lieu.topics``), in vocabulary order.

    ``declared``: the topic codes its file names (v0.1 services through
    :func:`map_v0_services`, our export's ``x_services_v0``), kept as they are. Without
    them (a v1.0.2 row, a producer's own format), only what is fairly sure: the topics its
    presentation ``text`` names (:func:`topics_from_text`, contact details left out) under
    one of its v1.0.2 ``services``, and the topic of a service that has only one."""
    if declared is not None:
        found = set(declared)
    else:
        found = {code for code in topics_from_text(_CONTACT.sub(" ", text or ""))
                 if TOPIC_BY_CODE[code].service in services}
        for service in services:
            under = topics_of_service(service)
            if len(under) == 1:
                found.add(under[0])
    return [code for code in TOPIC_CODES if code in found]


def keep_known_topics(topics: list[str], known: list[str] | tuple[str, ...],
                      services: list[str] | tuple[str, ...]) -> list[str]:
    """A row that declares no topics (the v1.0.2 standard cannot carry them) keeps those the
    venue had (``known``, from an earlier v0.1 import) while their service is still among
    its ``services``, besides ``topics`` read from its text; vocabulary order."""
    found = set(topics) | {t for t in known
                           if t in TOPIC_BY_CODE and TOPIC_BY_CODE[t].service in services}
    return [code for code in TOPIC_CODES if code in found]


def map_v0_services(values: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Standard v0.1 `services` (or data·inclusion thematiques) → (topic codes, v1.0.2
    services, values not understood). What the importer calls for a v0.1 row."""
    topics: list[str] = []
    unknown: list[str] = []
    for value in values:
        topic = topic_of(value)
        if topic is None:
            unknown.append(value)
        elif topic.code not in topics:
            topics.append(topic.code)
    return topics, services_of_topics(topics), unknown


def services_of_topics(codes: list[str] | tuple[str, ...]) -> list[str]:
    """The v1.0.2 services of some topics, in the standard's order (for the export)."""
    wanted = {TOPIC_BY_CODE[c].service for c in codes if c in TOPIC_BY_CODE}
    return [s for s in SERVICES if s in wanted]


def topics_of_service(service: str) -> list[str]:
    """The topics under one v1.0.2 service (what a v1.0.2 row tells about its offers)."""
    return [t.code for t in TOPICS if t.service == service]


def v0_labels_of_topics(codes: list[str] | tuple[str, ...]) -> list[str]:
    """v0.1 `services` labels of topics (for an export in the v0.1 / data·inclusion form);
    the three topics we added have no v0.1 label and fall back to their own label."""
    return [TOPIC_BY_CODE[c].label for c in codes if c in TOPIC_BY_CODE]


def topics_for_offer(declared: list[str] | None, title: str, service: str,
                     description: str | None = None) -> tuple[list[str], list[str]]:
    """An offer's topic codes and the French problems found.

    ``declared`` (codes or labels, as a file gives them) must each name a topic of the
    offer's service. Without it, the topics are read from the title and description and
    kept when under the service; [] when nothing is recognised (the offer then answers no
    topic question, only its service)."""
    if declared is None:
        found = topics_from_text(f"{title} {description or ''}")
        return [c for c in found if TOPIC_BY_CODE[c].service == service], []
    codes: list[str] = []
    problems: list[str] = []
    for value in declared:
        topic = topic_of(value)
        if topic is None:
            problems.append(f"« {value} » n'est pas une thématique connue (codes de "
                            "data·inclusion, ex. numerique--prendre-en-main-un-ordinateur)")
        elif topic.service != service:
            problems.append(f"« {topic.label} » relève du service « {topic.service} », "
                            f"pas de « {service} »")
        elif topic.code not in codes:
            codes.append(topic.code)
    return codes, problems
