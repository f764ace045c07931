"""Who hears about a published seating plan: everyone the first time, then only those it changes."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching import plans
from services.matching.pairing import Person, propose, rematch
from services.notification import seating
from shared.events import Pair, Pairing, PairMember, Unpaired
from shared.formats import PairingWeights
from tests.strategies import populations, weights_strategy


def member(rid: uuid.UUID, group: str, seat: int) -> PairMember:
    return PairMember(
        participant_id=uuid.uuid5(rid, "p"),
        registration_id=rid,
        group=group,
        seat=seat,
        side="left" if seat % 2 else "right",
    )


def plan(version: int, groups: list[tuple[uuid.UUID, uuid.UUID]], changed: list[uuid.UUID] | None = None) -> Pairing:
    pairs = [
        Pair(
            number=i + 1,
            members=[member(n, "newcomer", 2 * i + 1), member(r, "resident", 2 * i + 2)],
            reasons=["shared interests: Football, Cooking", "close in age"] if i == 0 else ["close in age"],
        )
        for i, (n, r) in enumerate(groups)
    ]
    meeting = uuid.uuid4()
    return Pairing(
        meeting_id=meeting, tenant_id=meeting, version=version, status="published", pairs=pairs, changed=changed or []
    )


N = [uuid.uuid4() for _ in range(3)]
R = [uuid.uuid4() for _ in range(3)]


def test_first_publication_tells_everyone_their_seat_and_shared_interests() -> None:
    first = plan(1, list(zip(N, R, strict=True)))
    notices = seating.notices(first, {})
    assert len(notices) == 6 and all(n.first for n in notices)
    by_reg = {n.registration_id: n for n in notices}
    assert by_reg[N[0]].seat == 1 and by_reg[R[0]].seat == 2 and by_reg[N[2]].seat == 5
    assert by_reg[N[0]].interests == ("football", "cooking")
    assert by_reg[N[1]].interests == ()
    assert by_reg[N[0]].participant_id == uuid.uuid5(N[0], "p")


def test_a_rematch_tells_only_those_whose_seat_or_partner_changed() -> None:
    first = plan(1, list(zip(N, R, strict=True)))
    told = seating.seating(first)
    # R1 and R2 swap partners (and so seats); pair 1 stays as it was.
    second = plan(2, [(N[0], R[0]), (N[1], R[2]), (N[2], R[1])], changed=[N[1], R[2], N[2], R[1]])
    notices = seating.notices(second, told)
    assert {n.registration_id for n in notices} == {N[1], N[2], R[1], R[2]}
    assert not any(n.first for n in notices)


def test_a_newcomer_to_the_table_is_told_for_the_first_time() -> None:
    first = plan(1, list(zip(N[:2], R[:2], strict=True)))
    second = plan(2, list(zip(N, R, strict=True)))
    notices = seating.notices(second, seating.seating(first))
    assert [(n.registration_id, n.first) for n in notices] == [(N[2], True), (R[2], True)]


def test_shared_interests_are_read_from_the_reasons_and_shown_in_the_readers_language() -> None:
    ids = seating.shared_interests(["both work in Health care", "shared interests: Football, Cooking, Knitting"])
    assert ids == ("football", "cooking", "Knitting")  # an unknown label is kept as it was written
    assert seating.interest_labels(list(ids), "nb") == ["Fotball", "Matlaging", "Knitting"]
    assert seating.interest_labels(list(ids), "en") == ["Football", "Cooking", "Knitting"]
    assert seating.shared_interests(["close in age"]) == ()


def test_someone_moved_into_a_trio_is_told_they_now_talk_with_two_people() -> None:
    first = plan(1, list(zip(N, R, strict=True)))
    told = seating.seating(first)
    second = plan(2, list(zip(N[:2], R[:2], strict=True)))
    trio = second.pairs[0]
    trio.members.append(member(R[2], "resident", 3))
    for k, m in enumerate(second.pairs[1].members):
        m.seat = 4 + k
    notices = {n.registration_id: n for n in seating.notices(second, told)}
    assert notices[R[2]].partners == 2 and not notices[R[2]].first
    assert notices[N[0]].partners == 2 and notices[R[0]].partners == 2  # a third person joins their pair
    assert N[1] in notices and notices[N[1]].partners == 1  # only moved seat (from 3 to 4)


@settings(max_examples=200, deadline=None)
@given(populations(), weights_strategy, st.data())
def test_after_a_late_cancellation_exactly_those_whose_partner_or_seat_changed_are_told(
    population: tuple[list[Person], list[Person], frozenset[frozenset[uuid.UUID]]],
    weights: PairingWeights,
    data: st.DataObject,
) -> None:
    """Issue 17, kind 3: a late erasure sent "Ny plass ved bordet" to all seven people at the table."""
    newcomers, residents, history = population
    meeting = uuid.UUID(int=7)
    first = plans.to_pairing(
        meeting, meeting, 1, "published", propose(newcomers, residents, weights, history), [], None
    )
    everyone = sorted(p.registration_id for p in newcomers + residents)
    gone = data.draw(st.sets(st.sampled_from(everyone), max_size=3)) if everyone else set()
    now_n = [p for p in newcomers if p.registration_id not in gone]
    now_r = [p for p in residents if p.registration_id not in gone]
    after = rematch(plans.groups_of(first), now_n, now_r, weights, history)
    second = plans.to_pairing(meeting, meeting, 2, "published", after, [], first)

    seats = sorted(m.seat for p in second.pairs for m in p.members)
    assert seats == list(range(1, len(seats) + 1))  # no empty seat
    before, now = seating.seating(first), seating.seating(second)
    changed = {rid for rid, told in now.items() if before.get(rid) != told}
    unseated = {u.registration_id for u in second.unpaired} & set(before)  # had a seat, now none
    notices = seating.notices(second, before)
    assert {n.registration_id for n in notices} == changed | unseated
    assert {n.registration_id for n in notices if n.seat is None} == unseated
    assert set(second.changed) == changed


def test_someone_a_rematch_leaves_without_a_partner_is_told_they_have_no_seat_for_now() -> None:
    first = plan(1, list(zip(N[:2], R[:2], strict=True)))
    second = plan(2, [(N[0], R[0])])
    alone = first.pairs[1].members[1]
    second.unpaired = [
        Unpaired(
            participant_id=alone.participant_id, registration_id=alone.registration_id, group="resident", reason="x"
        )
    ]
    notices = seating.notices(second, seating.seating(first))
    assert [(n.registration_id, n.seat, n.first) for n in notices] == [(alone.registration_id, None, False)]
