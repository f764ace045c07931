"""Registration's set-wise form of matching's seating plans: a run folded to one plan per meeting
(``handlers.latest_plans``) keeps what saving the plans one by one keeps (``store.save_seatings``, one at a time: a plan
replaces the kept one unless that has a later version)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.registration.handlers import latest_plans
from shared.events import Pairing

MEETINGS = [uuid.uuid4() for _ in range(3)]
TENANT = uuid.uuid4()


def plan(meeting: int, version: int, status: str) -> Pairing:
    return Pairing(
        meeting_id=MEETINGS[meeting], tenant_id=TENANT, version=version, status=status, pairs=[], total_score=0.0
    )


PLANS = st.lists(
    st.builds(plan, st.integers(0, 2), st.integers(1, 4), st.sampled_from(["proposed", "published"])), max_size=30
)


def saved_one_by_one(kept: dict[uuid.UUID, Pairing], plans: list[Pairing]) -> dict[uuid.UUID, Pairing]:
    """What ``save_seatings``' statement keeps, plan after plan, starting from ``kept``."""
    kept = dict(kept)
    for p in plans:
        if p.meeting_id not in kept or kept[p.meeting_id].version <= p.version:
            kept[p.meeting_id] = p
    return kept


@given(PLANS, PLANS)
def test_a_run_folded_to_the_latest_plan_per_meeting_keeps_what_one_by_one_keeps(
    before: list[Pairing], run: list[Pairing]
) -> None:
    kept = saved_one_by_one({}, before)
    folded = latest_plans(run)
    assert len({p.meeting_id for p in folded}) == len(folded)  # one plan per meeting: one statement can write them
    assert saved_one_by_one(kept, folded) == saved_one_by_one(kept, run)


def test_a_lower_version_never_replaces_a_higher_and_the_published_plan_replaces_its_own_proposal() -> None:
    run = [plan(0, 2, "proposed"), plan(0, 1, "proposed"), plan(0, 2, "published"), plan(1, 1, "proposed")]
    assert [(p.meeting_id, p.version, p.status) for p in latest_plans(run)] == [
        (MEETINGS[0], 2, "published"),
        (MEETINGS[1], 1, "proposed"),
    ]
