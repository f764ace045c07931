"""Who hears about a published seating plan, and what: pure rules over the ``Pairing`` contract.

The first published version is told to everyone seated. A re-match after publishing publishes a
new version; then only those whose seat or partner changed since what they were last told hear
of it. The message names the seat, the shared interests and how many people the reader talks with (one
in a pair, two in a trio: issue 17, kind 2), never the partner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared import vocabulary
from shared.events import Pairing

SHARED_INTERESTS = "shared interests:"


@dataclass(frozen=True)
class Told:
    """What one person was told about their place at the table."""

    seat: int
    partners: frozenset[uuid.UUID]


@dataclass(frozen=True)
class SeatNotice:
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    seat: int | None  # None: they had a seat, and a re-match left them without a partner
    pair_number: int | None
    interests: tuple[str, ...]  # vocabulary ids where known, so each reader gets their own language
    first: bool  # first time this person hears of a seat (else: their seat or partner changed)
    partners: int = 1  # how many people this person talks with: 1 in a pair, 2 in a trio


def seating(plan: Pairing) -> dict[uuid.UUID, Told]:
    out: dict[uuid.UUID, Told] = {}
    for pair in plan.pairs:
        everyone = {m.registration_id for m in pair.members}
        for member in pair.members:
            out[member.registration_id] = Told(member.seat, frozenset(everyone - {member.registration_id}))
    return out


def notices(plan: Pairing, told_before: dict[uuid.UUID, Told]) -> list[SeatNotice]:
    """One notice per person whose seat or partners differ from what they were told before.

    Someone told a seat earlier whom a re-match leaves unpaired (a hard rule leaves no group for them)
    is told too, with no seat: they are not left expecting a partner who is no longer there.
    """
    now_told = seating(plan)
    changed = set(plan.changed)
    out = []
    for pair in plan.pairs:
        interests = shared_interests(pair.reasons)
        for member in pair.members:
            rid = member.registration_id
            before = told_before.get(rid)
            if before is not None and before == now_told[rid] and rid not in changed:
                continue
            out.append(
                SeatNotice(
                    rid,
                    member.participant_id,
                    member.seat,
                    pair.number,
                    interests,
                    first=before is None,
                    partners=len(pair.members) - 1,
                )
            )
    for unpaired in plan.unpaired:  # their seat changed too: to none, until the host finds them a place
        if unpaired.registration_id in told_before:
            out.append(
                SeatNotice(unpaired.registration_id, unpaired.participant_id, None, None, (), first=False, partners=0)
            )
    return out


def shared_interests(reasons: list[str]) -> tuple[str, ...]:
    """The interests from a reason like "shared interests: Football, Cooking", as vocabulary ids."""
    by_label = {
        str(item[lang]).casefold(): item["id"]
        for item in vocabulary.vocabulary()["interests"]
        for lang in ("en", "nb", "nn")
        if isinstance(item, dict) and item.get(lang)
    }
    found: list[str] = []
    for reason in reasons:
        if not reason.casefold().startswith(SHARED_INTERESTS):
            continue
        for label in reason[len(SHARED_INTERESTS) :].split(","):
            label = label.strip()
            if label:
                found.append(by_label.get(label.casefold(), label))
    return tuple(dict.fromkeys(found))


def interest_labels(interests: list[str] | tuple[str, ...], language: str) -> list[str]:
    known = vocabulary.ids("interests")
    return [vocabulary.label("interests", i, language) if i in known else i for i in interests]
