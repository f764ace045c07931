"""The participant pages' rules (services/registration/domain.py): places per group, which meetings the
public page lists, which group the form signs up, the partner's first name and seat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.registration import domain

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def clock(starts_in_h: float = 24) -> domain.MeetingClock:
    starts = NOW + timedelta(hours=starts_in_h)
    return domain.MeetingClock(starts_at=starts, ends_at=starts + timedelta(minutes=105), registration_closes_at=None)


def test_availability_counts_free_places_and_the_waiting_list_only_when_full() -> None:
    assert domain.availability(10, 7, 0) == domain.Availability(free=3, waiting=0)
    assert not domain.availability(10, 7, 0).full
    assert domain.availability(10, 10, 2) == domain.Availability(free=0, waiting=2)
    assert domain.availability(10, 10, 0).full
    assert domain.availability(5, 8, 1) == domain.Availability(free=0, waiting=1)  # capacity lowered below


def test_the_public_page_lists_only_an_active_tenants_published_meetings_before_they_start() -> None:
    assert domain.listed_publicly("active", "published", clock(), NOW)
    assert not domain.listed_publicly("suspended", "published", clock(), NOW)
    for status in ("draft", "registration_closed", "cancelled", "completed"):
        assert not domain.listed_publicly("active", status, clock(), NOW)
    assert not domain.listed_publicly("active", "published", clock(-1), NOW)
    assert not domain.listed_publicly("active", "published", clock(0), NOW)


def test_the_form_signs_up_a_newcomer_only_with_an_invitation_code() -> None:
    assert domain.form_group("K7QX-M2PD-4HTW") == "newcomer"
    assert domain.form_group(None) == "resident" and domain.form_group("") == "resident"


def test_a_partner_is_shown_by_first_name_only() -> None:
    assert domain.first_name("Kari Nordmann") == "Kari"
    assert domain.first_name("  Amina  ") == "Amina"
    assert domain.first_name(None) is None and domain.first_name(" ") is None


def test_the_seat_is_known_once_the_pairs_are_published() -> None:
    mine, partner, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    p_mine, p_partner = uuid.uuid4(), uuid.uuid4()
    plan = {
        "status": "published",
        "pairs": [
            {"number": 1, "members": [{"registration_id": str(other), "participant_id": str(uuid.uuid4()), "seat": 1}]},
            {
                "number": 2,
                "members": [
                    {"registration_id": str(mine), "participant_id": str(p_mine), "seat": 3},
                    {"registration_id": str(partner), "participant_id": str(p_partner), "seat": 4},
                ],
            },
        ],
    }
    assert domain.seat_of(plan, mine) == domain.Seat(pair_number=2, seat=3, partner_ids=(p_partner,))
    assert domain.seat_of({**plan, "status": "proposed"}, mine) is None
    assert domain.seat_of(plan, uuid.uuid4()) is None
