"""Pair reasons as codes (``pairing.Why``, ``events.Reason``) next to the English sentences, and their wording
on the console's pages in the page's language."""

from __future__ import annotations

import uuid
from gettext import NullTranslations

from hypothesis import given, settings

from services.matching import pairing, plans
from services.matching.pairing import Person, UnpairedWhy, Why, propose
from services.registration.console import pairs as console_pairs
from shared.events import Pairing
from tests.strategies import WEIGHTS, History, populations


def person(group: str, name: int, **profile: object) -> Person:
    return Person.from_profile(
        uuid.UUID(int=name), uuid.UUID(int=1000 + name), "newcomer" if group == "newcomer" else "resident", profile
    )


def test_a_pair_has_its_reasons_as_codes_in_the_order_of_the_sentences() -> None:
    ali = person("newcomer", 1, interests=["football", "cooking"], occupation_field="retired", languages=["ar", "nb"])
    kari = person("resident", 2, interests=["cooking", "football"], occupation_field="retired", languages=["ar"])
    ali = Person(**{**ali.__dict__, "age_band": "25-34"})
    kari = Person(**{**kari.__dict__, "age_band": "35-44"})
    group = propose([ali], [kari], WEIGHTS).groups[0]
    assert group.why == (
        Why("shared_interests", ("cooking", "football")),
        Why("same_situation", ("retired",)),
        Why("common_languages", ("ar",)),
        Why("close_in_age"),
    )
    assert group.reasons == (
        "shared interests: Cooking, Football",
        "same situation: Retired",
        "both speak Arabic",
        "close in age",
    )


def test_a_trios_third_member_has_reasons_of_their_own() -> None:
    n1 = person("newcomer", 1, interests=["music"])
    r1 = person("resident", 3, interests=["music"])
    r2 = person("resident", 4, interests=["music", "art"], occupation_field="health_care")
    n1 = Person(**{**n1.__dict__, "occupation_field": "health_care"})
    trio = propose([n1], [r1, r2], WEIGHTS).groups[0]
    assert len(trio.members) == 3
    extra = [w for w in trio.why if w.member == "extra"]
    assert extra and all(w.member == "extra" for w in trio.why[len(trio.why) - len(extra) :])
    assert [pairing.in_english(w) for w in trio.why] == list(trio.reasons)
    assert any(r.startswith("third member: ") for r in trio.reasons)


def test_unpaired_reasons_are_codes_with_counts() -> None:
    n1 = person("newcomer", 1, gender="male")
    r1 = person("resident", 2, gender="male")
    r2 = person("resident", 3, gender="female", same_gender_partner=True)
    proposal = propose([n1], [r1, r2], WEIGHTS)
    assert proposal.unpaired_why == (UnpairedWhy("same_gender_no_fit"),)
    assert pairing.unpaired_in_english(UnpairedWhy("no_fit", 1, 0, 2)) == (
        "no one in the other group fits: 1 not of the same gender, which they asked for; 2 paired with them before"
    )


@settings(max_examples=60, deadline=None)
@given(populations())
def test_the_codes_say_exactly_what_the_sentences_say(population: tuple[list[Person], list[Person], History]) -> None:
    newcomers, residents, history = population
    proposal = propose(newcomers, residents, WEIGHTS, history)
    for group in proposal.groups:
        assert [pairing.in_english(w) for w in group.why] == list(group.reasons)
    assert [pairing.unpaired_in_english(w) for w in proposal.unpaired_why] == [r for _, r in proposal.unpaired]
    plan = plans.to_pairing(uuid.uuid4(), uuid.uuid4(), 1, "proposed", proposal, (), None)
    again = Pairing.model_validate(plan.model_dump(mode="json"))
    for pair in again.pairs:
        assert [pairing.in_english(Why(r.kind, tuple(r.items), r.member)) for r in pair.why] == pair.reasons
    for u in again.unpaired:
        assert u.why is not None and pairing.unpaired_in_english(UnpairedWhy(**u.why.model_dump())) == u.reason


def test_a_plan_stored_before_the_codes_still_reads() -> None:
    old = {
        "meeting_id": str(uuid.uuid4()),
        "tenant_id": str(uuid.uuid4()),
        "version": 1,
        "pairs": [{"number": 1, "members": [], "reasons": ["close in age"]}],
        "unpaired": [
            {
                "participant_id": str(uuid.uuid4()),
                "registration_id": str(uuid.uuid4()),
                "group": "resident",
                "reason": "no one in the other group",
            }
        ],
    }
    plan = Pairing.model_validate(old)
    assert plan.pairs[0].why == [] and plan.unpaired[0].why is None


