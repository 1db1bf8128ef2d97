"""French pages: sign-in, links by e-mail, invitations, claims, the venue's self-service,
the programme manager's decisions and the administrator's journal, invitations and tokens.
Every route declares its access rule (core.access); forms carry a CSRF token."""

from __future__ import annotations

import datetime as dt
import io

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

from core.access import public, requires, signed_in
from core.errors import InvalidInput, NotFound
from core.mail import send_later, send_template
from directory.models import Programme, Venue
from directory.vocabulary import LEVELS, OFFER_FORMAT_LABELS, SERVICES
from extensions import db

from . import journal, services, venues
from .access import COOKIE, actor, clear_session_cookie, holds, now, set_session_cookie
from .models import ROLE_LABELS_FR, ROLES, AcceptanceRequest, ApiToken, VenueClaim

bp = Blueprint("accounts", __name__)


# --------------------------------------------------------------------------- scopes


def venue_scope(args: dict) -> list[str]:
    return [str(args["venue_id"])]


def programme_scope(args: dict) -> list[str]:
    return [str(args["programme_id"])]


def request_scope(args: dict) -> list[str]:
    row = db.session.get(AcceptanceRequest, args["request_id"])
    return [str(row.programme_id)] if row else []


def claim_scope(args: dict) -> list[str]:
    claim = db.session.get(VenueClaim, args["claim_id"])
    if claim is None:
        return []
    return [str(p) for p in services.programmes_of_venue(db.session, claim.lieu_id)] or ["-"]


# --------------------------------------------------------------------------- helpers


def _address() -> str:
    return request.remote_addr or "inconnue"


