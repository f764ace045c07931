"""Seating plans as ``Pairing`` payloads: what matching records and publishes."""

from __future__ import annotations

import uuid

from services.matching import plans
from shared.events import Pair, Pairing, PairMember


def member(k: int, group: str, seat: int) -> PairMember:
    return PairMember(
        participant_id=uuid.UUID(int=1000 + k),
        registration_id=uuid.UUID(int=k),
        group=group,
        seat=seat,
        side="left" if seat % 2 else "right",
    )


def test_the_history_of_a_trio_holds_every_two_people_who_sat_together() -> None:
    meeting = uuid.uuid4()
    trio = Pair(number=1, members=[member(1, "resident", 1), member(2, "newcomer", 2), member(3, "newcomer", 3)])
    plan = Pairing(meeting_id=meeting, tenant_id=meeting, version=1, status="published", pairs=[trio])
    pairs = {frozenset(p) for p in plans.published_pairs(plan)}
    assert pairs == {frozenset({uuid.UUID(int=1000 + a), uuid.UUID(int=1000 + b)}) for a, b in ((1, 2), (1, 3), (2, 3))}
