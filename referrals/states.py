"""The referral's states and the transitions allowed between them (the one state machine).

sent → accepted | refused | expired ; accepted → attended | no_show ; attended → honoured.
Pure: no database, unit-tested directly; services call :func:`check` before every change.
"""

from __future__ import annotations

from core.errors import Conflict

SENT, ACCEPTED, REFUSED, EXPIRED = "sent", "accepted", "refused", "expired"
ATTENDED, NO_SHOW, HONOURED = "attended", "no_show", "honoured"
STATES = (SENT, ACCEPTED, REFUSED, EXPIRED, ATTENDED, NO_SHOW, HONOURED)

LABELS_FR = {
    SENT: "envoyée", ACCEPTED: "acceptée", REFUSED: "refusée", EXPIRED: "expirée",
    ATTENDED: "venue", NO_SHOW: "pas venue", HONOURED: "pass honoré",
}
# The verb of each target state, for messages ("ne peut pas être acceptée").
VERBS_FR = {
    SENT: "renvoyée", ACCEPTED: "acceptée", REFUSED: "refusée", EXPIRED: "expirée",
    ATTENDED: "marquée comme venue", NO_SHOW: "marquée comme pas venue",
    HONOURED: "marquée comme pass honoré",
}

TRANSITIONS: dict[str, frozenset[str]] = {
    SENT: frozenset({ACCEPTED, REFUSED, EXPIRED}),
    ACCEPTED: frozenset({ATTENDED, NO_SHOW}),
    ATTENDED: frozenset({HONOURED}),
    REFUSED: frozenset(), EXPIRED: frozenset(), NO_SHOW: frozenset(), HONOURED: frozenset(),
}
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# States counted as "answered" by the venue (for the time to answer).
ANSWERED = frozenset({ACCEPTED, REFUSED})

# Reasons a venue gives when it refuses (code -> French label).
REFUSAL_REASONS = {
    "capacity": "plus de place ou de créneau disponible",
    "not_eligible": "la personne ne remplit pas les conditions de l'offre",
    "not_offered": "le lieu ne propose pas cet accompagnement",
    "unreachable": "la personne n'a pas pu être jointe",
    "programme": "le lieu n'accepte pas ce pass",
    "other": "autre raison",
}


class IllegalTransition(Conflict):
    message = "Changement d'état impossible."


def allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def check(current: str, target: str) -> None:
    """Refuse, with a French sentence, a change the machine does not allow."""
    if target not in STATES or current not in STATES:
        unknown = target if target not in STATES else current
        raise IllegalTransition(f"État inconnu : « {unknown} ».")
    if allowed(current, target):
        return
    if current == target:
        raise IllegalTransition(f"Cette orientation est déjà {LABELS_FR[current]}.")
    possible = sorted(LABELS_FR[t] for t in TRANSITIONS[current])
    then = (" ; elle peut seulement être " + " ou ".join(possible) + "."
            if possible else " : son état est définitif.")
    raise IllegalTransition(
        f"Une orientation {LABELS_FR[current]} ne peut pas être {VERBS_FR[target]}" + then)
