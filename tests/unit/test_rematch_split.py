"""The two cases of a re-match, one function each: the exact assignment that keeps earlier pairs, and the
leftovers who go back to their earlier group or join a pair as a third member. Pure: nothing running."""

from __future__ import annotations

import uuid

import pytest

from services.matching import pairing
from services.matching.pairing import Person, _Draft, _Problem
from shared.formats import PairingWeights

WEIGHTS = PairingWeights()


def person(group: str, name: int, **profile: object) -> Person:
    """A person whose registration id sorts by ``name``."""
    return Person.from_profile(
        uuid.UUID(int=name), uuid.UUID(int=1000 + name), "newcomer" if group == "newcomer" else "resident", profile
    )


def problem(newcomers: list[Person], residents: list[Person], history: pairing.History = frozenset()) -> _Problem:
    return pairing._problem(newcomers, residents, WEIGHTS, history)


def ids(*people: Person) -> list[uuid.UUID]:
    return [p.registration_id for p in people]


def members(drafts: list[_Draft]) -> list[tuple[list[int], list[int]]]:
    return [(d.newcomers, d.residents) for d in drafts]


# ------------------------------------------------------------------------------------ earlier groups


def test_earlier_groups_map_the_people_here_to_their_group_by_index() -> None:
    n1, n2 = person("newcomer", 1), person("newcomer", 2)
    r1, r2, gone = person("resident", 3), person("resident", 4), person("resident", 5)
    p = problem([n2, n1], [r2, r1])  # indices follow the registration ids, not the order given
    earlier = pairing._earlier_groups(p, [ids(gone), ids(n2, r1, n2), ids(r2, n1, gone)])
    assert earlier == {("newcomer", 1): 1, ("resident", 0): 1, ("resident", 1): 2, ("newcomer", 0): 2}


def test_earlier_groups_refuse_someone_here_in_two_groups_but_not_someone_gone() -> None:
    n1, r1, gone = person("newcomer", 1), person("resident", 2), person("resident", 3)
    p = problem([n1], [r1])
    assert pairing._earlier_groups(p, [ids(n1, gone), ids(r1, gone)]) == {("newcomer", 0): 0, ("resident", 0): 1}
    with pytest.raises(ValueError, match="more than one previous group"):
        pairing._earlier_groups(p, [ids(n1, r1), ids(r1)])


# ------------------------------------------------------------------------------------------- locks


def test_locks_on_people_gone_are_dropped_and_a_repeated_lock_is_one() -> None:
    n1, n2 = person("newcomer", 1), person("newcomer", 2)
    r1 = person("resident", 3)
    gone = uuid.UUID(int=42)
    p = problem([n1, n2], [r1])
    drafts = pairing._locks_still_here(p, [(n2.registration_id, r1.registration_id)] * 2 + [(n1.registration_id, gone)])
    assert members(drafts) == [([1], [0])]
    assert all(d.locked for d in drafts)


def test_someone_here_locked_with_two_people_here_is_refused() -> None:
    n1, r1, r2 = person("newcomer", 1), person("resident", 2), person("resident", 3)
    locks = [(n1.registration_id, r1.registration_id), (n1.registration_id, r2.registration_id)]
    with pytest.raises(ValueError, match="locked twice"):
        pairing._locks_still_here(problem([n1], [r1, r2]), locks)
    assert members(pairing._locks_still_here(problem([n1], [r2]), locks)) == [([0], [0])]  # r1 is gone


# ------------------------------------------------- first case: the exact assignment keeping earlier pairs


def test_the_assignment_keeps_an_earlier_pair_over_a_higher_total_score() -> None:
    n1, n2 = person("newcomer", 1, interests=["music"]), person("newcomer", 2, interests=["art"])
    r1, r2 = person("resident", 3, interests=["music"]), person("resident", 4, interests=["art"])
    p = problem([n1, n2], [r1, r2])
    earlier = pairing._earlier_groups(p, [ids(n1, r2), ids(n2, r1)])
    drafts, leftovers = pairing._pair_keeping_earlier_pairs(p, [], earlier)
    assert members(drafts) == [([0], [1]), ([1], [0])]
    assert leftovers == []
    # with no earlier groups the score decides
    drafts, _ = pairing._pair_keeping_earlier_pairs(p, [], {})
    assert members(drafts) == [([0], [0]), ([1], [1])]


def test_the_most_pairs_come_before_keeping_an_earlier_pair() -> None:
    """R1, N1, R2, N2, R3 with R2 gone: N2 is alone, so the trio's extra R3 pairs with N2 and R1 + N1 stay."""
    r1 = person("resident", 1, interests=["music", "cooking"])
    n1 = person("newcomer", 2, interests=["music", "cooking", "hiking"])
    n2 = person("newcomer", 4, interests=["art"])
    r3 = person("resident", 5, interests=["hiking"])
    p = problem([n1, n2], [r1, r3])
    earlier = pairing._earlier_groups(p, [ids(r1, n1, r3), [uuid.UUID(int=3), n2.registration_id]])
    drafts, leftovers = pairing._pair_keeping_earlier_pairs(p, [], earlier)
    assert members(drafts) == [([0], [0]), ([1], [1])]
    assert leftovers == []


