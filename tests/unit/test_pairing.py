"""Pairing, re-matching and seating: properties on random populations, checked against brute force."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching import pairing
from services.matching.pairing import Group, Person, Proposal, allowed, propose, rematch, score, seat
from shared.formats import PairingWeights
from tests.strategies import WEIGHTS, History, people, populations, weights_strategy


def brute_force(
    newcomers: Sequence[Person], residents: Sequence[Person], weights: PairingWeights, history: History
) -> tuple[int, float]:
    """(most allowed pairs, best total among assignments with that many), over every assignment."""
    ns, rs = (newcomers, residents) if len(newcomers) <= len(residents) else (residents, newcomers)
    value = [[score(a, b, weights)[0] for b in rs] for a in ns]
    ok = [[allowed(a, b, history) is None for b in rs] for a in ns]
    best: tuple[int, float] = (0, 0.0)
    for perm in itertools.permutations(range(len(rs)), len(ns)):
        count = 0
        total = 0.0
        for i, j in enumerate(perm):
            if ok[i][j]:
                count += 1
                total += value[i][j]
        if count > best[0] or (count == best[0] and total > best[1]):
            best = (count, total)
    return best


def placements(proposal: Proposal) -> Counter[uuid.UUID]:
    placed: Counter[uuid.UUID] = Counter(m.registration_id for g in proposal.groups for m in g.members)
    placed.update(p.registration_id for p, _ in proposal.unpaired)
    return placed


def assert_constraints_hold(proposal: Proposal, history: History) -> None:
    """Every two people who sit in one group may sit together: in a trio the two newcomers (or residents)
    talk with each other too, so the hard rules hold between them as well (issue 17, kind 2)."""
    for g in proposal.groups:
        ns = [m for m in g.members if m.group == "newcomer"]
        rs = [m for m in g.members if m.group == "resident"]
        assert ns and rs
        extras = set(g.extras)
        for a, b in itertools.combinations(g.members, 2):
            if g.locked and a.registration_id not in extras and b.registration_id not in extras:
                continue  # the locked pair itself: the coordinator decided
            assert allowed(a, b, history) is None, (a, b)


def assert_the_unpaired_fit_nowhere(proposal: Proposal, history: History, max_size: int | None = None) -> None:
    """Brute force: nobody is left unpaired who could have joined some group (smaller than ``max_size``)
    within every hard rule."""
    for person_, reason in proposal.unpaired:
        assert reason
        for g in proposal.groups:
            if max_size is not None and len(g.members) >= max_size:
                continue
            assert any(allowed(person_, m, history) is not None for m in g.members), (person_, g.members)


def most_pairs(newcomers: Sequence[Person], residents: Sequence[Person], history: History) -> int:
    """The largest number of allowed newcomer-resident pairs among these people (augmenting paths)."""
    partner: dict[int, int] = {}  # resident index -> newcomer index

    def augment(i: int, visited: set[int]) -> bool:
        for j, r in enumerate(residents):
            if j in visited or allowed(newcomers[i], r, history) is not None:
                continue
            visited.add(j)
            if j not in partner or augment(partner[j], visited):
                partner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(newcomers)))


def assert_at_most_trios(proposal: Proposal) -> None:
    assert all(2 <= len(g.members) <= 3 for g in proposal.groups), [len(g.members) for g in proposal.groups]


def row(number: int) -> int:
    return (number + 1) // 2


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=150, deadline=None)
@given(populations(), weights_strategy)
def test_the_solution_is_optimal_like_brute_force(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights
) -> None:
    newcomers, residents, history = population
    proposal = propose(newcomers, residents, weights, history)
    count, total = brute_force(newcomers, residents, weights, history)
    assert len(proposal.groups) == count
    assert proposal.total_score == pytest.approx(total, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(populations(), weights_strategy)
def test_constraints_hold_and_everyone_is_placed_exactly_once(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights
) -> None:
    newcomers, residents, history = population
    proposal = propose(newcomers, residents, weights, history)
    assert_constraints_hold(proposal, history)
    placed = placements(proposal)
    assert set(placed) == {p.registration_id for p in newcomers + residents}
    assert all(n == 1 for n in placed.values())
    for g in proposal.groups:
        assert [m.group for m in g.members] == sorted(m.group for m in g.members)  # newcomers first
        for kind in ("newcomer", "resident"):
            ids = [m.registration_id for m in g.members if m.group == kind]
            assert ids == sorted(ids)
    for person, reason in proposal.unpaired:
        assert reason and isinstance(person, Person)
    assert_the_unpaired_fit_nowhere(proposal, history)


@settings(max_examples=150, deadline=None)
@given(populations(), weights_strategy, st.randoms(use_true_random=False))
def test_the_same_input_in_any_order_gives_the_same_output(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights, rnd: random.Random
) -> None:
    newcomers, residents, history = population
    first = propose(newcomers, residents, weights, history)
    shuffled_n, shuffled_r = newcomers[:], residents[:]
    rnd.shuffle(shuffled_n)
    rnd.shuffle(shuffled_r)
    assert propose(shuffled_n, shuffled_r, weights, set(history)) == first
    assert seat(first.groups) == seat(propose(shuffled_n, shuffled_r, weights, history).groups)


@settings(max_examples=150, deadline=None)
@given(populations(), weights_strategy)
def test_the_score_matrix_equals_the_scalar_score_exactly(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights
) -> None:
    newcomers, residents, history = population
    matrix = pairing.score_matrix(newcomers, residents, weights)
    ok = pairing.allowed_matrix(newcomers, residents, history)
    for (i, n), (j, r) in itertools.product(enumerate(newcomers), enumerate(residents)):
        assert matrix[i, j] == score(n, r, weights)[0]
        assert bool(ok[i, j]) == (allowed(n, r, history) is None)


@settings(max_examples=150, deadline=None)
@given(populations(), people("newcomer", 3), people("resident", 3), weights_strategy, st.data())
def test_rematch_places_everyone_once_in_at_most_trios_with_the_most_pairs_and_least_change(
    population: tuple[list[Person], list[Person], History],
    new_newcomers: list[Person],
    new_residents: list[Person],
    weights: PairingWeights,
    data: st.DataObject,
) -> None:
    newcomers, residents, history = population
    before = propose(newcomers, residents, weights, history)
    previous = [[m.registration_id for m in g.members] for g in before.groups]
    stay = data.draw(st.lists(st.booleans(), min_size=len(newcomers + residents), max_size=len(newcomers + residents)))
    kept = {p.registration_id for p, s in zip(newcomers + residents, stay, strict=True) if s}
    taken = {p.registration_id for p in newcomers + residents}
    arrivals = [p for p in new_newcomers + new_residents if p.registration_id not in taken]
    arrivals = list({p.registration_id: p for p in arrivals}.values())
    now_n = [p for p in newcomers if p.registration_id in kept] + [p for p in arrivals if p.group == "newcomer"]
    now_r = [p for p in residents if p.registration_id in kept] + [p for p in arrivals if p.group == "resident"]
    after = rematch(previous, now_n, now_r, weights, history)

    placed = placements(after)
    assert set(placed) == {p.registration_id for p in now_n + now_r}
    assert all(n == 1 for n in placed.values())
    assert_constraints_hold(after, history)
    assert_the_unpaired_fit_nowhere(after, history, max_size=3)
    # never more than three in a group, and as many pairs as the people and the hard rules allow
    assert_at_most_trios(after)
    assert len(after.groups) == most_pairs(now_n, now_r, history)
    # least change: when one pair of every earlier group that still has one can be kept without costing
    # a pair, every such group keeps a pair (a whole pair stays as it was; a trio keeps at least its pair)
    present = {p.registration_id: p for p in now_n + now_r}
    options = []
    for earlier in previous:
        here = [present[rid] for rid in earlier if rid in present]
        fits = [
            (a, b)
            for a in here
            if a.group == "newcomer"
            for b in here
            if b.group == "resident" and allowed(a, b, history) is None
        ]
        if fits:
            options.append(fits)
    best = most_pairs(now_n, now_r, history)
    keepable = any(
        len(choice)
        + most_pairs(
            [p for p in now_n if p not in {a for a, _ in choice}],
            [p for p in now_r if p not in {b for _, b in choice}],
            history,
        )
        == best
        for choice in itertools.islice(itertools.product(*options), 200)
    )
    if keepable and len(list(itertools.islice(itertools.product(*options), 201))) <= 200:
        earlier_of = {rid: k for k, earlier in enumerate(previous) for rid in earlier}
        kept_groups = {
            earlier_of[next(m.registration_id for m in g.members if m.registration_id not in g.extras)]
            for g in after.groups
            if len({earlier_of.get(m.registration_id, -1) for m in g.members if m.registration_id not in g.extras}) == 1
            and all(m.registration_id in earlier_of for m in g.members if m.registration_id not in g.extras)
        }
        assert len(kept_groups) == len(options)


@settings(max_examples=200, deadline=None)
@given(populations(), weights_strategy, st.data())
def test_rematch_of_any_earlier_plan_keeps_every_hard_rule_in_pairs_and_trios(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights, data: st.DataObject
) -> None:
    """An earlier plan made before profiles, wishes or history changed (any grouping at all, trios included)
    is re-matched within the rules: no kept group, joined extra or new group breaks one."""
    newcomers, residents, history = population
    everyone = newcomers + residents
    labels = data.draw(st.lists(st.integers(0, 3), min_size=len(everyone), max_size=len(everyone)))
    previous: dict[int, list[uuid.UUID]] = {}
    for p, label in zip(everyone, labels, strict=True):
        previous.setdefault(label, []).append(p.registration_id)
    gone = data.draw(st.sets(st.sampled_from([p.registration_id for p in everyone]))) if everyone else set()
    now_n = [p for p in newcomers if p.registration_id not in gone]
    now_r = [p for p in residents if p.registration_id not in gone]
    locks: list[tuple[uuid.UUID, uuid.UUID]] = []
    for group in previous.values():  # the coordinator locked some pairs of the earlier plan
        n_ids = [rid for rid in group if rid in {p.registration_id for p in newcomers}]
        r_ids = [rid for rid in group if rid in {p.registration_id for p in residents}]
        lock = data.draw(st.booleans())
        if n_ids and r_ids and lock:
            locks.append((n_ids[0], r_ids[0]))
    after = rematch(list(previous.values()), now_n, now_r, weights, history, locks)
    placed = placements(after)
    assert set(placed) == {p.registration_id for p in now_n + now_r}
    assert all(n == 1 for n in placed.values())
    assert_constraints_hold(after, history)
    assert_the_unpaired_fit_nowhere(after, history, max_size=3)
    # never more than three, and the locked pairs of people still here plus as many pairs as the rest allow
    assert_at_most_trios(after)
    here = {p.registration_id for p in now_n + now_r}
    held = {rid for pair in locks if set(pair) <= here for rid in pair}
    rest = most_pairs(
        [p for p in now_n if p.registration_id not in held],
        [p for p in now_r if p.registration_id not in held],
        history,
    )
    assert len(after.groups) == len(held) // 2 + rest


def assert_a_table_without_gaps(groups: Sequence[Group], seats: Sequence[pairing.Seat]) -> None:
    """Seats 1..n, each group in consecutive seats, pair numbers in table order, sides by seat."""
    assert sorted(s.seat for s in seats) == list(range(1, len(seats) + 1))
    assert {s.registration_id for s in seats} == {m.registration_id for g in groups for m in g.members}
    seat_of = {s.registration_id: s for s in seats}
    firsts = []
    for g in groups:
        mine = sorted(seat_of[m.registration_id].seat for m in g.members)
        assert mine == list(range(mine[0], mine[0] + len(mine)))  # next to each other
        assert len({seat_of[m.registration_id].pair_number for m in g.members}) == 1
        firsts.append((mine[0], seat_of[g.members[0].registration_id].pair_number))
    assert [number for _, number in sorted(firsts)] == list(range(1, len(groups) + 1))
    for s in seats:
        assert s.side == ("left" if s.seat % 2 == 1 else "right")


@settings(max_examples=150, deadline=None)
@given(populations(), weights_strategy)
def test_a_first_seating_has_no_gaps_pairs_face_to_face_and_trios_at_the_end(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights
) -> None:
    newcomers, residents, history = population
    proposal = propose(newcomers, residents, weights, history)
    seats = seat(proposal.groups)
    assert_a_table_without_gaps(proposal.groups, seats)
    seat_of = {s.registration_id: s for s in seats}
    last_pair = 0
    first_odd = len(seats) + 1
    for group in proposal.groups:
        extras = set(group.extras)
        core = [seat_of[m.registration_id] for m in group.members if m.registration_id not in extras]
        assert len(core) == 2 and row(core[0].seat) == row(core[1].seat)  # partners face to face
        assert {(s.group, s.side) for s in core} == {("resident", "left"), ("newcomer", "right")}
        span = [seat_of[m.registration_id].seat for m in group.members]
        if len(group.members) % 2:
            first_odd = min(first_odd, *span)
        else:
            last_pair = max(last_pair, *span)
    assert last_pair < first_odd  # trios sit after every pair


def ids(group: Group) -> frozenset[uuid.UUID]:
    return frozenset(m.registration_id for m in group.members)


def fewest_moved_filling(free: Sequence[int], groups: Sequence[Group], old: dict[uuid.UUID, int]) -> int | None:
    """Brute force: the fewest people moved by an order of the groups that fills the free seats exactly, each
    group in one gap (None: no order does). A member moves unless their old seat lies in their group's seats."""
    holes: list[list[int]] = []  # [first seat, length]
    for k, s in enumerate(free):
        if k and free[k - 1] == s - 1:
            holes[-1][1] += 1
        else:
            holes.append([s, 1])
    fewest: int | None = None
    for order in itertools.permutations(groups):
        rest = list(order)
        ok = True
        moved = 0
        for first, hole in holes:
            at = first
            while hole > 0 and rest and len(rest[0].members) <= hole:
                g = rest.pop(0)
                span = range(at, at + len(g.members))
                moved += sum(1 for m in g.members if old.get(m.registration_id) not in span)
                at += len(g.members)
                hole -= len(g.members)
            ok = ok and hole == 0
        if ok and not rest and (fewest is None or moved < fewest):
            fewest = moved
    return fewest


