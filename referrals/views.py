"""French pages of the referral loop: the prescriber's form, slip and follow-up (with CSV),
the venue's answer by signed link (no account) and its dashboard, the funders' figures,
the administrator's export and erasure, and the privacy notice.
Every route declares its access rule (core.access); forms carry a CSRF token."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from accounts.access import actor, holds, now
from accounts.journal import Actor
from core.access import public, requires
from core.errors import Conflict, InvalidInput, NotFound, PasserelleError
from core.spreadsheet import neutralise_cell
from directory.models import Offer, Programme, TrainingSession, Venue
from directory.programmes import parse_perimeter_code
from extensions import db
from geodata.models import Commune

from . import figures, groups, notify, services, states
from .models import CONTACT_KINDS, Referral

bp = Blueprint("referrals", __name__)
LINK_ACTOR = Actor("web", None, "lien_du_lieu")  # the venue answering without an account


# --------------------------------------------------------------------------- scopes


def referral_structure_scope(args: dict) -> list[str]:
    structure = db.session.scalar(select(Referral.structure).where(
        Referral.id == args["referral_id"]))
    return [structure] if structure is not None else []


def venue_scope(args: dict) -> list[str]:
    return [str(args["venue_id"])]


# --------------------------------------------------------------------------- helpers


def _settings() -> services.Settings:
    return services.Settings.from_config(current_app.config)


def _int(name: str) -> int | None:
    value = (request.values.get(name) or "").strip()
    return int(value) if value.isdigit() and len(value) < 18 else None


def _my_structures() -> list[str]:
    if g.person is None:
        return []
    return services.structures_of(db.session, g.person.id)


def _upcoming_sessions(venue_id: int, when: dt.datetime) -> list[tuple]:
    return list(db.session.execute(
        select(TrainingSession, Offer).join(Offer, Offer.id == TrainingSession.offre_id)
        .where(Offer.lieu_id == venue_id, Offer.active, TrainingSession.starts_at > when)
        .order_by(TrainingSession.starts_at).limit(30)))


def _programmes() -> list[Programme]:
    return list(db.session.scalars(select(Programme).order_by(Programme.name)))


def _basemap() -> dict:
    config = current_app.config
    return {"url": config.get("PASSERELLE_BASEMAP_URL", ""),
            "attribution": config.get("PASSERELLE_BASEMAP_ATTRIBUTION", "")}


def _mail_after_commit(function, *args, **kwargs) -> None:
    if not function(*args, **kwargs):
        flash("Le courriel n'a pas pu être envoyé pour l'instant.", "erreur")


# --------------------------------------------------------------------------- referring


@bp.route("/orienter/orientation", methods=["GET", "POST"])
@requires("prescriber")
def new():
    venue = db.session.get(Venue, _int("lieu") or 0)
    if venue is None:
        raise NotFound("Lieu introuvable : choisissez un lieu dans les résultats de "
                       "« Orienter ».")
    structures = _my_structures() or ["administration"]
    context = {"venue": venue, "offers": [o for o in venue.offers if o.active],
               "sessions": _upcoming_sessions(venue.id, now()), "programmes": _programmes(),
               "structures": structures, "contact_kinds": CONTACT_KINDS,
               "consent_text": services.CONSENT_TEXT, "note_warning": services.NOTE_WARNING,
               "consent_version": services.CONSENT_VERSION}
    if request.method == "GET":
        by_code = db.session.scalar(select(Programme.id).where(
            Programme.code == request.args.get("pass", "")))
        form = {"offre": request.args.get("offre", ""), "seance": request.args.get("seance", ""),
                "programme": str(by_code or request.args.get("programme", ""))}
        return render_template("referrals/new.html", form=form, errors={}, **context)
    structure = request.form.get("structure") or structures[0]
    if structure not in structures:
        structure = structures[0]
    try:
        referral = services.create(
            db.session, prescriber_id=g.person.id, structure=structure, lieu_id=venue.id,
            offre_id=_int("offre"), seance_id=_int("seance"), programme_id=_int("programme"),
            cheques=request.form.get("cheques"), first_name=request.form.get("prenom"),
            contact_kind=request.form.get("contact"),
            contact_value=request.form.get("coordonnee"),
            availability=request.form.get("disponibilites"), note=request.form.get("note"),
            consent=request.form.get("consentement") == "oui", now=now(),
            actor=actor("prescriber"))
        token = services.new_link(db.session, referral, now(), _settings())
    except InvalidInput as exc:
        db.session.rollback()
        return render_template("referrals/new.html", form=request.form, errors=exc.errors,
                               message="Le formulaire contient des erreurs : corrigez-les "
                                       "ci-dessous.", **context), 422
    db.session.commit()
    _mail_after_commit(notify.to_venue, referral, token)
    flash(f"Orientation {referral.reference} envoyée à {venue.nom}.")
    return redirect(url_for("referrals.slip", referral_id=referral.id))


def _details(referral: Referral) -> dict:
    venue = db.session.get(Venue, referral.lieu_id)
    offer = db.session.get(Offer, referral.offre_id) if referral.offre_id else None
    seance = db.session.get(TrainingSession, referral.seance_id) if referral.seance_id else None
    programme = db.session.get(Programme, referral.programme_id) \
        if referral.programme_id else None
    return {"referral": referral, "venue": venue, "offer": offer, "seance": seance,
            "programme": programme, "state_labels": states.LABELS_FR,
            "contact_kinds": CONTACT_KINDS, "reasons": states.REFUSAL_REASONS}


@bp.get("/orienter/orientations/<int:referral_id>/fiche")
@requires("prescriber", scope=referral_structure_scope)
def slip(referral_id: int):
    referral = db.session.get(Referral, referral_id)
    if referral is None:  # an administrator passes the rule without its scope
        raise NotFound("Orientation introuvable.")
    return render_template("referrals/slip.html", **_details(referral))


@bp.route("/orienter/groupe", methods=["GET", "POST"])
@requires("prescriber")
def group():
    """Upload a pseudonymous list, see the cohort assignment, adjust it."""
    context = {"programmes": _programmes(), "consent_text": services.CONSENT_TEXT,
               "structures": _my_structures() or ["administration"]}
    if request.method == "GET":
        return render_template("referrals/group.html", result=None, form={}, errors={},
                               **context)
    upload = request.files.get("fichier")
    programme = db.session.get(Programme, _int("programme") or 0)
    try:
        group_plan = groups.plan(db.session, upload.read() if upload else b"",
                                 programme.code if programme else None, now())
    except InvalidInput as exc:
        db.session.rollback()
        return render_template("referrals/group.html", result=None, form=request.form,
                               errors=exc.errors, message="Le fichier ne convient pas : "
                               "corrigez-le puis recommencez.", **context), 422
    result = group_plan.result
    people = [{"i": i, "key": a.key, "venue": a.venue_id,
               "lat": group_plan.places[a.key][0], "lon": group_plan.places[a.key][1]}
              for i, a in enumerate(result.assignments) if a.key in group_plan.places]
    return render_template("referrals/group.html", result=result, form=request.form,
                           errors={}, venues=group_plan.venues, map_people=people,
                           basemap=_basemap(), **context)


@bp.post("/orienter/groupe/envoyer")
@requires("prescriber")
def group_send():
    structures = _my_structures() or ["administration"]
    structure = request.form.get("structure") if request.form.get("structure") in structures \
        else structures[0]
    rows = []
    count = _int("n") or 0
    for i in range(min(count, 2000)):
        lieu = (request.form.get(f"p-{i}-lieu") or "").strip()
        seance = (request.form.get(f"p-{i}-seance") or "").strip()
        rows.append({"id": (request.form.get(f"p-{i}-id") or "")[:64],
                     "lieu": int(lieu) if lieu.isdigit() and len(lieu) < 18 else 0,
                     "seance": int(seance) if seance.isdigit() and len(seance) < 18 else None,
                     "garder": request.form.get(f"p-{i}-garder") == "oui"})
    try:
        sent = groups.send(db.session, rows, prescriber_id=g.person.id, structure=structure,
                           programme_id=_int("programme"), cheques=request.form.get("cheques"),
                           consent=request.form.get("consentement") == "oui", now=now(),
                           actor=actor("prescriber"))
        tokens = [(r, services.new_link(db.session, r, now(), _settings())) for r in sent]
    except (InvalidInput, NotFound) as exc:
        db.session.rollback()
        detail = " ".join(t for texts in (getattr(exc, "errors", None) or {}).values()
                          for t in texts)
        flash(f"Rien n'a été envoyé : {detail or exc.message}", "erreur")
        return redirect(url_for("referrals.group")), 303
    db.session.commit()
    for referral, token in tokens:
        notify.to_venue(referral, token)
    flash(f"{len(sent)} orientation(s) envoyée(s).")
    return redirect(url_for("referrals.follow_up"))


# --------------------------------------------------------------------------- follow-up


def _follow_up_rows():
    structures = _my_structures()
    query = select(Referral, Venue).join(Venue, Venue.id == Referral.lieu_id) \
        .order_by(Referral.created_at.desc())
    if not holds("administrator"):
        query = query.where(Referral.structure.in_(structures))
    errors = {}
    state = request.args.get("etat") or ""
    if state:
        if state not in states.STATES:
            errors["etat"] = ["État inconnu."]
        else:
            query = query.where(Referral.state == state)
    programme = request.args.get("programme") or ""
    if programme:
        if not programme.isdigit():
            errors["programme"] = ["Programme inconnu."]
        else:
            query = query.where(Referral.programme_id == int(programme))
    since = figures.parse_day(request.args, "depuis", errors)
    until = figures.parse_day(request.args, "jusqua", errors)
    if since:
        query = query.where(Referral.created_at >= since)
    if until:
        query = query.where(Referral.created_at < until + dt.timedelta(days=1))
    if errors:
        raise InvalidInput(errors=errors)
    return list(db.session.execute(query.limit(2000)))


@bp.get("/orienter/suivi")
@requires("prescriber")
def follow_up():
    try:
        rows = _follow_up_rows()
        errors = {}
    except InvalidInput as exc:
        rows, errors = [], exc.errors
    return render_template("referrals/follow_up.html", rows=rows, errors=errors,
                           form=request.args, state_labels=states.LABELS_FR,
                           programmes=_programmes(), structures=_my_structures(),
                           contact_kinds=CONTACT_KINDS,
                           query=request.query_string.decode()), 422 if errors else 200


CSV_HEADER = ("référence", "envoyée le", "état", "depuis le", "lieu", "commune", "pass",
              "chèques prévus", "chèques honorés", "prénom ou initiales", "contact",
              "coordonnée", "disponibilités", "motif de refus")


@bp.get("/orienter/suivi.csv")
@requires("prescriber")
def follow_up_csv():
    rows = _follow_up_rows()
    programmes = {p.id: p.name for p in _programmes()}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for referral, venue in rows:
        writer.writerow([neutralise_cell(str(v)) for v in (
            referral.reference, referral.created_at.date().isoformat(),
            states.LABELS_FR[referral.state], referral.state_at.date().isoformat(), venue.nom,
            venue.commune, programmes.get(referral.programme_id, ""),
            referral.cheques_intended, referral.cheques_honoured or "",
            referral.first_name or "", CONTACT_KINDS.get(referral.contact_kind, ""),
            referral.contact_value or "", referral.availability or "",
            states.REFUSAL_REASONS.get(referral.refusal_reason or "", ""))])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=orientations.csv"})


# --------------------------------------------------------------------------- the venue


def _venue_action(referral_id: int, who: Actor, form) -> tuple[Referral, bool]:
    """Apply the venue's action; (referral, whether the prescriber is told)."""
    action = form.get("action", "")
    if action == "accepter":
        return services.accept(db.session, referral_id, now(), who), True
    if action == "autre_seance":
        other = form.get("seance", "")
        if not other.isdigit():
            raise InvalidInput(errors={"seance": ["Choisissez la séance proposée."]})
        return services.accept(db.session, referral_id, now(), who,
                               other_seance_id=int(other)), True
    if action == "refuser":
        return services.refuse(db.session, referral_id, form.get("motif"),
                               form.get("precision"), now(), who), True
    if action in ("venue", "pas_venue"):
        return services.record_visit(db.session, referral_id, action == "venue", now(),
                                     who), False
    if action == "honorer":
        return services.honour(db.session, referral_id, form.get("cheques"),
                               form.get("numeros"), now(), who), False
    raise InvalidInput(errors={"action": ["Action inconnue."]})


