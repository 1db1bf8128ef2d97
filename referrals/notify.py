"""E-mails of the referral loop. They carry a reference, a state and a link — never the
person's name, contact or note (those are read behind the link or the sign-in).

From a page they go through the job queue (``queued``, the default: core.mail.send_later,
one message per event and recipient); the periodic tick, already in the worker, sends
directly and learns whether the server took the message."""

from __future__ import annotations

import logging

from flask import current_app, url_for

from core.errors import ServiceUnavailable
from core.mail import send_later, send_template
from directory.models import Venue
from extensions import db

from . import services, states
from .models import Referral

log = logging.getLogger(__name__)


def _external(endpoint: str, **values) -> str:
    with current_app.test_request_context(base_url=current_app.config["PASSERELLE_PUBLIC_URL"]):
        return url_for(endpoint, _external=True, **values)


def _send(to: str, subject: str, name: str, key: str, queued: bool, **context) -> bool:
    try:
        if queued:
            send_later(to, subject, name, key=key, **context)
        else:
            send_template(to, subject, name, **context)
        return True
    except ServiceUnavailable:
        log.warning("courriel d'orientation non envoyé (%s)", name)
        return False


def to_venue(referral: Referral, token: str, *, reminder: bool = False,
             queued: bool = True) -> int:
    """The signed answer link to the venue's managers (or its public address); the link
    (new each time) names the event."""
    venue = db.session.get(Venue, referral.lieu_id)
    link = _external("referrals.answer", token=token)
    subject = (f"Rappel : orientation {referral.reference} en attente de réponse" if reminder
               else f"Nouvelle orientation {referral.reference} vers {venue.nom}")
    sent = 0
    for address in services.venue_recipients(db.session, venue):
        sent += _send(address, subject, "referral_venue", token, queued, referral=referral,
                      venue=venue,
                      link=link, reminder=reminder,
                      days=current_app.config["PASSERELLE_REFERRAL_LINK_DAYS"])
    return sent


def to_prescriber(referral: Referral, *, queued: bool = True) -> int:
    """The prescriber hears when the referral is accepted, refused or expires (the
    referral and its state name the event)."""
    if referral.state not in (states.ACCEPTED, states.REFUSED, states.EXPIRED):
        return 0
    address = services.prescriber_email(db.session, referral)
    if address is None:
        return 0
    venue = db.session.get(Venue, referral.lieu_id)
    subject = f"Orientation {referral.reference} {states.LABELS_FR[referral.state]}"
    return int(_send(address, subject, "referral_prescriber",
                     f"{referral.reference}:{referral.state}", queued, referral=referral,
                     venue=venue,
                     state=states.LABELS_FR[referral.state],
                     reason=states.REFUSAL_REASONS.get(referral.refusal_reason or ""),
                     link=_external("referrals.follow_up")))