def moved_when_closing_up(groups: Sequence[Group], old: dict[uuid.UUID, int]) -> int:
    """People who move when the table closes its gaps keeping the order (new groups at the end)."""

    def anchor(g: Group) -> tuple[int, uuid.UUID]:
        known = [old[m.registration_id] for m in g.members if m.registration_id in old]
        return (min(known) if known else 1 << 62, min(ids(g)))

    moved, start = 0, 1
    for g in sorted(groups, key=anchor):
        span = range(start, start + len(g.members))
        moved += sum(1 for m in g.members if old.get(m.registration_id) not in span)
        start += len(g.members)
    return moved


def late_change(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights, data: st.DataObject
) -> tuple[list[pairing.Seat], Proposal, list[pairing.Seat], set[uuid.UUID]]:
    """A published plan, then random late cancellations (and maybe a late arrival): seats before and after."""
    newcomers, residents, history = population
    before = propose(newcomers, residents, weights, history)
    seats_before = seat(before.groups)
    everyone = sorted(p.registration_id for p in newcomers + residents)
    gone = data.draw(st.sets(st.sampled_from(everyone), max_size=3)) if everyone else set()
    now_n = [p for p in newcomers if p.registration_id not in gone]
    now_r = [p for p in residents if p.registration_id not in gone]
    after = rematch([sorted(ids(g)) for g in before.groups], now_n, now_r, weights, history)
    seat_of = {s.registration_id: s.seat for s in seats_before}
    earlier = [[(rid, seat_of[rid]) for rid in sorted(ids(g))] for g in before.groups]
    return seats_before, after, seat(after.groups, earlier), gone