@bp.route("/orientation/reponse/<token>", methods=["GET", "POST"])
@public
def answer(token: str):
    """The venue answers from the e-mail's signed link, without an account."""
    try:
        link, referral = services.read_link(db.session, token, now(), _settings())
    except services.LinkInvalid as exc:
        return render_template("referrals/link_invalid.html", message=exc.message), 410
    context = {**_details(referral), "token": token,
               "sessions": _upcoming_sessions(referral.lieu_id, now())}
    if request.method == "GET":
        return render_template("referrals/answer.html", form={}, errors={}, **context)
    if request.form.get("action") not in ("accepter", "autre_seance", "refuser"):
        raise InvalidInput(errors={"action": ["Action inconnue."]})
    try:
        referral, tell = _venue_action(referral.id, LINK_ACTOR, request.form)
        services.use_link(db.session, link, request.form["action"], now())
    except (InvalidInput, Conflict, services.LinkInvalid) as exc:
        db.session.rollback()
        if isinstance(exc, services.LinkInvalid):
            return render_template("referrals/link_invalid.html", message=exc.message), 410
        return render_template("referrals/answer.html", form=request.form,
                               errors=getattr(exc, "errors", None) or {},
                               message=exc.message, **context), exc.status
    db.session.commit()
    notify.to_prescriber(referral)
    return render_template("referrals/answered.html", **_details(referral))


