"""HTML pages of the search: "Où utiliser mon Pass Numérique ?", the printable sheet of a
venue for a search, and the prescriber's view (table, plain-text summary, CSV).

Thin views: ``forms`` reads the query string into the matcher's question, ``services.match``
answers it, templates show the answer. Everything works without JavaScript (GET forms,
server-rendered results); static/js/search.js only adds suggestions, the device's position
and the map.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from core import clock, limits
from core.errors import AmbiguousPlace, InvalidInput, NotFound
from core.spreadsheet import neutralise_cell
from core.text import capfirst, date_fr, distance_fr
from directory.views import phone_fr
from extensions import db

from . import forms
from .question import TRAVEL_MODE_LABELS

bp = Blueprint("matching", __name__)

# Order in which travel times are told, from the cheapest way of getting there.
TRAVEL_ORDER = ("walk", "bike", "transit", "car")


def _programmes(today: dt.date) -> list[Any]:
    from directory.programmes import list_programmes

    return list_programmes(db.session, on_date=today)


def _answer(form: forms.SearchForm):
    """Run the matcher on a valid form; errors are attached to the form's fields."""
    if not form.valid:
        return None
    from .schemas import parse_question
    from .services import match

    try:
        question = parse_question(form.api)
        place = _choose_pass(form, question)
        if form.pass_guess is not None:
            question = replace(question, programme=form.pass_guess.code)
        return match(question, now=clock.now(), limit=form.limit, session=db.session,
                     place=place)
    except AmbiguousPlace as exc:
        form.place_question, form.place_choices = exc.question, exc.candidates
        form.add_error("where", exc.question + " Plusieurs communes portent ce nom : "
                                               "choisissez la vôtre dans la liste.")
        return None
    except (InvalidInput, NotFound) as exc:
        form.add_api_errors(exc.errors, exc.message)
        return None


def _choose_pass(form: forms.SearchForm, question):
    """A beneficiary's search without a pass: the passes valid at the place (offered in
    one tap); when the form did not ask (the home page) and only one pass is valid there,
    that pass, said on the page with the way back to every venue. Returns the place,
    resolved once for the matcher too (None when there was nothing to look up)."""
    if form.kind != "beneficiary" or question.programme:
        return None
    from .services import passes_here, resolve_place

    place = resolve_place(db.session, question.where)
    on_date = question.availability.on_date or clock.today()
    form.passes_here = passes_here(db.session, place, on_date)
    if not form.pass_asked and len(form.passes_here.programmes) == 1:
        form.pass_guess = form.passes_here.programmes[0]
        form.values["programme"] = form.pass_guess.code
        form.api["programme"] = form.pass_guess.code
    return place


def _query(form: forms.SearchForm, **extra: str) -> str:
    return urlencode(form.query_items() + list(extra.items()))


def _map_data(result, form: forms.SearchForm, page: str) -> dict:
    """What search.js puts on the map (no inline script: a JSON script element)."""
    if result is None:
        return {}
    query = _query(form, page=page)
    return {
        "place": {"lat": result.place.lat, "lon": result.place.lon,
                  "label": result.place.label},
        "venues": [{"rank": n, "nom": r.nom, "lat": r.lat, "lon": r.lon,
                    "distance": distance_text(r.distance_m,
                                              in_commune=result.place.is_polygon),
                    "url": url_for("matching.sheet", venue_id=r.venue_id) + "?" + query}
                   for n, r in enumerate(result.results, start=1)],
    }


def _passes(result, programmes) -> dict[int, list[str]]:
    """Without a chosen pass, the passes each result accepts (names), so that nobody goes
    with cheques to a venue that takes none."""
    if result is None or result.programme is not None or not result.results:
        return {}
    from directory.services import accepted_programme_codes

    names = {p.code: p.name for p in programmes}
    codes = accepted_programme_codes(db.session, [r.venue_id for r in result.results],
                                     result.on_date)
    return {venue_id: [names.get(code, code) for code in found]
            for venue_id, found in codes.items()}