@settings(max_examples=300, deadline=None)
@given(populations(), weights_strategy, st.data())
def test_a_late_cancellation_keeps_unchanged_pairs_on_their_seats_and_leaves_no_gap(
    population: tuple[list[Person], list[Person], History], weights: PairingWeights, data: st.DataObject
) -> None:
    """Issue 17, kind 3: a late erasure moved every pair and left seat 3 empty."""
    seats_before, after, seats_after, _ = late_change(population, weights, data)
    assert_a_table_without_gaps(after.groups, seats_after)
    old = {s.registration_id: s.seat for s in seats_before}
    by_number: dict[int, set[uuid.UUID]] = {}
    for s in seats_before:
        by_number.setdefault(s.pair_number, set()).add(s.registration_id)
    earlier = {frozenset(members) for members in by_number.values()}
    new = {s.registration_id: s.seat for s in seats_after}
    unchanged = [g for g in after.groups if ids(g) in earlier]
    changed = [g for g in after.groups if ids(g) not in earlier]
    size = len(seats_after)
    held = {old[rid] for g in unchanged for rid in ids(g)}
    if len(changed) <= 6 and max(held, default=0) <= size:
        free = [s for s in range(1, size + 1) if s not in held]
        fewest = fewest_moved_filling(free, changed, old)
        # The gaps can hold the changed groups and that moves no more people than closing up: so it must happen.
        if fewest is not None and fewest <= moved_when_closing_up(after.groups, old):
            assert all(new[rid] == old[rid] for g in unchanged for rid in ids(g))
    moved = sum(1 for rid, s in new.items() if old.get(rid) != s)
    assert moved <= moved_when_closing_up(after.groups, old)


