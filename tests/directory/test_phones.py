"""Phone numbers as shown on pages: as dialled from France, overseas included."""

import pytest

from directory.views import phone_fr, tel_href


@pytest.mark.parametrize("stored, shown", [
    ("+33556000000", "05 56 00 00 00"),
    ("+33612345678", "06 12 34 56 78"),
    ("05 56 00 00 00", "05 56 00 00 00"),
    ("+262262123456", "0262 12 34 56"),     # Réunion: dialled with a 0 from France
    ("+262269611234", "0269 61 12 34"),     # Mayotte
    ("+590590123456", "0590 12 34 56"),     # Guadeloupe
    ("+596596711234", "0596 71 12 34"),     # Martinique
    ("+594594123456", "0594 12 34 56"),     # Guyane
    ("+687261234", "+687 26.12.34"),        # Nouvelle-Calédonie: international
    ("3949", "3949"),                       # unreadable: as given
    ("", ""),
])
def test_phone_shown_as_dialled_from_france(stored, shown):
    assert phone_fr(stored) == shown


def test_tel_link_keeps_the_international_form():
    assert tel_href("+262 262 12 34 56") == "+262262123456"