@bp.get("/espace/lieux/<int:venue_id>/orientations")
@requires("venue_manager", scope=venue_scope)
def venue_dashboard(venue_id: int):
    venue = db.session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("Lieu introuvable.")
    rows = list(db.session.scalars(select(Referral).where(Referral.lieu_id == venue_id)
                                   .order_by(Referral.created_at.desc()).limit(500)))
    return render_template("referrals/venue.html", venue=venue, rows=rows,
                           sessions=_upcoming_sessions(venue_id, now()),
                           state_labels=states.LABELS_FR, reasons=states.REFUSAL_REASONS,
                           contact_kinds=CONTACT_KINDS, transitions=states.TRANSITIONS,
                           errors={})


@bp.post("/espace/lieux/<int:venue_id>/orientations/<int:referral_id>")
@requires("venue_manager", scope=venue_scope)
def venue_act(venue_id: int, referral_id: int):
    referral = db.session.get(Referral, referral_id)
    if referral is None or referral.lieu_id != venue_id:
        raise NotFound("Orientation introuvable pour ce lieu.")
    try:
        referral, tell = _venue_action(referral_id, actor("venue_manager"), request.form)
    except (InvalidInput, Conflict) as exc:
        db.session.rollback()
        detail = " ".join(t for texts in (getattr(exc, "errors", None) or {}).values()
                          for t in texts)
        flash(f"{referral.reference} : {detail or exc.message}", "erreur")
        return redirect(url_for("referrals.venue_dashboard", venue_id=venue_id)), 303
    db.session.commit()
    if tell:
        notify.to_prescriber(referral)
    flash(f"Orientation {referral.reference} : {states.LABELS_FR[referral.state]}.")
    return redirect(url_for("referrals.venue_dashboard", venue_id=venue_id))