# --------------------------------------------------------------------------------------------- examples


def person(group: str, name: int, **profile: object) -> Person:
    """A person whose registration id sorts by ``name``."""
    return Person.from_profile(
        uuid.UUID(int=name), uuid.UUID(int=1000 + name), "newcomer" if group == "newcomer" else "resident", profile
    )


def test_reasons_are_plain_sentences_from_the_vocabulary() -> None:
    ali = person("newcomer", 1, interests=["football", "cooking", "art"], occupation_field="health_care")
    kari = person("resident", 2, interests=["cooking", "football"], occupation_field="health_care")
    ali = Person(**{**ali.__dict__, "languages": frozenset({"nb", "ar", "en"}), "age_band": "25-34"})
    kari = Person(**{**kari.__dict__, "languages": frozenset({"nb", "ar", "en"}), "age_band": "35-44"})
    value, reasons = score(ali, kari, WEIGHTS)
    assert reasons == [
        "shared interests: Cooking, Football",
        "both work in Health and care",
        "both speak Arabic, English",
        "close in age",
    ]
    assert value == pytest.approx(2 * 1.0 + 1.5 + 1.0 + 1.0 * (1 - 1 / 3))


def test_norwegian_does_not_count_as_a_common_language_and_other_is_no_occupation() -> None:
    a = person("newcomer", 1, languages=["nb", "nn"], occupation_field="other", age_band="18-24")
    b = person("resident", 2, languages=["nb", "nn"], occupation_field="other", age_band="65-74")
    assert score(a, b, WEIGHTS) == (0.0, [])