def test_locked_groups_stay_out_of_the_assignment_and_the_leftovers_are_listed_newcomers_first() -> None:
    n1, n2, n3 = person("newcomer", 1), person("newcomer", 2), person("newcomer", 3)
    r1 = person("resident", 4)
    p = problem([n1, n2, n3], [r1])
    fixed = pairing._locks_still_here(p, [(n2.registration_id, r1.registration_id)])
    drafts, leftovers = pairing._pair_keeping_earlier_pairs(p, fixed, {})
    assert members(drafts) == [([1], [0])] and drafts[0].locked
    assert leftovers == [("newcomer", 0), ("newcomer", 2)]
    assert len(fixed) == 1  # a new list: the locked drafts given are not extended


def test_the_assignment_of_no_one_is_empty() -> None:
    n1 = person("newcomer", 1)
    assert pairing._pair_keeping_earlier_pairs(problem([n1], []), [], {}) == ([], [("newcomer", 0)])
    assert pairing._pair_keeping_earlier_pairs(problem([], []), [], {}) == ([], [])


# ------------------------------------------------------ second case: the leftovers, at most a trio


def test_a_leftover_rejoins_their_earlier_group_only_where_it_is_a_pair_of_that_group_and_the_rules_allow() -> None:
    n1, n2 = person("newcomer", 1), person("newcomer", 2)
    r1, r2, r3 = person("resident", 3), person("resident", 4), person("resident", 5)
    p = problem([n1, n2], [r1, r2, r3])
    earlier = pairing._earlier_groups(p, [ids(n1, r1, r3), ids(n2, r2)])
    ours, theirs = _Draft([0], [0]), _Draft([1], [1])
    assert pairing._earlier_group_to_rejoin(p, [theirs, ours], earlier, "resident", 2) is ours
    assert pairing._earlier_group_to_rejoin(p, [theirs], earlier, "resident", 2) is None
    assert pairing._earlier_group_to_rejoin(p, [theirs, ours], {}, "resident", 2) is None  # no earlier group
    all_four = pairing._earlier_groups(p, [ids(n1, r1, r2, r3)])
    trio = _Draft([0], [0, 1])
    assert pairing._earlier_group_to_rejoin(p, [trio], all_four, "resident", 2) is None  # never a fourth
    assert pairing._earlier_group_to_rejoin(p, [ours], all_four, "resident", 2) is ours
    mixed = _Draft([0], [1])  # n1 with r2 of another earlier group: not r3's group any more
    assert pairing._earlier_group_to_rejoin(p, [mixed], earlier, "resident", 2) is None
    # paired before with their earlier partner (the history changed): the hard rules win
    history = frozenset({frozenset((n1.participant_id, r3.participant_id))})
    blocked = problem([n1, n2], [r1, r2, r3], history)
    assert pairing._earlier_group_to_rejoin(blocked, [ours], earlier, "resident", 2) is None


def test_leftovers_go_home_first_then_where_they_fit_best_and_never_make_a_fourth() -> None:
    n1, n2 = person("newcomer", 1, interests=["art"]), person("newcomer", 2, interests=["music"])
    r1, r2 = person("resident", 3), person("resident", 4)
    r3 = person("resident", 5, interests=["music"])  # fits n2 best, but sat with n1 + r1 before
    r4 = person("resident", 6, interests=["music"])
    r5 = person("resident", 7)
    p = problem([n1, n2], [r1, r2, r3, r4, r5])
    earlier = pairing._earlier_groups(p, [ids(n1, r1, r3), ids(n2, r2)])
    drafts = [_Draft([0], [0]), _Draft([1], [1])]
    left = pairing._place_leftovers(p, drafts, [("resident", 2), ("resident", 3), ("resident", 4)], earlier)
    assert members(drafts) == [([0], [0, 2]), ([1], [1, 3])]  # r3 home, r4 with n2 (music)
    assert left == [("resident", 4)]  # r5: every group has three already
    assert all(d.size <= pairing.MAX_REMATCH_GROUP for d in drafts)
    reasons = [reason for _, reason in pairing._proposal(p, drafts, left).unpaired]
    assert reasons == [pairing.GROUPS_FULL]


def test_rematch_is_the_two_cases_in_turn() -> None:
    n1, n2 = person("newcomer", 1, interests=["art"]), person("newcomer", 2, interests=["music"])
    r1, r3 = person("resident", 3), person("resident", 5, interests=["music"])
    previous = [ids(n1, r1, r3), [n2.registration_id, uuid.UUID(int=4)]]  # r2 (4) cancelled
    after = pairing.rematch(previous, [n1, n2], [r1, r3], WEIGHTS)
    p = problem([n1, n2], [r1, r3])
    earlier = pairing._earlier_groups(p, previous)
    drafts, leftovers = pairing._pair_keeping_earlier_pairs(p, [], earlier)
    assert after == pairing._proposal(p, drafts, pairing._place_leftovers(p, drafts, leftovers, earlier))
    assert {tuple(m.registration_id.int for m in g.members) for g in after.groups} == {(1, 3), (2, 5)}