# --------------------------------------------------------------------------- figures


def figures_scope() -> tuple[list[int] | None, list[str] | None]:
    """What the signed-in person may see: their programmes, their territories' communes
    (None: everything, for an administrator or a planner of all France)."""
    if holds("administrator"):
        return None, None
    programmes = [int(s) for r, s in g.grants if r == "programme_manager"]
    territories = [s for r, s in g.grants if r == "planner"]
    if "fr" in territories:
        return None, None
    communes: list[str] = []
    columns = {"reg": Commune.region_code, "dep": Commune.departement_code,
               "epci": Commune.epci_code, "com": Commune.code}
    for code in territories:
        kind, value = parse_perimeter_code(code)
        communes += db.session.scalars(select(Commune.code).where(columns[kind] == value))
    if territories and not programmes:
        return None, communes
    if programmes and not territories:
        return programmes, None
    return programmes, communes  # both roles: the intersection, the safer reading


@bp.get("/statistiques/orientations")
@requires("programme_manager", "planner")
def figures_page():
    programme_ids, communes = figures_scope()
    try:
        filters = figures.Filters.parse(request.args)
        rows = figures.figures(db.session, filters, programme_ids, communes)
        errors = {}
    except InvalidInput as exc:
        filters, rows, errors = figures.Filters(), [], exc.errors
    return render_template("referrals/figures.html", rows=rows, filters=filters,
                           errors=errors, form=request.args, levels=figures.LEVEL_LABELS_FR,
                           programmes=_programmes(), reasons=states.REFUSAL_REASONS,
                           threshold=figures.THRESHOLD), 422 if errors else 200


