"""Between the pairing algorithm and the event contract: seating plans as ``Pairing`` payloads, and the
coordinator's edits (swap, lock) applied to a plan. Pure functions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from services.matching import pairing
from shared.events import Pair, Pairing, PairMember, Reason, Unpaired, UnpairedReason

LockedPair = tuple[uuid.UUID, uuid.UUID]  # (newcomer registration id, resident registration id)


def to_pairing(
    meeting_id: uuid.UUID,
    tenant_id: uuid.UUID,
    version: int,
    status: str,
    proposal: pairing.Proposal,
    locks: Iterable[LockedPair],
    previous: Pairing | None,
) -> Pairing:
    earlier = [[(m.registration_id, m.seat) for m in pair.members] for pair in previous.pairs] if previous else []
    seat_of = {s.registration_id: s for s in pairing.seat(proposal.groups, earlier)}
    locked = set(locks)
    pairs = []
    for group in proposal.groups:
        seats = sorted((seat_of[m.registration_id] for m in group.members), key=lambda s: s.seat)
        ids = {m.registration_id for m in group.members}
        pairs.append(
            Pair(
                number=seats[0].pair_number,
                members=[
                    PairMember(
                        participant_id=s.participant_id,
                        registration_id=s.registration_id,
                        group=s.group,
                        seat=s.seat,
                        side=s.side,
                    )
                    for s in seats
                ],
                score=round(group.score, 3),
                reasons=list(group.reasons),
                why=[Reason(kind=w.kind, items=list(w.items), member=w.member) for w in group.why],
                locked=group.locked or any(n in ids and r in ids for n, r in locked),
            )
        )
    pairs.sort(key=lambda p: p.number)
    plan = Pairing(
        meeting_id=meeting_id,
        tenant_id=tenant_id,
        version=version,
        status=status,
        pairs=pairs,
        unpaired=[
            Unpaired(
                participant_id=p.participant_id,
                registration_id=p.registration_id,
                group=p.group,
                reason=reason,
                why=_unpaired_reason(code),
            )
            for (p, reason), code in zip(proposal.unpaired, _codes(proposal), strict=True)
        ],
        total_score=round(proposal.total_score, 3),
    )
    if previous is not None:  # whose partner or seat changed: the people a published change is told to
        before, after = partners(previous), partners(plan)
        seat_before = {m.registration_id: m.seat for pair in previous.pairs for m in pair.members}
        plan.changed = sorted(
            rid for rid in after if after[rid] != before.get(rid) or seat_of[rid].seat != seat_before.get(rid)
        )
    return plan


def _codes(proposal: pairing.Proposal) -> list[pairing.UnpairedWhy | None]:
    """The unpaired people's reasons as codes, one per person (None where the proposal has none)."""
    codes: list[pairing.UnpairedWhy | None] = list(proposal.unpaired_why)
    return codes if len(codes) == len(proposal.unpaired) else [None] * len(proposal.unpaired)


def _unpaired_reason(code: pairing.UnpairedWhy | None) -> UnpairedReason | None:
    if code is None:
        return None
    return UnpairedReason(
        kind=code.kind,
        not_same_gender=code.not_same_gender,
        want_own_gender=code.want_own_gender,
        paired_before=code.paired_before,
    )


def groups_of(plan: Pairing) -> list[list[uuid.UUID]]:
    return [[m.registration_id for m in pair.members] for pair in plan.pairs]


def members_of(plan: Pairing) -> set[uuid.UUID]:
    return {rid for group in groups_of(plan) for rid in group} | {u.registration_id for u in plan.unpaired}


def partners(plan: Pairing) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    out: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
    for group in groups_of(plan):
        for rid in group:
            out[rid] = frozenset(group) - {rid}
    return out


def swap(plan: Pairing, a: uuid.UUID, b: uuid.UUID) -> tuple[list[list[uuid.UUID]], list[LockedPair]]:
    """The plan's groups with ``a`` and ``b`` exchanged, and the two changed pairs to lock.

    A hand-made pair is locked, so that a later re-match does not undo the coordinator's choice.
    """
    group_of = {m.registration_id: m.group for pair in plan.pairs for m in pair.members}
    if a not in group_of or b not in group_of:
        raise ValueError("both people must be seated in the plan")
    if group_of[a] != group_of[b]:
        raise ValueError("only two newcomers or two residents can change places")
    groups = [[b if rid == a else a if rid == b else rid for rid in group] for group in groups_of(plan)]
    changed = [g for g in groups if a in g or b in g]
    return groups, [core_pair(g, group_of) for g in changed]


def core_pair(group: list[uuid.UUID], group_of: Mapping[uuid.UUID, str]) -> LockedPair:
    newcomer = next(rid for rid in group if group_of[rid] == "newcomer")
    resident = next(rid for rid in group if group_of[rid] == "resident")
    return newcomer, resident


def group_map(plan: Pairing) -> dict[uuid.UUID, str]:
    return {m.registration_id: m.group for pair in plan.pairs for m in pair.members}


def published_pairs(plan: Pairing) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every two people who sit in one group, as participant ids: the "never paired before" history.

    In a trio everyone talks with everyone, so the two newcomers (or residents) of a trio count as
    paired too (issue 17, kind 2).
    """
    out = []
    for pair in plan.pairs:
        ids = [m.participant_id for m in pair.members]
        out += [(a, b) for k, a in enumerate(ids) for b in ids[k + 1 :]]
    return out
