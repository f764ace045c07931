"""Pairing and seating rules, pure.

Each newcomer is paired with one resident; when the groups are uneven the extra people join
existing pairs as trios, so nobody is left alone. The long table has two sides; partners sit face
to face in one row, and a trio takes the next seat on its extra member's side.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["left", "right"]


@dataclass(frozen=True)
class Candidate:
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    group: Literal["newcomer", "resident"]
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class Proposal:
    groups: list[list[Candidate]]  # each a pair (newcomer, resident) or a trio
    unpaired: list[tuple[Candidate, str]]


def pair_in_order(newcomers: list[Candidate], residents: list[Candidate]) -> Proposal:
    """Pair the i-th newcomer with the i-th resident; extras join pairs in turn as trios."""
    if not newcomers or not residents:
        lonely = "newcomers" if not newcomers else "residents"
        reason = f"no confirmed {lonely} to pair with"
        return Proposal([], [(c, reason) for c in newcomers + residents])
    n = min(len(newcomers), len(residents))
    groups = [[newcomers[i], residents[i]] for i in range(n)]
    extras = newcomers[n:] + residents[n:]
    for i, extra in enumerate(extras):
        groups[i % n].append(extra)
    return Proposal(groups, [])


def seat(groups: list[list[Candidate]]) -> list[list[tuple[Candidate, int, Side]]]:
    """Seat numbers along the table: odd on the left side, even on the right, one row per pair.

    Residents sit on the left and newcomers on the right, so partners face each other; a trio's
    third member takes the next row on their side, which keeps the three seats adjacent.
    """
    seated: list[list[tuple[Candidate, int, Side]]] = []
    row = 0
    for members in groups:
        row += 1
        placed: list[tuple[Candidate, int, Side]] = []
        used_rows = {"left": row, "right": row}
        first_on_side: dict[str, bool] = {"left": True, "right": True}
        for member in sorted(members, key=lambda c: c.group != "resident"):
            side: Side = "left" if member.group == "resident" else "right"
            if not first_on_side[side]:
                used_rows[side] += 1
            first_on_side[side] = False
            number = 2 * used_rows[side] - (1 if side == "left" else 0)
            placed.append((member, number, side))
        row = max(used_rows.values())
        seated.append(placed)
    return seated