def _context(form: forms.SearchForm, result, page: str) -> dict:
    programmes = _programmes(clock.today())
    return {
        "form": form,
        "result": result,
        "programmes": programmes,
        "passes": _passes(result, programmes),
        "sheet_query": _query(form, page=page),
        "query": _query(form),
        "map_data": _map_data(result, form, page),
        "ways_out": forms.ways_out(form, result, venue_url),
        "pass_choices": forms.pass_choices(form, result),
        "here_name": _here_name(form, result),
        "basemap_url": current_app.config.get("PASSERELLE_BASEMAP_URL", ""),
        "basemap_attribution": current_app.config.get("PASSERELLE_BASEMAP_ATTRIBUTION", ""),
        "topics": forms.topics_for_display(),
        "topic_groups": forms.topic_groups(),
        "days": forms.DAYS,
        "moments": forms.MOMENTS,
        "reach_choices": forms.REACH_CHOICES,
        "travel_choices": forms.TRAVEL_CHOICES,
        "level_choices": forms.LEVEL_CHOICES,
        "public_choices": forms.PUBLIC_CHOICES,
        "support_choices": forms.SUPPORT_CHOICES,
        "language_choices": forms.LANGUAGE_CHOICES,
        "format_choices": forms.FORMAT_CHOICES,
        "limit_choices": forms.LIMIT_CHOICES,
    }


def _here_name(form: forms.SearchForm, result) -> str:
    """The commune found for the place (« votre position (Angoulême) »)."""
    found = form.passes_here or (result.perimeter if result is not None else None)
    return (found.commune_name or "") if found is not None else ""


# --------------------------------------------------------------------------- memory
# With the person's consent (a checkbox), the place and the pass are kept for the visit in
# Flask's session cookie — in the browser, signed, gone when it closes; nothing is stored
# on our side and nothing else is kept.
MEMORY_KEY = "search_memory"
MEMORY_FIELDS = ("where", "commune", "lat", "lon", "programme")


def search_memory() -> dict[str, str] | None:
    """What the person asked us to remember (place, pass), or None."""
    memory = session.get(MEMORY_KEY)
    return memory if isinstance(memory, dict) else None


def _remember(form: forms.SearchForm, result) -> None:
    """Follow the form's checkbox: remember after a search that found its place, forget
    when unchecked. Links (ways out, the sheet's way back) carry neither field: no change."""
    if not form.remember_asked:
        return
    if form.remember and result is not None:
        memory = {name: str(form.values.get(name) or "") for name in MEMORY_FIELDS}
        memory.update(_commune_of_position(form))
        memory["programme_name"] = result.programme.name if result.programme else ""
        session[MEMORY_KEY] = memory
    elif not form.remember:
        session.pop(MEMORY_KEY, None)


def _commune_of_position(form: forms.SearchForm) -> dict[str, str]:
    """The device's position is remembered as its commune (« Angoulême (16000) »), not as
    the point; nothing when no commune of ours contains it."""
    if not (form.api.get("lat") is not None and form.api.get("lon") is not None):
        return {}
    from geodata.services import commune_at

    try:
        commune = commune_at(db.session, form.api["lat"], form.api["lon"])
    except NotFound:
        return {}
    postal = (commune["postal_codes"] or [commune["departement"]["code"]])[0]
    return {"where": f"{commune['name']} ({postal})", "commune": commune["code"],
            "lat": "", "lon": ""}


def home_search() -> dict[str, Any]:
    """The home page's short search: what to learn, when, then where — the device's
    position in one tap, or the commune —, prefilled from the memory."""
    form = forms.SearchForm(kind="beneficiary", values={name: "" for name in MEMORY_FIELDS})
    forms.recall(form, search_memory())
    return {"form": form, "memory": search_memory(), "topics": forms.topics_for_display(),
            "days": forms.DAYS, "moments": forms.MOMENTS}


@bp.get("/recherche")
def search():
    form = forms.read_beneficiary(request.args)
    forms.recall(form, search_memory())
    result = _answer(form)
    _remember(form, result)
    status = 422 if form.submitted and form.errors else 200
    return render_template("matching/search.html", **_context(form, result, "recherche"),
                           memory=search_memory()), status


@bp.post("/recherche/oublier")
def forget():
    """Forget the place and the pass (the session cookie's entry), back to the search."""
    session.pop(MEMORY_KEY, None)
    back = "core.home" if request.form.get("next") == "accueil" else "matching.search"
    return redirect(url_for(back, oubli="1"), code=303)


@bp.get("/orienter")
def prescriber():
    form = forms.read_prescriber(request.args)
    result = _answer(form)
    status = 422 if form.submitted and form.errors else 200
    return render_template("matching/prescriber.html", **_context(form, result, "orienter"),
                           summary=plain_summary(result, form) if result else ""), status