class Catalogue(NullTranslations):
    """A catalogue of a few msgids, the way a merged .po gives them."""

    def __init__(self, words: dict[str, str]) -> None:
        super().__init__()
        self.words = words

    def gettext(self, message: str) -> str:
        return self.words.get(message, message)


NB = Catalogue(
    {
        "Shared interests: %(items)s": "Felles interesser: %(items)s",
        "Both speak %(items)s": "Begge snakker %(items)s",
        "Close in age": "Nær i alder",
        "Third person: %(reason)s": "Tredje person: %(reason)s",
    }
)


def test_reasons_are_worded_in_the_pages_language_with_the_vocabularys_labels() -> None:
    shared = {"kind": "shared_interests", "items": ["cooking", "football"], "member": None}
    assert console_pairs.reason_words(shared, "nb", NB) == "Felles interesser: matlaging, fotball"
    assert console_pairs.reason_words(shared, "en", NullTranslations()) == "Shared interests: cooking, football"
    spoken = {"kind": "common_languages", "items": ["ar"], "member": None}
    assert console_pairs.reason_words(spoken, "en", NullTranslations()) == "Both speak Arabic"
    assert console_pairs.reason_words(spoken, "nb", NB) == "Begge snakker arabisk"
    third = {"kind": "close_in_age", "items": [], "member": "extra"}
    assert console_pairs.reason_words(third, "nb", NB) == "Tredje person: nær i alder"
    second_extra = {"kind": "close_in_age", "items": [], "member": "extra_2"}
    assert console_pairs.reason_words(second_extra, "en", NullTranslations()) == "Extra person 2: close in age"


def test_a_plan_without_codes_shows_matchings_english_and_unpaired_reasons_have_counts() -> None:
    old = {"reasons": ["shared interests: Cooking"], "why": []}
    assert console_pairs.pair_reasons(old, "nb", NB) == ["shared interests: Cooking"]
    assert console_pairs.unpaired_words({"reason": "no one in the other group", "why": None}, NB) == (
        "no one in the other group"
    )
    counted = {"reason": "...", "why": {"kind": "no_fit", "not_same_gender": 1, "paired_before": 2}}
    assert console_pairs.unpaired_words(counted, NullTranslations()) == (
        "No one in the other group fits: 1 is not of the gender they asked for; 2 were paired with them before."
    )


def test_the_long_table_is_drawn_in_bands_with_partners_face_to_face() -> None:
    members = [
        {
            "seat": s,
            "side": "left" if s % 2 else "right",
            "group": "newcomer" if s % 2 else "resident",
            "name": f"P{s} X",
        }
        for s in range(1, 21)
    ]
    plan = {"pairs": [{"number": k + 1, "members": members[2 * k : 2 * k + 2]} for k in range(10)]}
    drawings = console_pairs.table_drawings(plan)
    assert [(d.first_seat, d.last_seat) for d in drawings] == [(1, 10), (11, 20)]
    assert drawings[0].host_end and not drawings[1].host_end
    assert drawings[0].width == drawings[1].width, "every band at one scale"
    first = {s.seat: s for s in drawings[0].seats}
    assert first[1].x == first[2].x and first[1].y < first[2].y  # face to face across the table
    assert first[1].first_name == "P1" and first[3].x > first[1].x
    assert console_pairs.score_words(7.5, "nb") == "7,5" and console_pairs.score_words(6, "en") == "6.0"


def test_a_trio_is_drawn_with_its_pair_number_in_front_of_each_seat_and_lines_between_pairs() -> None:
    # Pair 1 is a trio in seats 1-3; pair 2 sits in seats 4-5: row 2 holds one of each, row 3 only pair 2.
    seats = [(1, "left", 1), (2, "right", 1), (3, "left", 1), (4, "right", 2), (5, "left", 2)]
    plan = {
        "pairs": [
            {"number": n, "members": [{"seat": s, "side": side, "group": "resident", "name": "A"}]}
            for s, side, n in seats
        ]
    }
    (drawing,) = console_pairs.table_drawings(plan)
    row = console_pairs.ROW_WIDTH
    origin = console_pairs.HOST_END
    middle = console_pairs.TABLE_TOP + console_pairs.TABLE_HEIGHT // 2
    assert [n for _, _, n in drawing.labels] == [1, 1, 2, 2]  # row 1 once across; row 2 one per side
    assert (origin + row + 8, middle, origin + 2 * row - 8, middle) in drawing.lines  # along row 2
    assert not any(x1 == x2 for x1, _, x2, _ in drawing.lines), "no row boundary falls between two pairs"
