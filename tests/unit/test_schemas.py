from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.registration.schemas import MeetingIn, SignUpIn

BASE = {"group": "resident", "name": "Kari", "email": "kari@example.no", "consent": True}


def test_phone_is_normalised_to_e164() -> None:
    person = SignUpIn.model_validate({**BASE, "email": None, "phone": "912 34 567"})
    assert person.phone == "+4791234567"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consent": False}, "consent must be true"),
        ({"email": None}, "e-mail address or a phone number"),
        ({"phone": "12"}, "phone number"),
        ({"interests": ["football", "knitting-robots"]}, "unknown interests: knitting-robots"),
        ({"occupation_field": "astronaut"}, "unknown occupation fields: astronaut"),
        ({"language": "not a tag"}, "BCP 47"),
        ({"age_band": "3-4"}, "unknown age band"),
        ({"group": "visitor"}, "newcomer"),
    ],
)
def test_bad_sign_ups_say_what_to_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SignUpIn.model_validate({**BASE, **change})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        SignUpIn.model_validate({**BASE, "shoe_size": 44})


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="use one of: standard, 50-meets-50"):
        MeetingIn.model_validate(
            {
                "title": "x",
                "format": "disco",
                "starts_at": "2027-01-01T10:00:00+01:00",
                "venue": {"name": "a", "address": "b", "kind": "library"},
            }
        )