@bp.get("/orienter/resultats.csv")
@limits.export
def prescriber_csv():
    form = forms.read_prescriber(request.args)
    result = _answer(form)
    if result is None:
        raise InvalidInput(errors=form.errors or {"where": forms.WHERE_MISSING})
    body = "\ufeff" + results_csv(result, form)  # the BOM lets spreadsheets read UTF-8
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition":
                             'attachment; filename="passerelle-orientation.csv"'})


@bp.get("/recherche/fiche/<int:venue_id>")
def sheet(venue_id: int):
    from directory.services import venue_detail, what_to_bring

    now = clock.now()
    detail = venue_detail(db.session, venue_id, now)
    page = request.args.get("page", "")
    reader = forms.read_prescriber if page == "orienter" else forms.read_beneficiary
    form = reader(request.args)
    # The same search as the list the link came from: the venue is among its results.
    result = _answer(form)
    found = next((r for r in result.results if r.venue_id == venue_id), None) \
        if result else None
    back = url_for("matching.prescriber" if page == "orienter" else "matching.search")
    status = 422 if form.submitted and form.errors else 200
    return render_template(
        "matching/sheet.html", venue=detail, form=form, result=result, found=found,
        bring=bring_list(detail, found, result, what_to_bring(detail)),
        back_url=back + ("?" + _query(form) if form.submitted else ""),
        printed_on=date_fr(now.date())), status


# --------------------------------------------------------------------------- wording


def distance_text(distance_m: float | None, *, in_commune: bool = False) -> str:
    if distance_m is None:
        return ""
    return distance_fr(distance_m, in_commune=in_commune)


def travel_text(minutes: dict[str, int] | None, modes: tuple[str, ...] = TRAVEL_ORDER) -> str:
    """'environ 40 min à pied, 12 min à vélo, 9 min en transports en commun, 4 min en
    voiture' — estimates, said as such."""
    if not any((minutes or {}).values()):
        return ""  # same commune, no distance: no meaningful estimate
    parts = []
    for mode in modes:
        value = (minutes or {}).get(mode)
        if value is None:
            continue
        parts.append(f"{_duration(value)} {TRAVEL_MODE_LABELS[mode]}")
    return "environ " + ", ".join(parts) if parts else ""


def _duration(minutes: int) -> str:
    if minutes < 1:
        return "moins d'1 min"
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h" if m == 0 else f"{h} h {m:02d}"


def cheques_text(count: int | None) -> str:
    if not count:
        return "sans chèque"
    return "1 chèque" if count == 1 else f"{count} chèques"


def offer_text(offer) -> str:
    """'« Premiers pas sur smartphone » (atelier collectif) — payé par votre pass :
    1 chèque', or '— non couvert par ce pass'; no price at a venue that accepts no pass."""
    from directory.vocabulary import OFFER_FORMAT_LABELS

    label = OFFER_FORMAT_LABELS.get(offer.format, offer.format)
    text = f"« {offer.title} » ({label})"
    if offer.payment:
        text += f" — {offer.payment}"
    if offer.next_session is not None:
        text += f" — {offer.next_session.text}"
    return text


def service_label(value: str) -> str:
    """The plain label of a service value of the standard."""
    return forms.SERVICE_CHOICES.get(value, (value, ""))[0]


def pays(offer) -> bool:
    """A pass pays for the offer: the person's (``covered``), or, without one, a pass the
    venue accepts (its ``payment`` names it)."""
    if offer.covered is not None:
        return offer.covered
    return bool(offer.payment) and offer.payment.startswith("payé")


def bring_list(detail: dict, found, result, advice: list[str]) -> list[str]:
    """What to bring: the cheques the matching offers need, then the venue page's advice
    (an ID for administrative procedures, one's login details, one's device)."""
    items: list[str] = []
    programme = getattr(result, "programme", None) if result else None
    needed = [o.cheques_required for o in (found.offers if found else [])
              if o.cheques_required and pays(o)]
    if programme is not None and needed:
        items.append(f"vos chèques du {programme.name} : {cheques_text(min(needed))} "
                     "par séance (prévoyez-en assez)")
    elif needed:
        items.append(f"vos chèques Pass Numérique : {cheques_text(min(needed))} par séance")
    for line in advice:
        if items and line.startswith("vos chèques"):
            continue
        items.append(line)
    if not any("pièce d'identité" in line for line in items):
        items.append("une pièce d'identité")
    if not any(line.startswith("votre téléphone") for line in items):
        items.append("votre téléphone portable si vous en avez un")
    if not any(line.startswith("vos codes") for line in items):
        items.append("vos codes pour internet (adresse e-mail et son code) si vous les avez")
    return items