def test_youth_bands_come_first_in_age_order() -> None:
    a = person("newcomer", 1, age_band="16-17")
    b = person("resident", 2, age_band="18-24")
    assert score(a, b, WEIGHTS) == (pytest.approx(2 / 3), ["close in age"])


def test_close_in_age_is_said_of_the_same_or_adjacent_bands_only() -> None:
    def reasons(a: str, b: str) -> list[str]:
        return score(person("newcomer", 1, age_band=a), person("resident", 2, age_band=b), WEIGHTS)[1]

    assert reasons("45-54", "45-54") == reasons("45-54", "55-64") == ["close in age"]
    assert reasons("45-54", "65-74") == []  # two bands apart: not close, though it still scores a little
    assert score(person("newcomer", 1, age_band="45-54"), person("resident", 2, age_band="65-74"), WEIGHTS)[0] > 0
    assert reasons("18-24", "75+") == [] and reasons("16-17", "25-34") == []


def test_the_best_total_wins_over_the_best_single_pair() -> None:
    # Greedy takes n1-r1 (3 shared) and leaves n2-r2 with nothing: 3. The optimum is 2 + 2 = 4.
    n1 = person("newcomer", 1, interests=["cooking", "football", "music", "art"])
    n2 = person("newcomer", 2, interests=["cooking", "football"])
    r1 = person("resident", 3, interests=["cooking", "football", "music"])
    r2 = person("resident", 4, interests=["music", "art"])
    proposal = propose([n1, n2], [r1, r2], WEIGHTS)
    pairs = {(g.members[0].registration_id.int, g.members[1].registration_id.int) for g in proposal.groups}
    assert pairs == {(1, 4), (2, 3)}
    assert proposal.total_score == 4.0


def test_a_locked_pair_survives_even_when_another_pairing_scores_higher() -> None:
    n1 = person("newcomer", 1, interests=["cooking"])
    n2 = person("newcomer", 2, interests=["football"])
    r1 = person("resident", 3, interests=["cooking"])
    r2 = person("resident", 4, interests=["football"])
    proposal = propose([n1, n2], [r1, r2], WEIGHTS, locked=[(n1.registration_id, r2.registration_id)])
    locked = [g for g in proposal.groups if g.locked]
    assert [(g.members[0], g.members[1]) for g in locked] == [(n1, r2)]
    assert {g.members for g in proposal.groups} == {(n1, r2), (n2, r1)}


def test_a_locked_pair_with_unknown_people_is_refused() -> None:
    n1, r1 = person("newcomer", 1), person("resident", 2)
    with pytest.raises(ValueError, match="locked pair"):
        propose([n1], [r1], WEIGHTS, locked=[(n1.registration_id, uuid.UUID(int=99))])


def test_a_same_gender_wish_is_a_hard_constraint_with_a_plain_reason() -> None:
    amina = person("newcomer", 1, gender="female", same_gender_partner=True, interests=["cooking"])
    ola = person("resident", 2, gender="male", interests=["cooking"])
    assert allowed(amina, ola) == "the newcomer wants a partner of the same gender"
    proposal = propose([amina], [ola], WEIGHTS)
    assert proposal.groups == ()
    assert dict((p.registration_id, why) for p, why in proposal.unpaired) == {
        amina.registration_id: "wants a partner of the same gender, and no one of the other group fits",
        ola.registration_id: "everyone available in the other group wants a partner of the same gender, and none fits",
    }


