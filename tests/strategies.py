"""Hypothesis strategies shared by the property tests: people of one group with random profiles, populations
of newcomers and residents with a history of earlier pairs, and pairing weights."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from hypothesis import strategies as st

from services.matching.pairing import Person
from shared.formats import FORMATS, PairingWeights

WEIGHTS = PairingWeights()
History = frozenset[frozenset[uuid.UUID]]

# Small pools, so that overlaps, ties and constraint clashes are common.
INTERESTS = ["cooking", "football", "hiking", "music", "reading", "art"]
OCCUPATIONS = ["health_care", "it", "retail", "retired", "other"]
LANGUAGES = ["nb", "nn", "en", "ar", "so", "uk"]
AGE_BANDS = ["16-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+"]
GENDERS = ["female", "male", "other"]


def subset(pool: Sequence[str], mask: int) -> frozenset[str]:
    return frozenset(item for bit, item in enumerate(pool) if mask >> bit & 1)


@st.composite
def people(draw: st.DrawFn, group: str, max_size: int = 7) -> list[Person]:
    """Up to ``max_size`` people of one group; plain integer draws keep generation fast."""
    ids = draw(st.lists(st.integers(1, 2**40), max_size=max_size, unique=True))
    return [
        Person(
            registration_id=uuid.UUID(int=k),
            participant_id=uuid.UUID(int=k + 2**64),
            group="newcomer" if group == "newcomer" else "resident",
            interests=subset(INTERESTS, draw(st.integers(0, 2 ** len(INTERESTS) - 1))),
            occupation_field=draw(st.sampled_from([None, *OCCUPATIONS])),
            languages=subset(LANGUAGES, draw(st.integers(0, 2 ** len(LANGUAGES) - 1))),
            age_band=draw(st.sampled_from([None, *AGE_BANDS])),
            gender=draw(st.sampled_from([None, *GENDERS])),
            same_gender_partner=draw(st.integers(0, 3)) == 0,
        )
        for k in ids
    ]


@st.composite
def populations(draw: st.DrawFn, max_size: int = 7) -> tuple[list[Person], list[Person], History]:
    """Newcomers, residents (ids distinct across both) and a random history of earlier pairs among them."""
    newcomers = draw(people("newcomer", max_size))
    residents = [
        p for p in draw(people("resident", max_size)) if p.registration_id not in {n.registration_id for n in newcomers}
    ]
    combos = [frozenset((n.participant_id, r.participant_id)) for n in newcomers for r in residents]
    chosen = draw(st.sets(st.integers(0, max(0, len(combos) - 1)), max_size=len(combos) // 4)) if combos else set()
    history = frozenset(combos[k] for k in chosen)
    return newcomers, residents, history


weights_strategy = st.sampled_from([WEIGHTS, *(f.weights for f in FORMATS.values())]) | st.builds(
    PairingWeights,
    shared_interest=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    same_occupation=st.sampled_from([0.0, 1.5, 4.0]),
    common_language=st.sampled_from([0.0, 1.0, 3.0]),
    age_closeness=st.sampled_from([0.0, 1.0, 3.0]),
)