def plain_summary(result, form: forms.SearchForm) -> str:
    """A plain-text summary of the results, to paste into an e-mail or a case file."""
    lines = [f"Lieux pour : {place_label(result.place)}"
             + (f" — {result.programme.name}" if result.programme else "")]
    if result.search_message:
        lines.append(result.search_message)
    for n, r in enumerate(result.results, start=1):
        address = ", ".join(p for p in (r.adresse, f"{r.code_postal or ''} {r.commune}".strip())
                            if p)
        lines.append("")
        lines.append(f"{n}. {r.nom} — {address}")
        travel = travel_text(r.travel_minutes, ("walk", "transit", "car"))
        distance = distance_text(r.distance_m, in_commune=result.place.is_polygon)
        lines.append("   " + capfirst(distance) + (f" ; {travel}" if travel else ""))
        if r.next_slot is not None:
            lines.append(f"   Prochain créneau : {r.next_slot.text}")
        for offer in r.offers:
            lines.append(f"   Offre : {offer_text(offer)}")
        if r.telephone:
            lines.append(f"   Téléphone : {', '.join(map(phone_fr, r.telephone))}")
        if r.unmet:
            lines.append(f"   À savoir : {' ; '.join(r.unmet)}")
    perimeter = result.perimeter
    if perimeter is not None and not perimeter.valid_here:
        here = f"à {perimeter.commune_name}" if perimeter.commune_name else "ici"
        lines.append(f"Ce pass n'est pas valable {here}.")
        if perimeter.valid_programmes:
            lines.append(f"Pass valables {here} : "
                         + ", ".join(p.name for p in perimeter.valid_programmes) + ".")
    if not result.results:
        lines.append("Aucun lieu ne correspond.")
        lines.extend(result.hints)
    if result.remote:
        lines.append("")
        lines.append("Aide à distance :")
        for offer in result.remote:
            contact = ", ".join([phone_fr(p) for p in offer.telephone]
                                + list(offer.site_web) + ([offer.prise_rdv]
                                                          if offer.prise_rdv else []))
            lines.append(f"- {offer.venue_nom} : {offer_text(offer)}"
                         + (f" ({contact})" if contact else ""))
    return "\n".join(lines)


CSV_COLUMNS = ("rang", "lieu", "adresse", "code_postal", "commune", "distance_m",
               "minutes_a_pied", "minutes_en_transports", "minutes_en_voiture",
               "prochain_creneau", "offres", "cheques_min", "raisons", "non_satisfait",
               "telephone", "page_du_lieu")


def _cell(value: Any) -> Any:
    """Neutralise formulas: imported text must not run in a spreadsheet."""
    return neutralise_cell(value) if isinstance(value, str) else value


def results_csv(result, form: forms.SearchForm) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, r in enumerate(result.results, start=1):
        cheques = [o.cheques_required for o in r.offers if pays(o)]
        writer.writerow([_cell(v) for v in (
            n, r.nom, r.adresse or "", r.code_postal or "", r.commune, round(r.distance_m),
            r.travel_minutes.get("walk", ""), r.travel_minutes.get("transit", ""),
            r.travel_minutes.get("car", ""),
            r.next_slot.text if r.next_slot is not None else "",
            " | ".join(offer_text(o) for o in r.offers) or (r.payment or ""),
            min(cheques) if cheques else "",
            " | ".join(r.reasons), " | ".join(r.unmet), " | ".join(r.telephone or []),
            url_for("directory.venue_page", venue_id=r.venue_id, _external=True)
            if "directory.venue_page" in current_app.view_functions else "",
        )])
    return out.getvalue()


def venue_url(venue_id: int, programme=None) -> str | None:
    """The venue page, once the directory's pages exist; with the person's pass, the page
    says offer by offer what it pays."""
    if "directory.venue_page" not in current_app.view_functions:
        return None
    return url_for("directory.venue_page", venue_id=venue_id,
                   **({"programme": programme.code} if programme else {}))


def place_label(place) -> str:
    """Where the search starts from, in words ("votre position" for the device's point)."""
    return "votre position" if place.precision == "point" else place.label


# The search's own filters (the French wording is core.templating's).
FILTERS = {
    "match_place": place_label, "match_distance": distance_text, "match_travel": travel_text,
    "match_cheques": cheques_text, "match_offer": offer_text, "match_service": service_label,
}
