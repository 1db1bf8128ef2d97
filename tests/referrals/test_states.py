"""The state machine alone: every pair of states, allowed or refused in French."""

from __future__ import annotations

import itertools

import pytest

from referrals import states

LEGAL = {("sent", "accepted"), ("sent", "refused"), ("sent", "expired"),
         ("accepted", "attended"), ("accepted", "no_show"), ("attended", "honoured")}


@pytest.mark.parametrize("current,target", list(itertools.product(states.STATES, repeat=2)))
def test_every_pair_of_states(current, target):
    if (current, target) in LEGAL:
        states.check(current, target)
        assert states.allowed(current, target)
        return
    with pytest.raises(states.IllegalTransition) as exc:
        states.check(current, target)
    assert exc.value.status == 409
    assert "orientation" in exc.value.message


def test_messages_say_what_is_possible():
    with pytest.raises(states.IllegalTransition, match="Une orientation envoyée ne peut pas "
                       "être marquée comme pass honoré ; elle peut seulement être acceptée "
                       "ou expirée ou refusée."):
        states.check("sent", "honoured")
    with pytest.raises(states.IllegalTransition, match="déjà acceptée"):
        states.check("accepted", "accepted")
    with pytest.raises(states.IllegalTransition, match="son état est définitif"):
        states.check("refused", "accepted")
    with pytest.raises(states.IllegalTransition, match="État inconnu : « payée »"):
        states.check("sent", "payée")


def test_final_states_and_labels_are_french():
    assert {"refused", "expired", "no_show", "honoured"} == states.FINAL
    assert set(states.LABELS_FR) == set(states.STATES)
    assert all(states.REFUSAL_REASONS.values())

