"""Small counts of the funders' figures: suppressed, and not recoverable by subtraction."""

from __future__ import annotations

from referrals.figures import protect_parts, suppress


def test_a_single_small_part_cannot_be_recovered_by_subtraction():
    assert protect_parts({"a": 6, "b": 2, "c": 0}, 8) == {"a": None, "b": None, "c": 0}
    assert protect_parts({"a": 6, "b": 2, "c": 3}, 11) == {"a": 6, "b": None, "c": None}
    assert protect_parts({"a": 6, "b": 7}, 13) == {"a": 6, "b": 7}
    assert protect_parts({"a": 3, "b": 0}, 3) == {"a": None, "b": 0}


def test_counts_below_five_are_hidden_zero_is_shown():
    assert [suppress(n) for n in (0, 1, 4, 5, 12)] == [0, None, None, 5, 12]