# --------------------------------------------------------------------------- privacy


@bp.get("/confidentialite/orientations")
@public
def privacy():
    config = current_app.config
    return render_template("referrals/privacy.html", consent_text=services.CONSENT_TEXT,
                           consent_version=services.CONSENT_VERSION,
                           note_warning=services.NOTE_WARNING,
                           days=config["PASSERELLE_REFERRAL_ANONYMISE_DAYS"],
                           expire_days=config["PASSERELLE_REFERRAL_EXPIRE_DAYS"],
                           link_days=config["PASSERELLE_REFERRAL_LINK_DAYS"])


@bp.route("/admin/orientations/personne", methods=["GET", "POST"])
@requires("administrator")
def person_data():
    """Find, export or erase a person's referrals. The search travels in the POST body,
    never in the address, so that no access log records a contact."""
    query = request.form.get("recherche", "") if request.method == "POST" else ""
    action = request.form.get("action", "chercher")
    rows, errors = [], {}
    if request.method == "POST":
        try:
            rows = services.find_person(db.session, query)
        except InvalidInput as exc:
            errors = exc.errors
    if rows and action == "effacer":
        count = services.erase(db.session, [r.id for r in rows], now(),
                               actor("administrator"))
        db.session.commit()
        flash(f"{count} orientation(s) : données personnelles effacées.")
        return redirect(url_for("referrals.person_data"))
    if rows and action == "exporter":
        from accounts import journal

        journal.append(db.session, actor("administrator"), "données d'une personne exportées",
                       now(), object_type=services.OBJECT,
                       after={"orientations": [r.id for r in rows]})
        db.session.commit()
        body = json.dumps({"orientations": services.export_rows(rows)}, ensure_ascii=False,
                          indent=2)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": "attachment; filename=donnees-personne.json"})
    return render_template("referrals/person.html", rows=rows, errors=errors,
                           form={"recherche": query}, state_labels=states.LABELS_FR,
                           contact_kinds=CONTACT_KINDS), 422 if errors else 200


def referral_url(venue_id: int, offer_id: int | None = None, programme=None) -> str:
    """The link from a result on /orienter to the referral form (a template global);
    ``programme`` is the search's programme (anything with a ``code``) or None."""
    values = {"lieu": venue_id}
    if offer_id:
        values["offre"] = offer_id
    if getattr(programme, "code", None):
        values["pass"] = programme.code
    return url_for("referrals.new", **values)


__all__ = ["PasserelleError", "bp", "referral_url"]