def test_people_paired_before_are_not_paired_again() -> None:
    n1 = person("newcomer", 1, interests=["music"])
    r1 = person("resident", 2, interests=["music"])
    r2 = person("resident", 3)
    history = {frozenset((n1.participant_id, r1.participant_id))}
    assert allowed(n1, r1, history) == "they were paired before"
    proposal = propose([n1], [r1, r2], WEIGHTS, history)
    assert [m.registration_id.int for m in proposal.groups[0].members] == [1, 3]
    assert [(p.registration_id.int, why) for p, why in proposal.unpaired] == [
        (2, "was paired before with everyone available")
    ]


def test_with_no_one_in_the_other_group_everyone_is_unpaired() -> None:
    proposal = propose([person("newcomer", 1), person("newcomer", 2)], [], WEIGHTS)
    assert [why for _, why in proposal.unpaired] == ["no one in the other group"] * 2


def test_extras_join_where_they_fit_best_one_per_pair_while_possible() -> None:
    n1 = person("newcomer", 1, interests=["music"])
    n2 = person("newcomer", 2, interests=["hiking"])
    r1 = person("resident", 3, interests=["music"])
    r2 = person("resident", 4, interests=["hiking"])
    r3 = person("resident", 5, interests=["hiking", "reading"])
    r4 = person("resident", 6, interests=["hiking", "reading"])
    r5 = person("resident", 7, interests=["art"])
    proposal = propose([n1, n2], [r1, r2, r3, r4, r5], WEIGHTS)
    sizes = sorted(len(g.members) for g in proposal.groups)
    assert sizes == [3, 4]  # three extras over two pairs: spread evenly
    hiking = next(g for g in proposal.groups if n2 in g.members)
    assert len({r2, r3, r4} & set(hiking.members)) >= 2  # the extra who loves hiking joins the hiking pair
    trio = propose([n1], [r1, r2], WEIGHTS).groups[0]
    assert trio.members == (n1, r1, r2) and trio.extras == (r2.registration_id,)
    assert trio.reasons == ("shared interests: Music",)
    assert trio.score == 1.0 and trio.pair_score == 1.0


def test_an_extra_respects_the_hard_constraints_with_the_pair_member() -> None:
    n1 = person("newcomer", 1, gender="male")
    r1 = person("resident", 2, gender="male")
    r2 = person("resident", 3, gender="female", same_gender_partner=True)
    proposal = propose([n1], [r1, r2], WEIGHTS)
    assert [m.registration_id.int for m in proposal.groups[0].members] == [1, 2]
    assert [(p.registration_id.int, why) for p, why in proposal.unpaired] == [
        (3, "wants a partner of the same gender, and no one of the other group fits")
    ]


def test_a_man_never_joins_as_third_member_the_pair_of_a_woman_who_asked_for_a_woman() -> None:
    """Issue 17, kind 2: her wish binds the whole group, also when the extra is of her own group."""
    her = person("newcomer", 1, gender="female", same_gender_partner=True, interests=["music"])
    him = person("newcomer", 2, gender="male", interests=["music"])
    partner = person("resident", 3, gender="female", interests=["music"])
    proposal = propose([her, him], [partner], WEIGHTS)
    assert [m.registration_id.int for m in proposal.groups[0].members] == [1, 3]
    assert [(p.registration_id.int, why) for p, why in proposal.unpaired] == [(2, pairing.GROUPS_DO_NOT_FIT)]


def test_after_an_erasure_the_rematch_does_not_move_a_man_into_her_pair() -> None:
    her = person("resident", 1, gender="female", same_gender_partner=True)
    partner = person("newcomer", 2, gender="female")
    him = person("resident", 3, gender="male")
    erased_partner = person("newcomer", 4, gender="male")
    previous = [[partner.registration_id, her.registration_id], [erased_partner.registration_id, him.registration_id]]
    after = rematch(previous, [partner], [her, him], WEIGHTS)
    assert [m.registration_id.int for m in after.groups[0].members] == [2, 1]
    assert [p.registration_id.int for p, _ in after.unpaired] == [3]
    # and an earlier trio that would now break her wish is not kept as it was
    kept = rematch(
        [[partner.registration_id, her.registration_id, him.registration_id]], [partner], [her, him], WEIGHTS
    )
    assert [p.registration_id.int for p, _ in kept.unpaired] == [3]


def test_two_residents_paired_before_do_not_share_a_trio() -> None:
    n1 = person("newcomer", 1)
    r1, r2 = person("resident", 2), person("resident", 3)
    history = frozenset({frozenset((r1.participant_id, r2.participant_id))})
    proposal = propose([n1], [r1, r2], WEIGHTS, history)
    assert len(proposal.groups) == 1 and len(proposal.groups[0].members) == 2
    assert len(proposal.unpaired) == 1