def _link(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("accounts.dashboard")


def _signed_in(person, method: str, target: str | None = None):
    secret = services.open_session(db.session, person, method, now(),
                                   previous_secret=request.cookies.get(COOKIE))
    journal.append(db.session, journal.Actor("web", person.id), "connexion", now(),
                   object_type="person", object_id=person.id, after={"methode": method})
    db.session.commit()
    response = redirect(_safe_next(target))
    set_session_cookie(response, secret)
    return response


def _form_error(template: str, exc: InvalidInput, **context):
    db.session.rollback()
    return render_template(template, errors=exc.errors, message=exc.message if not exc.errors
                           else "Le formulaire contient des erreurs : corrigez-les ci-dessous.",
                           form=request.form, **context), 422


def local_fr(value: dt.datetime, tz: str = "Europe/Paris") -> str:
    """'mardi 3 mars à 14 h' in the venue's (or metropolitan) time."""
    from zoneinfo import ZoneInfo

    from core.text import datetime_fr

    return datetime_fr(value.astimezone(ZoneInfo(tz)))


def _config(name: str):
    return current_app.config[name]


# --------------------------------------------------------------------------- sign-in


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    target = request.values.get("suivant")
    if request.method == "GET":
        return render_template("accounts/login.html", suivant=target, form={}, errors={})
    try:
        person = services.sign_in_with_password(
            db.session, request.form.get("email", ""), request.form.get("password", ""),
            _address(), now(), services.LoginLimits.from_config(current_app.config))
    except services.TooManyAttempts as exc:
        db.session.commit()
        html = render_template("accounts/login.html", suivant=target, form=request.form,
                               errors={}, message=exc.message)
        return html, 429, {"Retry-After": str(exc.retry_after_s)}
    except InvalidInput as exc:
        db.session.commit()  # the failed attempt counts
        return render_template("accounts/login.html", suivant=target, form=request.form,
                               errors={}, message=exc.message), 422
    return _signed_in(person, "password", target)


# purpose -> (page title, intro, subject, mail template, link endpoint, what was sent)
EMAIL_LINKS = {
    "signin": ("Recevoir un lien de connexion", "Nous envoyons un lien de connexion",
               "Votre lien de connexion à Passerelle", "signin_link", "accounts.link_signin",
               "un lien de connexion"),
    "reset": ("Mot de passe oublié", "Nous envoyons un lien pour choisir un nouveau mot de "
              "passe", "Choisir un nouveau mot de passe", "password_reset",
              "accounts.password_new", "un lien pour choisir un mot de passe"),
}


def _email_link_page(purpose: str):
    """Ask for a link by e-mail; throttled like passwords (per address and per account),
    and the same answer whether the account exists or not."""
    title, intro, subject, mail_name, endpoint, what = EMAIL_LINKS[purpose]
    context = {"title": title, "intro": intro}
    if request.method == "GET":
        return render_template("accounts/email_request.html", form={}, errors={}, **context)
    typed = (request.form.get("email") or "").strip().lower()
    try:
        services.check_throttle(db.session, typed, _address(), now(),
                                services.LoginLimits.from_config(current_app.config))
        services.record_attempt(db.session, typed, _address(), False, now())
        email = services.normalise_email(typed)
    except services.TooManyAttempts as exc:
        db.session.commit()
        return (render_template("accounts/email_request.html", form=request.form, errors={},
                                message=exc.message, **context), 429,
                {"Retry-After": str(exc.retry_after_s)})
    except InvalidInput as exc:
        return _form_error("accounts/email_request.html", exc, **context)
    person = services.person_by_email(db.session, email)
    secret = None
    if person is not None and person.active:
        ttl = _config("PASSERELLE_LINK_TTL_S")
        secret = services.issue_link(db.session, person, purpose, now(), ttl)
    db.session.commit()
    if secret is not None:  # sent by the worker, once the link is stored
        send_later(email, subject, mail_name, key=secret, link=_link(endpoint, token=secret),
                   minutes=ttl // 60)
    return render_template("accounts/sent.html", what=what)


@bp.route("/connexion/lien", methods=["GET", "POST"])
@public
def link_request():
    return _email_link_page("signin")


@bp.route("/connexion/lien/<token>", methods=["GET", "POST"])
@public
def link_signin(token: str):
    # A GET only shows a button: mail scanners that follow links do not use them up.
    try:
        if request.method == "GET":
            services.peek_link(db.session, token, "signin", now())
            return render_template("accounts/confirm_link.html",
                                   title="Se connecter", button="Me connecter")
        row = services.use_link(db.session, token, "signin", now())
    except InvalidInput as exc:
        return render_template("accounts/link_invalid.html", message=exc.message), 410
    person = db.session.get(services.Person, row.person_id)
    return _signed_in(person, "link")


@bp.post("/deconnexion")
@signed_in
def logout():
    services.revoke_session(db.session, request.cookies.get(COOKIE, ""), now())
    db.session.commit()
    response = redirect(url_for("core.home"))
    clear_session_cookie(response)
    return response


@bp.post("/deconnexion/partout")
@signed_in
def logout_everywhere():
    count = services.revoke_all_sessions(db.session, g.person.id, now())
    journal.append(db.session, actor(), "déconnexion partout", now(), object_type="person",
                   object_id=g.person.id, after={"sessions": count})
    db.session.commit()
    response = redirect(url_for("core.home"))
    clear_session_cookie(response)
    return response


@bp.route("/mot-de-passe/oubli", methods=["GET", "POST"])
@public
def password_forgotten():
    return _email_link_page("reset")


def _password_page(token: str, purpose: str, title: str):
    try:
        row = services.peek_link(db.session, token, purpose, now())
    except InvalidInput as exc:
        return render_template("accounts/link_invalid.html", message=exc.message), 410
    person = db.session.get(services.Person, row.person_id)
    context = {"title": title, "email": person.email}
    if request.method == "GET":
        return render_template("accounts/password_new.html", form={}, errors={}, **context)
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        return _form_error("accounts/password_new.html", InvalidInput(errors={
            "password2": ["Les deux mots de passe diffèrent."]}), **context)
    try:
        services.set_password(db.session, person, password, now())
        services.use_link(db.session, token, purpose, now())
    except InvalidInput as exc:
        return _form_error("accounts/password_new.html", exc, **context)
    journal.append(db.session, journal.Actor("web", person.id),
                   "invitation acceptée" if purpose == "invite" else "mot de passe changé",
                   now(), object_type="person", object_id=person.id)
    return _signed_in(person, purpose)


@bp.route("/mot-de-passe/nouveau/<token>", methods=["GET", "POST"])
@public
def password_new(token: str):
    return _password_page(token, "reset", "Choisir un nouveau mot de passe")


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
def invitation(token: str):
    return _password_page(token, "invite", "Bienvenue : choisissez votre mot de passe")


# --------------------------------------------------------------------------- dashboard


@bp.get("/espace")
@signed_in
def dashboard():
    venue_ids = [int(s) for r, s in g.grants if r == "venue_manager"]
    programme_ids = [int(s) for r, s in g.grants if r == "programme_manager"]
    my_venues = list(db.session.scalars(select(Venue).where(Venue.id.in_(venue_ids))
                                        .order_by(Venue.nom))) if venue_ids else []
    my_programmes = list(db.session.scalars(
        select(Programme).where(Programme.id.in_(programme_ids)).order_by(Programme.name))
    ) if programme_ids else []
    return render_template("accounts/dashboard.html", venues=my_venues,
                           programmes=my_programmes, role_labels=ROLE_LABELS_FR,
                           is_admin=holds("administrator"))


# --------------------------------------------------------------------------- claims


@bp.route("/espace/revendiquer/<int:venue_id>", methods=["GET", "POST"])
@signed_in
def claim(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    email = services.venue_public_email(venue)
    if request.method == "GET":
        return render_template("accounts/claim.html", venue=venue, has_email=bool(email))
    claim_row = services.request_claim(db.session, g.person, venue_id, now())
    secret = None
    if email:
        secret = services.issue_link(db.session, g.person, "claim", now(),
                                     _config("PASSERELLE_CLAIM_TTL_S"), claim_id=claim_row.id)
    db.session.commit()
    if secret is not None:
        send_later(email, f"Gestion du lieu « {venue.nom} » sur Passerelle",
                   "claim_confirm", key=secret, venue=venue,
                   link=_link("accounts.claim_confirm", token=secret),
                   days=_config("PASSERELLE_CLAIM_TTL_S") // 86400)
    flash("Demande enregistrée : elle sera confirmée par le lien envoyé à l'adresse publique "
          "du lieu, ou par le gestionnaire d'un programme qu'il accepte.")
    return redirect(url_for("accounts.dashboard"))


@bp.route("/revendication/<token>", methods=["GET", "POST"])
@public
def claim_confirm(token: str):
    try:
        if request.method == "GET":
            row = services.peek_link(db.session, token, "claim", now())
            claim_row = db.session.get(VenueClaim, row.claim_id)
            return render_template("accounts/confirm_link.html",
                                   title="Confirmer le gestionnaire du lieu",
                                   venue=db.session.get(Venue, claim_row.lieu_id),
                                   button="Confirmer")
        row = services.use_link(db.session, token, "claim", now())
    except InvalidInput as exc:
        return render_template("accounts/link_invalid.html", message=exc.message), 410
    claim_row = db.session.get(VenueClaim, row.claim_id)
    services.decide_claim(db.session, claim_row, True, now(), journal.Actor("web"))
    db.session.commit()
    return render_template("accounts/done.html",
                           message="Merci : la personne peut désormais gérer ce lieu.")


@bp.post("/espace/revendications/<int:claim_id>")
@requires("programme_manager", scope=claim_scope)
def claim_decide(claim_id: int):
    claim_row = db.session.get(VenueClaim, claim_id)
    services.decide_claim(db.session, claim_row, request.form.get("decision") == "confirmer",
                          now(), actor("programme_manager"))
    db.session.commit()
    flash("Décision enregistrée.")
    return redirect(request.referrer if request.referrer and request.referrer.startswith(
        request.host_url) else url_for("accounts.dashboard"))


# --------------------------------------------------------------------------- venue


def _venue_page(venue_id: int, template: str, status: int = 200, **context):
    venue = venues.get_venue(db.session, venue_id)
    return render_template(template, venue=venue, **context), status


@bp.get("/espace/lieux/<int:venue_id>")
@requires("venue_manager", scope=venue_scope)
def venue_home(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    history = journal.venue_history(db.session, venue_id)
    requests_ = list(db.session.execute(
        select(AcceptanceRequest, Programme).join(Programme)
        .where(AcceptanceRequest.lieu_id == venue_id)
        .order_by(AcceptanceRequest.requested_at.desc())))
    return render_template("accounts/venue_home.html", venue=venue, history=history,
                           changes=journal.changes, role_labels=ROLE_LABELS_FR,
                           requests=requests_, programmes=db.session.scalars(
                               select(Programme).order_by(Programme.name)).all())


@bp.route("/espace/lieux/<int:venue_id>/horaires", methods=["GET", "POST"])
@requires("venue_manager", scope=venue_scope)
def venue_hours(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    text = request.form.get("horaires", venue.horaires or "") if request.method == "POST" \
        else (venue.horaires or "")
    week, error = venues.preview_hours(text, venue.timezone)
    if request.method == "POST" and request.form.get("action") == "enregistrer":
        try:
            changed = venues.set_hours(db.session, venue, text, actor("venue_manager"), now())
        except InvalidInput as exc:
            return _form_error("accounts/venue_hours.html", exc, venue=venue, text=text,
                               week=week, error=error)
        db.session.commit()
        flash("Horaires enregistrés." if changed else "Horaires inchangés.")
        return redirect(url_for("accounts.venue_home", venue_id=venue_id))
    return render_template("accounts/venue_hours.html", venue=venue, text=text, week=week,
                           error=error, errors={}, form=request.form)


@bp.get("/espace/horaires/apercu")
@signed_in
def hours_preview():
    """The editor's live preview (JSON for static/js/hours-editor.js)."""
    text = request.args.get("horaires", "")[:1000]
    try:
        week, error = venues.preview_hours(text, request.args.get("fuseau", "Europe/Paris"))
    except ValueError:  # an unknown time zone: the metropole's
        week, error = venues.preview_hours(text, "Europe/Paris")
    return {"semaine": [{"jour": d, "horaires": h} for d, h in week], "erreur": error}


@bp.route("/espace/lieux/<int:venue_id>/fermeture", methods=["GET", "POST"])
@requires("venue_manager", scope=venue_scope)
def venue_closure(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    if request.method == "GET":
        return render_template("accounts/venue_closure.html", venue=venue, form={}, errors={})
    try:
        dates = []
        for name in ("debut", "fin"):
            value = request.form.get(name, "").strip()
            try:
                dates.append(dt.date.fromisoformat(value) if value else None)
            except ValueError:
                raise InvalidInput(errors={name: ["Date attendue (AAAA-MM-JJ)."]}) from None
        venues.set_closure(db.session, venue, dates[0], dates[1],
                           request.form.get("motif", ""), actor("venue_manager"), now())
    except InvalidInput as exc:
        return _form_error("accounts/venue_closure.html", exc, venue=venue)
    db.session.commit()
    flash("Fermeture enregistrée.")
    return redirect(url_for("accounts.venue_home", venue_id=venue_id))


@bp.route("/espace/lieux/<int:venue_id>/coordonnees", methods=["GET", "POST"])
@requires("venue_manager", scope=venue_scope)
def venue_contacts(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    if request.method == "GET":
        form = {"telephone": "\n".join(venue.telephone), "courriels": "\n".join(venue.courriels),
                "site_web": "\n".join(venue.site_web), "prise_rdv": venue.prise_rdv or ""}
        return render_template("accounts/venue_contacts.html", venue=venue, form=form,
                               errors={})
    try:
        venues.set_contacts(db.session, venue, request.form, actor("venue_manager"), now())
    except InvalidInput as exc:
        return _form_error("accounts/venue_contacts.html", exc, venue=venue)
    db.session.commit()
    flash("Coordonnées enregistrées.")
    return redirect(url_for("accounts.venue_home", venue_id=venue_id))


def _offer_form(offer) -> dict:
    return {"titre": offer.title, "service": offer.service, "niveau": offer.level or "",
            "format": offer.format, "langues": ", ".join(offer.languages),
            "cheques": offer.cheques_required, "duree_minutes": offer.duration_minutes or "",
            "description": offer.description or "", "active": "1" if offer.active else "0"}


def _offer_context() -> dict:
    return {"services": SERVICES, "levels": LEVELS, "formats": OFFER_FORMAT_LABELS}


@bp.route("/espace/lieux/<int:venue_id>/offres/nouvelle", methods=["GET", "POST"])
@requires("venue_manager", scope=venue_scope)
def offer_new(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    if request.method == "GET":
        return render_template("accounts/offer.html", venue=venue, offer=None,
                               form={"langues": "fr", "cheques": "1", "active": "1"},
                               errors={}, **_offer_context())
    try:
        offer = venues.save_offer(db.session, venue, request.form, actor("venue_manager"),
                                  now())
    except InvalidInput as exc:
        return _form_error("accounts/offer.html", exc, venue=venue, offer=None,
                           **_offer_context())
    db.session.commit()
    flash("Offre enregistrée.")
    return redirect(url_for("accounts.offer_edit", venue_id=venue_id, offer_id=offer.id))


@bp.route("/espace/lieux/<int:venue_id>/offres/<int:offer_id>", methods=["GET", "POST"])
@requires("venue_manager", scope=venue_scope)
def offer_edit(venue_id: int, offer_id: int):
    venue = venues.get_venue(db.session, venue_id)
    offer = venues.get_offer(db.session, venue, offer_id)
    if request.method == "GET":
        form = _offer_form(offer)
        return render_template("accounts/offer.html", venue=venue, offer=offer, form=form,
                               errors={}, **_offer_context())
    try:
        venues.save_offer(db.session, venue, request.form, actor("venue_manager"), now(),
                          offer)
    except InvalidInput as exc:
        return _form_error("accounts/offer.html", exc, venue=venue, offer=offer,
                           **_offer_context())
    db.session.commit()
    flash("Offre enregistrée.")
    return redirect(url_for("accounts.offer_edit", venue_id=venue_id, offer_id=offer_id))


@bp.post("/espace/lieux/<int:venue_id>/offres/<int:offer_id>/seances")
@requires("venue_manager", scope=venue_scope)
def session_add(venue_id: int, offer_id: int):
    venue = venues.get_venue(db.session, venue_id)
    offer = venues.get_offer(db.session, venue, offer_id)
    try:
        venues.add_session(db.session, venue, offer, request.form, actor("venue_manager"),
                           now())
    except InvalidInput as exc:
        form = _offer_form(offer)
        db.session.rollback()
        return render_template("accounts/offer.html", venue=venue, offer=offer, form=form,
                               errors=exc.errors, session_form=request.form,
                               message="La séance n'a pas été ajoutée : corrigez ci-dessous.",
                               **_offer_context()), 422
    db.session.commit()
    flash("Séance ajoutée.")
    return redirect(url_for("accounts.offer_edit", venue_id=venue_id, offer_id=offer_id))


@bp.post("/espace/lieux/<int:venue_id>/programmes")
@requires("venue_manager", scope=venue_scope)
def acceptance_request(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    venues.request_acceptance(db.session, venue, request.form.get("programme", ""),
                              actor("venue_manager"), now())
    db.session.commit()
    flash("Demande envoyée au gestionnaire du programme.")
    return redirect(url_for("accounts.venue_home", venue_id=venue_id))


@bp.post("/espace/lieux/<int:venue_id>/confirmer")
@requires("venue_manager", scope=venue_scope)
def venue_confirm(venue_id: int):
    venue = venues.get_venue(db.session, venue_id)
    venues.confirm_data(db.session, venue, actor("venue_manager"), now())
    db.session.commit()
    flash("Merci : les informations du lieu sont confirmées.")
    return redirect(url_for("accounts.venue_home", venue_id=venue_id))


# --------------------------------------------------------------------------- programme


@bp.get("/espace/programmes/<int:programme_id>")
@requires("programme_manager", scope=programme_scope)
def programme_home(programme_id: int):
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise NotFound(f"Aucun programme ne porte l'identifiant {programme_id}.")
    pending = list(db.session.execute(
        select(AcceptanceRequest, Venue).join(Venue)
        .where(AcceptanceRequest.programme_id == programme_id,
               AcceptanceRequest.status == "pending")
        .order_by(AcceptanceRequest.requested_at)))
    claims = list(db.session.execute(
        select(VenueClaim, Venue).join(Venue)
        .where(VenueClaim.status == "pending",
               VenueClaim.lieu_id.in_(select(services.Acceptance.lieu_id).where(
                   services.Acceptance.programme_id == programme_id)))
        .order_by(VenueClaim.created_at)))
    return render_template("accounts/programme_home.html", programme=programme,
                           pending=pending, claims=claims)


@bp.post("/espace/demandes/<int:request_id>")
@requires("programme_manager", scope=request_scope)
def acceptance_decide(request_id: int):
    row = db.session.get(AcceptanceRequest, request_id)
    try:
        venues.decide_acceptance(db.session, row, request.form.get("decision") == "approuver",
                                 request.form.get("motif", ""), actor("programme_manager"),
                                 now())
    except InvalidInput as exc:
        db.session.rollback()
        flash(" ".join(m for ms in exc.errors.values() for m in ms) or exc.message, "erreur")
        return redirect(url_for("accounts.programme_home", programme_id=row.programme_id))
    db.session.commit()
    flash("Décision enregistrée.")
    return redirect(url_for("accounts.programme_home", programme_id=row.programme_id))


# --------------------------------------------------------------------------- administrator


@bp.route("/admin/invitations", methods=["GET", "POST"])
@requires("administrator")
def admin_invite():
    context = {"roles": ROLES, "role_labels": ROLE_LABELS_FR}
    if request.method == "GET":
        return render_template("accounts/admin_invite.html", form={}, errors={}, **context)
    roles = [(request.form.get("role", ""), request.form.get("portee", ""))]
    try:
        person, secret = services.invite(db.session, request.form.get("email", ""), roles,
                                         now(), _config("PASSERELLE_INVITE_TTL_S"),
                                         actor("administrator"))
    except InvalidInput as exc:
        return _form_error("accounts/admin_invite.html", exc, **context)
    db.session.commit()
    send_invitation(person.email, secret, roles, later=True)
    flash(f"Invitation envoyée à {person.email}.")
    return redirect(url_for("accounts.admin_invite"))


def send_invitation(email: str, secret: str, roles: list[tuple[str, str]], *,
                    later: bool = False) -> None:
    """The invitation's e-mail: by the worker from a page (``later``), now from the CLI."""
    context = {"link": _link("accounts.invitation", token=secret),
               "roles": [ROLE_LABELS_FR.get(r, r) for r, _ in roles],
               "days": _config("PASSERELLE_INVITE_TTL_S") // 86400}
    if later:
        send_later(email, "Invitation à Passerelle", "invitation", key=secret, **context)
    else:
        send_template(email, "Invitation à Passerelle", "invitation", **context)


@bp.get("/admin/journal")
@requires("administrator")
def admin_journal():
    before_id = request.args.get("avant", type=int)
    rows = journal.entries(db.session, limit=100, before_id=before_id)
    return render_template("accounts/admin_journal.html", rows=rows,
                           role_labels=ROLE_LABELS_FR, changes=journal.changes)


@bp.get("/admin/journal.csv")
@requires("administrator")
def admin_journal_csv():
    out = io.StringIO()
    journal.write_csv(journal.entries(db.session, limit=1_000_000), out)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=journal.csv"})


@bp.route("/admin/jetons", methods=["GET", "POST"])
@requires("administrator")
def admin_tokens():
    shown = None
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            _token, shown = services.create_api_token(
                db.session, request.form.get("nom", ""), request.form.get("type", ""),
                request.form.get("portee", ""), now(), actor("administrator"))
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
    tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
    return render_template("accounts/admin_tokens.html", tokens=tokens, shown=shown,
                           errors=errors, form=request.form), status


@bp.post("/admin/jetons/<int:token_id>/revoquer")
@requires("administrator")
def admin_token_revoke(token_id: int):
    services.revoke_api_token(db.session, token_id, now(), actor("administrator"))
    db.session.commit()
    flash("Jeton révoqué.")
    return redirect(url_for("accounts.admin_tokens"))