def test_rematch_keeps_whole_pairs_and_repairs_the_rest() -> None:
    n1, n3 = person("newcomer", 1, interests=["music"]), person("newcomer", 3, interests=["music"])
    n2 = person("newcomer", 2, interests=["music", "art"])
    r1, r2 = person("resident", 4, interests=["music"]), person("resident", 5, interests=["music"])
    r3, r4 = person("resident", 6, interests=["music", "art"]), person("resident", 7)
    previous = [[n1.registration_id, r1.registration_id, r4.registration_id], [n2.registration_id, r2.registration_id]]
    previous.append([n3.registration_id, r3.registration_id])
    # r4 (the extra of the trio) and r2 cancel: n2 has no one left to pair with and joins the pair
    # that fits best (art); the whole pair n3-r3 and the rest of the trio are kept.
    after = rematch(previous, [n1, n2, n3], [r1, r3], WEIGHTS)
    assert {tuple(m.registration_id.int for m in g.members) for g in after.groups} == {(1, 4), (2, 3, 6)}
    assert not after.unpaired


def test_a_cancellation_beside_a_trio_makes_two_pairs_not_a_group_of_four() -> None:
    """R1, N1, R2, N2, R3: the first proposal is R2+N2 and the trio R1+N1+R3. R2 cancels: N2 is left
    alone and pairs with the trio's extra R3; R1+N1 stay as they were (not one group of four)."""
    r1 = person("resident", 1, interests=["music", "cooking"])
    n1 = person("newcomer", 2, interests=["music", "cooking", "hiking"])
    r2 = person("resident", 3, interests=["art"])
    n2 = person("newcomer", 4, interests=["art"])
    r3 = person("resident", 5, interests=["hiking"])
    first = propose([n1, n2], [r1, r2, r3], WEIGHTS)
    groups = {frozenset(m.registration_id.int for m in g.members) for g in first.groups}
    assert groups == {frozenset({3, 4}), frozenset({1, 2, 5})}
    previous = [[m.registration_id for m in g.members] for g in first.groups]
    after = rematch(previous, [n1, n2], [r1, r3], WEIGHTS)
    assert {frozenset(m.registration_id.int for m in g.members) for g in after.groups} == {
        frozenset({1, 2}),  # R1 + N1 as they were
        frozenset({4, 5}),  # R3 leaves the trio for N2
    }
    assert not after.unpaired
    assert all(g.extras == () for g in after.groups)
    assert_constraints_hold(after, frozenset())
    # when N2 and R3 were paired before, the most pairs is still two: N2 takes R1, and N1 keeps R3
    history = frozenset({frozenset((n2.participant_id, r3.participant_id))})
    blocked = rematch(previous, [n1, n2], [r1, r3], WEIGHTS, history)
    assert {frozenset(m.registration_id.int for m in g.members) for g in blocked.groups} == {
        frozenset({1, 4}),
        frozenset({2, 5}),
    }
    assert_constraints_hold(blocked, history)


def test_rematch_keeps_a_locked_pair_and_drops_a_lock_on_someone_gone() -> None:
    n1, n2 = person("newcomer", 1), person("newcomer", 2)
    r1, r2 = person("resident", 3), person("resident", 4)
    previous = [[n1.registration_id, r1.registration_id], [n2.registration_id, r2.registration_id]]
    locks = [(n1.registration_id, r2.registration_id), (n2.registration_id, uuid.UUID(int=42))]
    after = rematch(previous, [n1, n2], [r1, r2], WEIGHTS, locked=locks)
    assert {(g.members, g.locked) for g in after.groups} == {((n1, r2), True), ((n2, r1), False)}


def test_seating_puts_partners_face_to_face_and_a_trio_in_three_adjacent_seats_at_the_end() -> None:
    n1 = person("newcomer", 1, interests=["music"])
    r1 = person("resident", 2, interests=["music"])
    r2 = person("resident", 3, interests=["music"])
    n2 = person("newcomer", 4, interests=["hiking"])
    r3 = person("resident", 5, interests=["hiking"])
    trio = Group((n1, r1, r2), 2.0, (), extras=(r2.registration_id,))
    pair = Group((n2, r3), 1.0, ())
    seats = {(s.registration_id.int, s.seat, s.side, s.pair_number) for s in seat([trio, pair])}
    assert seats == {
        (5, 1, "left", 1),  # resident left, newcomer right, same row
        (4, 2, "right", 1),
        (2, 3, "left", 2),  # the trio after the pairs: its pair face to face
        (1, 4, "right", 2),
        (3, 5, "left", 2),  # the extra resident next to them: no seat is left empty
    }


def test_neighbouring_groups_differ_in_their_main_shared_interest() -> None:
    def pair(k: int, interest: str) -> Group:
        n = person("newcomer", 2 * k, interests=[interest])
        r = person("resident", 2 * k + 1, interests=[interest])
        return Group((n, r), 1.0, ())

    groups = [pair(1, "music"), pair(2, "music"), pair(3, "music"), pair(4, "hiking"), pair(5, "art")]
    interest = {m.registration_id: next(iter(m.interests)) for g in groups for m in g.members}
    order = [interest[s.registration_id] for s in seat(groups) if s.side == "right"]
    assert order == ["music", "hiking", "music", "art", "music"]


def test_the_late_erasure_of_issue_17_moves_only_the_people_it_must() -> None:
    """Four pairs on seats 1-8; the resident on seat 3 is erased 9 minutes before the start. Her partner
    joins pair 1 as third member on seat 3 (where he sat); pair 2's seats close with the least movement."""
    n = [person("newcomer", k, interests=["art"] if k == 2 else []) for k in (1, 2, 3, 4)]
    r = [person("resident", 10 + k, interests=["art"] if k == 1 else []) for k in (1, 2, 3, 4)]
    pairs = [Group((n[k], r[k]), 0.0, ()) for k in range(4)]
    first = {s.registration_id.int: s.seat for s in seat(pairs)}
    assert sorted(first.values()) == list(range(1, 9))
    earlier = [[(m.registration_id, first[m.registration_id.int]) for m in g.members] for g in pairs]
    previous = [[m.registration_id for m in g.members] for g in pairs]
    erased = next(m for g in pairs for m in g.members if m.group == "resident" and first[m.registration_id.int] == 3)
    after = rematch(previous, n, [p for p in r if p is not erased], WEIGHTS)
    now = {s.registration_id.int: s.seat for s in seat(after.groups, earlier)}
    assert sorted(now.values()) == list(range(1, 8))  # no empty seat
    assert [sorted(m.registration_id.int for m in g.members) for g in after.groups] == [[1, 2, 11], [3, 13], [4, 14]]
    # Pair 1 keeps seats 1 and 2 and is joined on seat 3 by the newcomer who lost his partner; pairs 3
    # and 4 each move one person to close the gap (three people moved and told, not seven).
    assert first == {11: 1, 1: 2, 12: 3, 2: 4, 13: 5, 3: 6, 14: 7, 4: 8}
    assert now == {11: 1, 1: 2, 2: 3, 3: 4, 13: 5, 4: 6, 14: 7}


def test_an_unchanged_pair_keeps_its_seats_when_the_gaps_can_hold_the_changed_groups() -> None:
    """The minimal failing case of the late-cancellation property (seed 1): newcomer 4 (seat 8) and resident
    2013 (seat 11) cancel. Filling the gaps in the first order found moved 8 people, more than closing up
    (5), so the table closed up and moved the unchanged pair on seats 3-4. The fill that moves fewest
    keeps it there and moves 5 people too."""
    res = {k: person("resident", k) for k in (1, 2, 780, 2013, 2016)}
    new = {k: person("newcomer", k) for k in (4, 5, 778, 779, 2014, 2015, 2021)}
    everyone = res | new
    earlier_seats = [[(2, 1), (778, 2)], [(2016, 3), (779, 4)], [(780, 5), (2014, 6)], [(1, 7), (4, 8)]]
    earlier_seats += [[(2021, 9), (5, 10), (2013, 11), (2015, 12)]]
    earlier = [[(everyone[k].registration_id, s) for k, s in g] for g in earlier_seats]
    after = [
        Group((new[5], new[778], res[2]), 0.0, (), extras=(new[5].registration_id,)),
        Group((new[779], res[2016]), 0.0, ()),
        Group((new[2014], new[2015], res[780]), 0.0, (), extras=(new[2015].registration_id,)),
        Group((new[2021], res[1]), 0.0, ()),
    ]
    seats = seat(after, earlier)
    assert_a_table_without_gaps(after, seats)
    now = {s.registration_id.int: s.seat for s in seats}
    assert (now[2016], now[779]) == (3, 4)  # the unchanged pair stays
    old = {rid: s for g in earlier for rid, s in g}
    assert sum(1 for s in seats if old[s.registration_id] != s.seat) == 5
