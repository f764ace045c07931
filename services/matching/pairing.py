"""Optimal pairing of newcomers with residents, re-matching with least change, and seating. Pure: no I/O.

* ``score`` says how well a newcomer and a resident fit, with plain-English reasons.
* ``allowed`` applies the hard constraints (same-gender wishes, never the same two people twice) to any
  two people who would sit in one group: in a trio everyone talks with everyone, so the rules hold between
  the two newcomers (or two residents) of a trio too, in first proposals and re-matches alike
  (issue 17, kind 2). Someone no group can take within the rules is left unpaired with a reason.
* ``propose`` solves the assignment problem exactly (``scipy.optimize.linear_sum_assignment``): first the
  largest number of allowed pairs, then the largest total score. People left over when the groups are
  uneven join the pair where they fit best as a third member, so nobody sits alone.
* ``rematch`` keeps as many earlier pairs as it can while reaching the largest number of allowed pairs,
  re-pairs the others (a trio's extra may leave it to pair with someone left alone), and makes no group
  larger than three.
* ``seat`` places the groups along one long table in seats 1..n without gaps, partners face to face; after a
  re-match it moves as few people as it can.

The score matrix is built with numpy over bit-encoded attributes, so a meeting of 1000 + 1000 is solved
in well under a second; ``score`` is the scalar twin used for reasons and gives bit-identical values.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from shared.events import ReasonKind, UnpairedKind
from shared.formats import PairingWeights
from shared.vocabulary import vocabulary

GroupName = Literal["newcomer", "resident"]
Side = Literal["left", "right"]
History = AbstractSet[frozenset[uuid.UUID]]
LockedPairs = Sequence[tuple[uuid.UUID, uuid.UUID]]
FloatMatrix = npt.NDArray[np.float64]
BoolMatrix = npt.NDArray[np.bool_]
_Bits = npt.NDArray[np.uint64]
_Ints = npt.NDArray[np.int64]

NORWEGIAN: frozenset[str] = frozenset({"nb", "nn", "no"})
AGE_BANDS_TO_ZERO = 3  # age closeness falls linearly to zero at this many bands apart
# "close in age" is said of the same or adjacent age bands only (e.g. 45-54 with 55-64, never with
# 65-74): two bands apart still adds a little to the score, but saying "close" of 20 years is untrue.
CLOSE_IN_AGE = 1.0 - 1.0 / AGE_BANDS_TO_ZERO
_NO_OCCUPATION = "other"
_NOT_A_JOB = frozenset({"student", "retired", "at_home"})  # "same situation: Retired", not "both work in Retired"

NO_ONE_IN_OTHER_GROUP = "no one in the other group"
PAIRED_BEFORE_WITH_EVERYONE = "was paired before with everyone available"
SAME_GENDER_NO_FIT = "wants a partner of the same gender, and no one of the other group fits"
SAME_GENDER_NO_GENDER = "wants a partner of the same gender, but has not given their gender"
OTHERS_WANT_SAME_GENDER = "everyone available in the other group wants a partner of the same gender, and none fits"
GROUPS_DO_NOT_FIT = "everyone who fits is already in a group with someone they cannot be paired with"
GROUPS_FULL = "every group they could join has three people already"
MAX_REMATCH_GROUP = 3  # a re-match never makes a group larger than a trio


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Person:
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    group: GroupName
    interests: frozenset[str] = frozenset()
    occupation_field: str | None = None
    languages: frozenset[str] = frozenset()  # language ids from the vocabulary, e.g. "nb", "en", "ar"
    age_band: str | None = None  # ordered as youth_age_bands then age_bands in the vocabulary
    gender: str | None = None  # "female" | "male" | "other" | None
    same_gender_partner: bool = False  # "I prefer a partner of my own gender": a hard constraint

    @classmethod
    def from_profile(
        cls,
        registration_id: uuid.UUID,
        participant_id: uuid.UUID,
        group: GroupName,
        profile: Mapping[str, Any],
    ) -> Person:
        """Build from a registration profile (``shared.events.Profile`` as a dict); missing keys are fine."""
        return cls(
            registration_id=registration_id,
            participant_id=participant_id,
            group=group,
            interests=frozenset(profile.get("interests") or ()),
            occupation_field=profile.get("occupation_field") or None,
            languages=frozenset(profile.get("languages") or ()),
            age_band=profile.get("age_band") or None,
            gender=profile.get("gender") or None,
            same_gender_partner=bool(profile.get("same_gender_partner") or False),
        )


@dataclass(frozen=True)
class Why:
    """One reason two people were paired, as codes a page words in its own language: ``kind``, the
    vocabulary ids it names (``items``: interests, an occupation field, spoken languages; none for
    ``close_in_age``), and whose reason it is (``member``: None for the pair itself, ``"extra"`` for a
    trio's third member, ``"extra_<k>"`` for the k-th extra of a larger group)."""

    kind: ReasonKind
    items: tuple[str, ...] = ()
    member: str | None = None


@dataclass(frozen=True)
class UnpairedWhy:
    """Why someone is left without a group, as a code; for ``no_fit`` the people of the other group by what
    rules them out: not of the same gender, which the person asked for (``not_same_gender``), wanting a
    partner of their own gender (``want_own_gender``), paired with the person before (``paired_before``)."""

    kind: UnpairedKind
    not_same_gender: int = 0
    want_own_gender: int = 0
    paired_before: int = 0


@dataclass(frozen=True)
class Group:
    """A pair, or a trio when the groups are uneven (a first proposal may go larger when extras outnumber the
    pairs; a re-match never does)."""

    members: tuple[Person, ...]  # newcomer(s) first, then resident(s); each sorted by registration_id
    score: float  # the pair's score; for a trio the pair's score plus the extra's score with their partner
    reasons: tuple[str, ...]
    locked: bool = False
    pair_score: float | None = None  # the original pair's score alone (None: same as score)
    extras: tuple[uuid.UUID, ...] = ()  # registration ids of the members who joined the pair as extras
    why: tuple[Why, ...] = ()  # ``reasons`` as codes, in the same order


@dataclass(frozen=True)
class Proposal:
    groups: tuple[Group, ...]
    unpaired: tuple[tuple[Person, str], ...]
    unpaired_why: tuple[UnpairedWhy, ...] = ()  # the reasons of ``unpaired`` as codes, in the same order

    @property
    def total_score(self) -> float:
        """Sum of the pair scores (the extras' scores are not part of the optimised total)."""
        return float(sum(g.score if g.pair_score is None else g.pair_score for g in self.groups))


@dataclass(frozen=True)
class Seat:
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    group: GroupName
    pair_number: int  # 1-based position of the group along the table
    seat: int  # 1..n without gaps; row r has seat 2r-1 on the left and 2r on the right
    side: Side


# ---------------------------------------------------------------------------------------- vocabulary


@cache
def _labels(category: str) -> dict[str, str]:
    return {
        str(item["id"]): str(item.get("en") or item["id"]) for item in vocabulary()[category] if isinstance(item, dict)
    }


@cache
def _age_rank() -> dict[str, int]:
    order: dict[str, int] = {}
    for band in [*vocabulary().get("youth_age_bands", []), *vocabulary()["age_bands"]]:
        order.setdefault(str(band), len(order))
    return order


def _label(category: str, item_id: str) -> str:
    return _labels(category).get(item_id, item_id)


# -------------------------------------------------------------------------------- scoring (scalar)


def _shared_occupation(a: Person, b: Person) -> str | None:
    occupation = a.occupation_field
    if not occupation or occupation == _NO_OCCUPATION or occupation != b.occupation_field:
        return None
    return occupation


def _age_closeness(a: str | None, b: str | None) -> float:
    rank = _age_rank()
    if a is None or b is None or a not in rank or b not in rank:
        return 0.0
    return max(0.0, 1.0 - abs(rank[a] - rank[b]) / AGE_BANDS_TO_ZERO)


def _whys(
    shared: Iterable[str], occupation: str | None, languages: Iterable[str], closeness: float, w: PairingWeights
) -> list[Why]:
    whys: list[Why] = []
    interests = tuple(sorted(shared))
    if interests and w.shared_interest > 0:
        whys.append(Why("shared_interests", interests))
    if occupation is not None and w.same_occupation > 0:
        whys.append(Why("same_situation" if occupation in _NOT_A_JOB else "same_occupation", (occupation,)))
    spoken = tuple(sorted(languages))
    if spoken and w.common_language > 0:
        whys.append(Why("common_languages", spoken))
    if closeness >= CLOSE_IN_AGE and w.age_closeness > 0:
        whys.append(Why("close_in_age"))
    return whys


def _member_prefix(member: str | None) -> str:
    if member is None:
        return ""
    if member == "extra":
        return "third member: "
    return f"extra member {member.removeprefix('extra_')}: "


def in_english(why: Why) -> str:
    """The reason as the plain-English sentence of the ``reasons`` list (e.g. "shared interests: Cooking,
    Football", "third member: close in age"), with the vocabulary's English labels."""
    labels = {
        "shared_interests": "interests",
        "same_occupation": "occupation_fields",
        "same_situation": "occupation_fields",
        "common_languages": "languages",
    }
    named = ", ".join(_label(labels[why.kind], i) for i in why.items) if why.kind in labels else ""
    text = {
        "shared_interests": f"shared interests: {named}",
        "same_occupation": f"both work in {named}",
        "same_situation": f"same situation: {named}",
        "common_languages": f"both speak {named}",
        "close_in_age": "close in age",
    }[why.kind]
    return _member_prefix(why.member) + text


def why(newcomer: Person, resident: Person, weights: PairingWeights) -> list[Why]:
    """Why two people fit, as codes (``Why``): the same reasons ``score`` gives in English, in that order."""
    shared = newcomer.interests & resident.interests
    occupation = _shared_occupation(newcomer, resident)
    languages = (newcomer.languages & resident.languages) - NORWEGIAN
    closeness = _age_closeness(newcomer.age_band, resident.age_band)
    return _whys(shared, occupation, languages, closeness, weights)


def score(newcomer: Person, resident: Person, weights: PairingWeights) -> tuple[float, list[str]]:
    """How well two people fit, and why, in plain English. Same value as ``score_matrix`` gives."""
    shared = newcomer.interests & resident.interests
    occupation = _shared_occupation(newcomer, resident)
    languages = (newcomer.languages & resident.languages) - NORWEGIAN
    closeness = _age_closeness(newcomer.age_band, resident.age_band)
    # The same operations in the same order as score_matrix, so both give bit-identical floats.
    value = float(weights.shared_interest) * float(len(shared))
    value = value + float(weights.same_occupation) * (1.0 if occupation else 0.0)
    value = value + float(weights.common_language) * (1.0 if languages else 0.0)
    value = value + float(weights.age_closeness) * closeness
    return value, [in_english(w) for w in _whys(shared, occupation, languages, closeness, weights)]


def _gender_reason(wisher: Person, other: Person) -> str | None:
    if not wisher.same_gender_partner:
        return None
    if wisher.gender and wisher.gender == other.gender:
        return None
    return f"the {wisher.group} wants a partner of the same gender"


def allowed(a: Person, b: Person, history: History = frozenset()) -> str | None:
    """None when the two may sit in one group, else the reason they may not (the hard constraints).

    Holds for a newcomer with a resident and, in a trio, for two people of the same group alike.
    """
    reason = _gender_reason(a, b) or _gender_reason(b, a)
    if reason:
        return reason
    if frozenset((a.participant_id, b.participant_id)) in history:
        return "they were paired before"
    return None


# ---------------------------------------------------------------------------- scoring (vectorised)


def _codebook(values: Iterable[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(sorted(set(values)))}


def _bitmasks(sets: Sequence[AbstractSet[str]], bits: Mapping[str, int]) -> _Bits:
    """One row per person, one bit per value (every value must be in ``bits``), in 64-bit words."""
    words = max(1, (len(bits) + 63) // 64)
    masks = [sum(1 << bits[v] for v in s) for s in sets]
    if words == 1:
        return np.array(masks, dtype=np.uint64).reshape(len(sets), 1)
    full = (1 << 64) - 1
    rows = [[(m >> (64 * k)) & full for k in range(words)] for m in masks]
    return np.array(rows, dtype=np.uint64).reshape(len(sets), words)


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


def _popcount(x: _Bits) -> _Ints:
    counter = getattr(np, "bitwise_count", None)  # numpy >= 2.0
    if counter is not None:
        return np.asarray(counter(x), dtype=np.int64)
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.asarray((x * _H01) >> np.uint64(56), dtype=np.int64)


@dataclass(frozen=True)
class _Features:
    interests: _Bits
    languages: _Bits  # languages other than Norwegian
    occupation: _Ints  # -1: none or "other"
    age: _Ints  # -1: unknown
    gender: _Ints  # -1: unknown
    same_gender: BoolMatrix


def _features(newcomers: Sequence[Person], residents: Sequence[Person]) -> tuple[_Features, _Features]:
    people = [*newcomers, *residents]
    interest_bits = _codebook(i for p in people for i in p.interests)
    language_bits = _codebook(lang for p in people for lang in p.languages if lang not in NORWEGIAN)
    occupations = _codebook(
        p.occupation_field for p in people if p.occupation_field and p.occupation_field != _NO_OCCUPATION
    )
    genders = _codebook(p.gender for p in people if p.gender)
    rank = _age_rank()

    def encode(side: Sequence[Person]) -> _Features:
        return _Features(
            interests=_bitmasks([p.interests for p in side], interest_bits),
            languages=_bitmasks([p.languages - NORWEGIAN for p in side], language_bits),
            occupation=np.array([occupations.get(p.occupation_field or "", -1) for p in side], dtype=np.int64),
            age=np.array([rank.get(p.age_band or "", -1) for p in side], dtype=np.int64),
            gender=np.array([genders.get(p.gender or "", -1) for p in side], dtype=np.int64),
            same_gender=np.array([p.same_gender_partner for p in side], dtype=np.bool_),
        )

    return encode(newcomers), encode(residents)


def _score_matrix(n: _Features, r: _Features, weights: PairingWeights) -> FloatMatrix:
    if n.interests.shape[1] == 1:
        shared = _popcount(n.interests[:, 0][:, None] & r.interests[:, 0][None, :])
    else:
        shared = _popcount(n.interests[:, None, :] & r.interests[None, :, :]).sum(axis=2)
    if n.languages.shape[1] == 1:
        common = (n.languages[:, 0][:, None] & r.languages[:, 0][None, :]) != 0
    else:
        common = ((n.languages[:, None, :] & r.languages[None, :, :]) != 0).any(axis=2)
    same_occupation = (n.occupation[:, None] == r.occupation[None, :]) & (n.occupation[:, None] >= 0)
    known_age = (n.age[:, None] >= 0) & (r.age[None, :] >= 0)
    distance = np.abs(n.age[:, None] - r.age[None, :]).astype(np.float64)
    closeness = np.where(known_age, np.maximum(0.0, 1.0 - distance / AGE_BANDS_TO_ZERO), 0.0)
    value = float(weights.shared_interest) * shared.astype(np.float64)
    value = value + float(weights.same_occupation) * same_occupation.astype(np.float64)
    value = value + float(weights.common_language) * common.astype(np.float64)
    value = value + float(weights.age_closeness) * closeness
    return np.asarray(value, dtype=np.float64)


def _allowed_matrix(
    newcomers: Sequence[Person], residents: Sequence[Person], n: _Features, r: _Features, history: History
) -> BoolMatrix:
    wish = n.same_gender[:, None] | r.same_gender[None, :]
    same = (n.gender[:, None] == r.gender[None, :]) & (n.gender[:, None] >= 0)
    ok: BoolMatrix = ~wish | same
    if history:
        rows: dict[uuid.UUID, list[int]] = {}
        cols: dict[uuid.UUID, list[int]] = {}
        for i, p in enumerate(newcomers):
            rows.setdefault(p.participant_id, []).append(i)
        for j, p in enumerate(residents):
            cols.setdefault(p.participant_id, []).append(j)
        for pair in history:
            if len(pair) != 2:
                continue
            a, b = pair
            for x, y in ((a, b), (b, a)):
                for i in rows.get(x, ()):
                    for j in cols.get(y, ()):
                        ok[i, j] = False
    return ok


def score_matrix(newcomers: Sequence[Person], residents: Sequence[Person], weights: PairingWeights) -> FloatMatrix:
    """Scores of every newcomer (rows) with every resident (columns), vectorised; equal to ``score``."""
    n, r = _features(newcomers, residents)
    return _score_matrix(n, r, weights)


def allowed_matrix(
    newcomers: Sequence[Person], residents: Sequence[Person], history: History = frozenset()
) -> BoolMatrix:
    """True where the newcomer (row) and the resident (column) may be paired; equal to ``allowed(...) is None``."""
    n, r = _features(newcomers, residents)
    return _allowed_matrix(newcomers, residents, n, r, history)


# ------------------------------------------------------------------------------------------ solving


def best_assignment(values: FloatMatrix, ok: BoolMatrix) -> list[tuple[int, int]]:
    """Rows matched to columns: the most allowed pairs, then the highest total value among those. Exact.

    Every allowed cell gets a constant larger than any possible difference in total value, so one more
    allowed pair always beats any gain in value; forbidden cells get the negated constant and are dropped
    if the (rectangular) assignment had to use them.
    """
    if values.size == 0 or not ok.any():
        return []
    k = min(values.shape)
    top = float(np.abs(values[ok]).max())
    big = 2.0 * k * top + 1.0
    matrix = np.where(ok, values + big, -big)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if ok[i, j]]


@dataclass
class _Draft:
    """A group being built: indices into the sorted newcomers / residents, the original pair first."""

    newcomers: list[int]
    residents: list[int]
    locked: bool = False

    @property
    def size(self) -> int:
        return len(self.newcomers) + len(self.residents)


@dataclass(frozen=True)
class _Problem:
    newcomers: tuple[Person, ...]  # sorted by registration_id
    residents: tuple[Person, ...]
    scores: FloatMatrix
    ok: BoolMatrix  # newcomer (row) may sit with resident (column)
    ok_newcomers: BoolMatrix  # newcomer may sit with newcomer (in a trio)
    ok_residents: BoolMatrix  # resident may sit with resident (in a trio)
    weights: PairingWeights
    history: History


def _problem(
    newcomers: Iterable[Person], residents: Iterable[Person], weights: PairingWeights, history: History
) -> _Problem:
    ns = tuple(sorted(newcomers, key=lambda p: p.registration_id))
    rs = tuple(sorted(residents, key=lambda p: p.registration_id))
    for expected, side in (("newcomer", ns), ("resident", rs)):
        wrong = [p for p in side if p.group != expected]
        if wrong:
            raise ValueError(f"{wrong[0].registration_id} is a {wrong[0].group}, given among the {expected}s")
    ids = [p.registration_id for p in (*ns, *rs)]
    if len(set(ids)) != len(ids):
        raise ValueError("the same registration is given more than once")
    n, r = _features(ns, rs)
    return _Problem(
        ns,
        rs,
        _score_matrix(n, r, weights),
        _allowed_matrix(ns, rs, n, r, history),
        _allowed_matrix(ns, ns, n, n, history),
        _allowed_matrix(rs, rs, r, r, history),
        weights,
        history,
    )


def _fits_group(problem: _Problem, newcomers: Sequence[int], residents: Sequence[int]) -> bool:
    """Every two members of the group may sit together (the hard rules, across and within the groups)."""
    ns = np.array(newcomers, dtype=np.int64)
    rs = np.array(residents, dtype=np.int64)
    off_n = ~np.eye(len(ns), dtype=np.bool_)
    off_r = ~np.eye(len(rs), dtype=np.bool_)
    return bool(
        problem.ok[np.ix_(ns, rs)].all()
        and (problem.ok_newcomers[np.ix_(ns, ns)] | ~off_n).all()
        and (problem.ok_residents[np.ix_(rs, rs)] | ~off_r).all()
    )


def _may_join(problem: _Problem, draft: _Draft, group: GroupName, index: int) -> bool:
    """The person may sit with every member already in the group (a locked core may break a rule: not they)."""
    if group == "newcomer":
        return bool(problem.ok[index, draft.residents].all() and problem.ok_newcomers[index, draft.newcomers].all())
    return bool(problem.ok[draft.newcomers, index].all() and problem.ok_residents[index, draft.residents].all())


def _place_extras(
    problem: _Problem, drafts: list[_Draft], extras: list[tuple[GroupName, int]], max_size: int | None = None
) -> list[tuple[GroupName, int]]:
    """Extras join the pair where they fit best, one per pair while possible; returns those who fit nowhere.

    With ``max_size`` no group grows beyond that many members (a re-match: never more than three).

    Each round is an exact assignment of the remaining extras to the smallest groups that can take any of
    them (most placed, then best total score with the partner); an extra must be allowed with every member
    already in the group, of either group: a man does not join the pair of a woman who asked for a partner
    of her own gender, whichever group either of them is in.
    """
    ok, scores = problem.ok, problem.scores
    remaining = list(extras)
    if max_size is not None:
        drafts = [d for d in drafts if d.size < max_size]
    while remaining and drafts:
        fits = np.zeros((len(remaining), len(drafts)), dtype=np.bool_)
        values = np.zeros((len(remaining), len(drafts)), dtype=np.float64)
        rows_n = [k for k, (g, _) in enumerate(remaining) if g == "newcomer"]
        rows_r = [k for k, (g, _) in enumerate(remaining) if g == "resident"]
        if rows_n:
            idx = np.array([remaining[k][1] for k in rows_n], dtype=np.int64)
            partner = np.array([d.residents[0] for d in drafts], dtype=np.int64)
            block = ok[np.ix_(idx, partner)]
            for g, d in enumerate(drafts):
                for other in d.residents[1:]:
                    block[:, g] &= ok[idx, other]
                for other in d.newcomers:
                    block[:, g] &= problem.ok_newcomers[idx, other]
            fits[rows_n] = block
            values[rows_n] = scores[np.ix_(idx, partner)]
        if rows_r:
            idx = np.array([remaining[k][1] for k in rows_r], dtype=np.int64)
            partner = np.array([d.newcomers[0] for d in drafts], dtype=np.int64)
            block = ok[np.ix_(partner, idx)].T
            for g, d in enumerate(drafts):
                for other in d.newcomers[1:]:
                    block[:, g] &= ok[other, idx]
                for other in d.residents:
                    block[:, g] &= problem.ok_residents[idx, other]
            fits[rows_r] = block
            values[rows_r] = scores[np.ix_(partner, idx)].T
        open_groups = fits.any(axis=0)
        if not open_groups.any():
            break
        sizes = np.array([d.size for d in drafts])
        cols = np.flatnonzero(open_groups & (sizes == sizes[open_groups].min()))
        placed: set[int] = set()
        for k, c in best_assignment(values[:, cols], fits[:, cols]):
            group, index = remaining[k]
            draft = drafts[int(cols[c])]
            (draft.newcomers if group == "newcomer" else draft.residents).append(index)
            placed.add(k)
        remaining = [x for k, x in enumerate(remaining) if k not in placed]
        if max_size is not None:
            drafts = [d for d in drafts if d.size < max_size]
    return remaining


_UNPAIRED_ENGLISH: dict[str, str] = {
    "no_one_in_other_group": NO_ONE_IN_OTHER_GROUP,
    "paired_before_with_everyone": PAIRED_BEFORE_WITH_EVERYONE,
    "same_gender_no_fit": SAME_GENDER_NO_FIT,
    "same_gender_no_gender": SAME_GENDER_NO_GENDER,
    "others_want_same_gender": OTHERS_WANT_SAME_GENDER,
    "groups_do_not_fit": GROUPS_DO_NOT_FIT,
    "groups_full": GROUPS_FULL,
}


def unpaired_in_english(why: UnpairedWhy) -> str:
    """The reason someone is unpaired as the plain-English sentence of ``Unpaired.reason``."""
    if why.kind != "no_fit":
        return _UNPAIRED_ENGLISH[why.kind]
    parts = []
    if why.not_same_gender:
        parts.append(f"{why.not_same_gender} not of the same gender, which they asked for")
    if why.want_own_gender:
        parts.append(f"{why.want_own_gender} want a partner of their own gender")
    if why.paired_before:
        parts.append(f"{why.paired_before} paired with them before")
    return "no one in the other group fits: " + "; ".join(parts)


def _unpaired_why(problem: _Problem, group: GroupName, index: int, drafts: Sequence[_Draft] = ()) -> UnpairedWhy:
    if group == "newcomer":
        person, others, fits = problem.newcomers[index], problem.residents, problem.ok[index, :]
    else:
        person, others, fits = problem.residents[index], problem.newcomers, problem.ok[:, index]
    if not others:
        return UnpairedWhy("no_one_in_other_group")
    if fits.any():
        if any(_may_join(problem, d, group, index) for d in drafts):  # a re-match: the groups are full
            return UnpairedWhy("groups_full")
        return UnpairedWhy("groups_do_not_fit")
    own = theirs = before = 0
    for other in others:
        if _gender_reason(person, other):
            own += 1
        elif _gender_reason(other, person):
            theirs += 1
        else:
            before += 1
    if own == len(others):
        return UnpairedWhy("same_gender_no_gender" if person.gender is None else "same_gender_no_fit")
    if theirs == len(others):
        return UnpairedWhy("others_want_same_gender")
    if before == len(others):
        return UnpairedWhy("paired_before_with_everyone")
    return UnpairedWhy("no_fit", not_same_gender=own, want_own_gender=theirs, paired_before=before)


def _group(problem: _Problem, draft: _Draft) -> Group:
    n0, r0 = draft.newcomers[0], draft.residents[0]
    ns, rs, s = problem.newcomers, problem.residents, problem.scores
    pair_score = float(s[n0, r0])
    whys = why(ns[n0], rs[r0], problem.weights)
    total = pair_score
    # Each extra with their partner: the other group's member of the original pair.
    joined = [(ns[i], rs[r0], ns[i]) for i in draft.newcomers[1:]] + [
        (ns[n0], rs[j], rs[j]) for j in draft.residents[1:]
    ]
    joined.sort(key=lambda item: item[2].registration_id)
    for k, (newcomer, resident, _extra) in enumerate(joined):
        value, _ = score(newcomer, resident, problem.weights)
        total += value
        who = "extra" if len(joined) == 1 else f"extra_{k + 1}"
        whys.extend(replace(w, member=who) for w in why(newcomer, resident, problem.weights))
    members = sorted((ns[i] for i in draft.newcomers), key=lambda p: p.registration_id) + sorted(
        (rs[j] for j in draft.residents), key=lambda p: p.registration_id
    )
    return Group(
        members=tuple(members),
        score=total,
        reasons=tuple(in_english(w) for w in whys),
        locked=draft.locked,
        pair_score=pair_score,
        extras=tuple(extra.registration_id for _, _, extra in joined),
        why=tuple(whys),
    )


def _solve(problem: _Problem, fixed: list[_Draft]) -> Proposal:
    """Pair everyone not in a fixed group optimally, then let the leftovers join groups as extras."""
    taken_n = {i for d in fixed for i in d.newcomers}
    taken_r = {j for d in fixed for j in d.residents}
    free_n = [i for i in range(len(problem.newcomers)) if i not in taken_n]
    free_r = [j for j in range(len(problem.residents)) if j not in taken_r]
    block = np.ix_(np.array(free_n, dtype=np.int64), np.array(free_r, dtype=np.int64))
    drafts = list(fixed)
    for a, b in best_assignment(problem.scores[block], problem.ok[block]):
        drafts.append(_Draft([free_n[a]], [free_r[b]]))
    drafts.sort(key=lambda d: (d.newcomers[0], d.residents[0]))
    paired_n = {d.newcomers[0] for d in drafts}
    paired_r = {d.residents[0] for d in drafts}
    extras: list[tuple[GroupName, int]] = [("newcomer", i) for i in free_n if i not in paired_n]
    extras += [("resident", j) for j in free_r if j not in paired_r]
    return _proposal(problem, drafts, _place_extras(problem, drafts, extras))


def _proposal(problem: _Problem, drafts: Sequence[_Draft], left: Sequence[tuple[GroupName, int]]) -> Proposal:
    groups = sorted((_group(problem, d) for d in drafts), key=lambda g: [m.registration_id for m in g.members])
    whys = tuple(_unpaired_why(problem, g, i, drafts) for g, i in left)
    unpaired = tuple(
        (problem.newcomers[i] if g == "newcomer" else problem.residents[i], unpaired_in_english(w))
        for (g, i), w in zip(left, whys, strict=True)
    )
    return Proposal(groups=tuple(groups), unpaired=unpaired, unpaired_why=whys)


def _locked_drafts(problem: _Problem, locked: LockedPairs) -> list[_Draft]:
    n_index = {p.registration_id: i for i, p in enumerate(problem.newcomers)}
    r_index = {p.registration_id: j for j, p in enumerate(problem.residents)}
    drafts: list[_Draft] = []
    seen: set[uuid.UUID] = set()
    for newcomer_id, resident_id in dict.fromkeys(locked):  # the same lock twice is one lock
        if newcomer_id not in n_index or resident_id not in r_index:
            raise ValueError(f"locked pair {newcomer_id} + {resident_id}: not a confirmed newcomer + resident")
        if newcomer_id in seen or resident_id in seen:
            raise ValueError(f"locked pair {newcomer_id} + {resident_id}: someone is locked twice")
        seen |= {newcomer_id, resident_id}
        drafts.append(_Draft([n_index[newcomer_id]], [r_index[resident_id]], locked=True))
    return drafts


def propose(
    newcomers: Iterable[Person],
    residents: Iterable[Person],
    weights: PairingWeights,
    history: History = frozenset(),
    locked: LockedPairs = (),
) -> Proposal:
    """The optimal pairs: most allowed pairs, then highest total score; extras join as trios.

    ``locked`` pairs (newcomer registration id, resident registration id) are kept as given, even when a
    hard constraint would forbid them: the organiser decided. Raises ValueError for a locked id that is
    not among the given people, someone locked twice, or a person given in the wrong group or twice.
    The result does not depend on the order of the inputs.
    """
    problem = _problem(newcomers, residents, weights, history)
    return _solve(problem, _locked_drafts(problem, locked))


def _earlier_groups(problem: _Problem, previous: Sequence[Sequence[uuid.UUID]]) -> dict[tuple[GroupName, int], int]:
    """Which earlier group each person confirmed now sat in.

    ``previous`` is the earlier proposal's groups, each a sequence of registration ids; ids of people no
    longer confirmed are skipped, and an id repeated within one group counts once. Returns a map from
    (group name, index into ``problem.newcomers`` / ``problem.residents``) to the position of their group in
    ``previous`` (0-based); people who sat in no earlier group are absent.

    Raises ValueError when a person confirmed now appears in more than one earlier group.
    """
    n_index = {p.registration_id: i for i, p in enumerate(problem.newcomers)}
    r_index = {p.registration_id: j for j, p in enumerate(problem.residents)}
    earlier_of: dict[tuple[GroupName, int], int] = {}
    seen: set[uuid.UUID] = set()
    for k, earlier in enumerate(previous):
        here = list(dict.fromkeys(rid for rid in earlier if rid in n_index or rid in r_index))
        if seen.intersection(here):
            raise ValueError("a registration appears in more than one previous group")
        seen.update(here)
        for rid in here:
            earlier_of[("newcomer", n_index[rid]) if rid in n_index else ("resident", r_index[rid])] = k
    return earlier_of


def _locks_still_here(problem: _Problem, locked: LockedPairs) -> list[_Draft]:
    """The locked pairs whose newcomer and resident are both confirmed now, as locked drafts.

    ``locked`` is (newcomer registration id, resident registration id) pairs; a lock on someone no longer
    confirmed is dropped and the same lock given twice is one lock. Raises ValueError when someone still
    confirmed is locked with two people still confirmed (see ``_locked_drafts``).
    """
    n_ids = {p.registration_id for p in problem.newcomers}
    r_ids = {p.registration_id for p in problem.residents}
    present = list(dict.fromkeys((a, b) for a, b in locked if a in n_ids and b in r_ids))
    return _locked_drafts(problem, present)


def _pair_keeping_earlier_pairs(
    problem: _Problem, fixed: list[_Draft], earlier_of: Mapping[tuple[GroupName, int], int]
) -> tuple[list[_Draft], list[tuple[GroupName, int]]]:
    """The re-match's first case: everyone not in a ``fixed`` (locked) group is paired in one exact assignment.

    The assignment (``best_assignment`` over the free newcomers x free residents block of the score matrix)
    maximises, in this order: the number of allowed pairs; the number of pairs whose two people sat in one
    earlier group (``earlier_of``, see ``_earlier_groups``): each such pair gets a bonus larger than any
    difference in total score, so a whole pair is kept and a trio whose extra is needed elsewhere keeps its
    pair; then the total score (unitless, the sum of ``score`` values). So someone left alone pairs with a
    trio's extra when no one else is free for them. Source: the ``rematch`` docstring (DESIGN.md section 3
    only says matching "re-matches after late changes"; the method text says nothing of re-matching).

    Returns the drafts (``fixed`` and the new pairs, sorted by their pair's indices; a new list) and
    the people left over, newcomers first then residents, each in index order, as (group name, index).
    Raises nothing.
    """
    locked_n = {i for d in fixed for i in d.newcomers}
    locked_r = {j for d in fixed for j in d.residents}
    free_n = [i for i in range(len(problem.newcomers)) if i not in locked_n]
    free_r = [j for j in range(len(problem.residents)) if j not in locked_r]
    block = np.ix_(np.array(free_n, dtype=np.int64), np.array(free_r, dtype=np.int64))
    scores = problem.scores[block]
    earlier_n = np.array([earlier_of.get(("newcomer", i), -1) for i in free_n], dtype=np.int64)
    earlier_r = np.array([earlier_of.get(("resident", j), -2) for j in free_r], dtype=np.int64)
    together = earlier_n[:, None] == earlier_r[None, :]
    # One more earlier pair kept outweighs any difference in total score (as in best_assignment).
    keep = 2.0 * min(scores.shape) * float(np.abs(scores).max()) + 1.0 if scores.size else 0.0
    drafts = list(fixed)
    for a, b in best_assignment(scores + keep * together, problem.ok[block]):
        drafts.append(_Draft([free_n[a]], [free_r[b]]))
    drafts.sort(key=lambda d: (d.newcomers[0], d.residents[0]))
    paired_n = {i for d in drafts for i in d.newcomers}
    paired_r = {j for d in drafts for j in d.residents}
    leftovers: list[tuple[GroupName, int]] = [("newcomer", i) for i in free_n if i not in paired_n]
    leftovers += [("resident", j) for j in free_r if j not in paired_r]
    return drafts, leftovers


def _earlier_group_to_rejoin(
    problem: _Problem,
    drafts: Sequence[_Draft],
    earlier_of: Mapping[tuple[GroupName, int], int],
    group: GroupName,
    index: int,
) -> _Draft | None:
    """The first draft a leftover may rejoin: smaller than a trio, every member from the leftover's earlier
    group (``earlier_of``), and the leftover may sit with each of them (``_may_join``: the hard rules,
    issue 17 kind 2). None when they sat in no earlier group or no such draft exists. Raises nothing."""
    home_group = earlier_of.get((group, index))
    if home_group is None:
        return None
    return next(
        (
            d
            for d in drafts
            if d.size < MAX_REMATCH_GROUP
            and all(earlier_of.get(("newcomer", i)) == home_group for i in d.newcomers)
            and all(earlier_of.get(("resident", j)) == home_group for j in d.residents)
            and _may_join(problem, d, group, index)
        ),
        None,
    )


def _place_leftovers(
    problem: _Problem,
    drafts: list[_Draft],
    leftovers: Sequence[tuple[GroupName, int]],
    earlier_of: Mapping[tuple[GroupName, int], int],
) -> list[tuple[GroupName, int]]:
    """The re-match's second case: whoever the exact assignment left over joins a pair as a third member.

    Each leftover (group name, index), in the given order, first goes back to their earlier group where it
    is now a pair and the hard rules allow (``_earlier_group_to_rejoin``); the rest join the pair where
    they fit best (``_place_extras`` with at most ``MAX_REMATCH_GROUP`` = 3 members: a re-match never makes
    a group of four). The drafts they join gain them in place. Returns those who fit in no group that has
    room, in the given order. Raises nothing.

    Source: the method seats people in pairs ("sitter parvis ved et langbord", folk-moter-folk.txt) and
    DESIGN.md makes a pair a trio when the groups are uneven; that a re-match stops at three is this
    module's rule (``rematch``), not the method's.
    """
    rest: list[tuple[GroupName, int]] = []
    for group, index in leftovers:
        home = _earlier_group_to_rejoin(problem, drafts, earlier_of, group, index)
        if home is None:
            rest.append((group, index))
        else:
            (home.newcomers if group == "newcomer" else home.residents).append(index)
    return _place_extras(problem, drafts, rest, MAX_REMATCH_GROUP)


def rematch(
    previous: Sequence[Sequence[uuid.UUID]],
    newcomers: Iterable[Person],
    residents: Iterable[Person],
    weights: PairingWeights,
    history: History = frozenset(),
    locked: LockedPairs = (),
) -> Proposal:
    """Re-pair after changes with the least change, never in a group larger than three.

    ``previous`` is the earlier proposal's groups as registration ids; ``newcomers``/``residents`` are the
    people confirmed now. Locked pairs always stay (a lock on someone no longer confirmed is dropped).
    Everyone else is paired in one exact assignment: first the largest number of allowed pairs, then the
    most pairs whose two people sat in one earlier group (a pair still whole is kept, and a trio whose
    extra is needed elsewhere keeps its pair), then the highest total score. So someone left alone pairs
    with a trio's extra when no one else is free for them, and the trio becomes the pair it was.
    Whoever is left over goes back to their earlier group where it is now a pair and the hard rules
    allow, else joins a pair as a third member where they fit best; a group never gets a fourth, so
    someone who fits only in full groups is left unpaired with that reason.

    The two cases are ``_pair_keeping_earlier_pairs`` (the exact assignment) and ``_place_leftovers`` (whoever
    is left over). Raises ValueError for a person given in the wrong group or twice, someone present locked
    with two people present, or someone present in more than one earlier group.
    """
    problem = _problem(newcomers, residents, weights, history)
    fixed = _locks_still_here(problem, locked)
    earlier_of = _earlier_groups(problem, previous)
    drafts, leftovers = _pair_keeping_earlier_pairs(problem, fixed, earlier_of)
    unpaired = _place_leftovers(problem, drafts, leftovers, earlier_of)
    return _proposal(problem, drafts, unpaired)


# ------------------------------------------------------------------------------------------ seating


def _top_interest(group: Group) -> str | None:
    """The group's main shared interest: the first (by id) interest a newcomer shares with a resident."""
    newcomer_side: set[str] = set()
    resident_side: set[str] = set()
    for m in group.members:
        (newcomer_side if m.group == "newcomer" else resident_side).update(m.interests)
    shared = newcomer_side & resident_side
    return min(shared) if shared else None


def _spread(groups: Sequence[Group]) -> list[Group]:
    """Order the groups so neighbours differ in their main shared interest wherever that can be avoided.

    Greedy, deterministic: next comes a group whose main interest differs from the previous one's, taken
    from the interest with the most groups left (ties: the earliest group); this avoids equal neighbours
    whenever any order can. Groups without a shared interest never clash.
    """
    buckets: dict[str | None, deque[int]] = {}
    for k, g in enumerate(groups):
        buckets.setdefault(_top_interest(g), deque()).append(k)
    heap: list[tuple[int, int, str | None]] = [
        (-(1 if key is None else len(q)), q[0], key) for key, q in buckets.items()
    ]
    heapq.heapify(heap)
    order: list[Group] = []
    previous: str | None = None
    while heap:
        held = None
        entry = heapq.heappop(heap)
        if entry[2] is not None and entry[2] == previous and heap:
            held, entry = entry, heapq.heappop(heap)
        key = entry[2]
        queue = buckets[key]
        order.append(groups[queue.popleft()])
        if queue:
            heapq.heappush(heap, (-(1 if key is None else len(queue)), queue[0], key))
        if held is not None:
            heapq.heappush(heap, held)
        previous = key
    return order


EarlierSeating = Sequence[Sequence[tuple[uuid.UUID, int]]]  # earlier groups as (registration id, seat)
_PACKING_STEPS = 2_000  # a bound on the search that fills the gaps; beyond it the table closes up in order


def _core_first(group: Group) -> list[Person]:
    """The original pair (resident, newcomer) first, then the extras in member order."""
    joined = set(group.extras)
    core = [m for m in group.members if m.registration_id not in joined]
    resident = next((m for m in core if m.group == "resident"), core[0])
    newcomer = next((m for m in core if m is not resident), None)
    first = [resident] + ([newcomer] if newcomer is not None else [])
    return first + [m for m in group.members if m not in first]


def _place_in(group: Group, start: int, old: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    """Seats ``start .. start+size-1`` for the group's members.

    Members whose earlier seat lies in the range keep it. Otherwise the original pair takes the first odd
    seat with its neighbour in the range (resident on the odd seat, left; newcomer on the even, right: face
    to face) and extras take the seats around them, next to their group.
    """
    seats = list(range(start, start + len(group.members)))
    out: dict[uuid.UUID, int] = {}
    for m in group.members:
        if old.get(m.registration_id) in seats and old[m.registration_id] not in out.values():
            out[m.registration_id] = old[m.registration_id]
    free = [s for s in seats if s not in out.values()]
    waiting = [m for m in _core_first(group) if m.registration_id not in out]
    if not out and len(waiting) >= 2:
        core_at = next((k for k, s in enumerate(free[:-1]) if s % 2 == 1 and free[k + 1] == s + 1), None)
        if core_at is None and len(free) == 2:  # a pair starting on an even seat: resident on the odd one
            free = [free[1], free[0]]
        elif core_at is not None:
            free = free[core_at : core_at + 2] + free[:core_at] + free[core_at + 2 :]
    for m, s in zip(waiting, free, strict=True):
        out[m.registration_id] = s
    return out


def _anchor(group: Group, old: Mapping[uuid.UUID, int]) -> tuple[int, uuid.UUID]:
    seats = [old[m.registration_id] for m in group.members if m.registration_id in old]
    return (min(seats) if seats else 1 << 62, min(m.registration_id for m in group.members))


def _closed_up(groups: Sequence[Group], old: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    """The table closes its gaps: every group keeps its place in the order, new groups at the end."""
    out: dict[uuid.UUID, int] = {}
    start = 1
    for g in sorted(groups, key=lambda g: _anchor(g, old)):
        out.update(_place_in(g, start, old))
        start += len(g.members)
    return out


def _pack(
    kept: Sequence[Group], moving: Sequence[Group], size: int, old: Mapping[uuid.UUID, int], taken: AbstractSet[int]
) -> dict[uuid.UUID, int] | None:
    """Kept groups on their earlier seats (``taken``), the moving groups filling the gaps exactly; None if
    they cannot."""
    holes: list[list[int]] = []  # [first seat, length]
    for s in range(1, size + 1):
        if s in taken:
            continue
        if holes and holes[-1][0] + holes[-1][1] == s:
            holes[-1][1] += 1
        else:
            holes.append([s, 1])
    order = sorted(moving, key=lambda g: (-len(g.members), _anchor(g, old)))
    anchors = [_anchor(g, old)[0] for g in order]
    room = [length for _, length in holes]
    chosen: list[int] = [0] * len(order)
    steps = 0

    def fill(k: int) -> bool:
        nonlocal steps
        if k == len(order):
            return True
        tried: set[int] = set()
        for h in sorted(range(len(room)), key=lambda h: abs(holes[h][0] - anchors[k])):
            steps += 1
            need = len(order[k].members)
            if room[h] < need or room[h] in tried or steps > _PACKING_STEPS:
                continue
            if room[h] - need == 1:  # a single seat can never be filled by a group
                continue
            tried.add(room[h])
            room[h] -= need
            chosen[k] = h
            if fill(k + 1):
                return True
            room[h] += need
        return False

    if sum(room) != sum(len(g.members) for g in moving) or 1 in room or not fill(0):
        return None
    out = {m.registration_id: old[m.registration_id] for g in kept for m in g.members}
    for h, (first, _) in enumerate(holes):
        start = first
        for g in sorted((order[k] for k in range(len(order)) if chosen[k] == h), key=lambda g: _anchor(g, old)):
            out.update(_place_in(g, start, old))
            start += len(g.members)
    # The fill above only shows the gaps can hold the moving groups; which group goes into which gap, and
    # in which order, decides how many people move. Search the fills for the fewest moved (bounded).
    fewest = _fewest_moved_fill(order, holes, old)
    if fewest is not None and _moved(fewest, old) < _moved(out, old):
        out = {m.registration_id: old[m.registration_id] for g in kept for m in g.members} | fewest
    return out


def _moved(layout: Mapping[uuid.UUID, int], old: Mapping[uuid.UUID, int]) -> int:
    return sum(1 for rid, s in layout.items() if old.get(rid) != s)


def _fewest_moved_fill(
    groups: Sequence[Group], holes: Sequence[Sequence[int]], old: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, int] | None:
    """Seats for ``groups`` filling the gaps ``holes`` ([first seat, length]) exactly, each group in one gap,
    that move the fewest people; None if none was found within ``_PACKING_STEPS``."""
    ends = [first + length for first, length in holes]
    used = [False] * len(groups)
    best: list[tuple[int, dict[uuid.UUID, int]]] = []
    steps = 0

    def fill(h: int, at: int, cost: int, placed: dict[uuid.UUID, int]) -> None:
        nonlocal steps
        while h < len(holes) and at == ends[h]:
            h += 1
            at = holes[h][0] if h < len(holes) else at
        if h == len(holes):
            if not best or cost < best[0][0]:
                best[:] = [(cost, dict(placed))]
            return
        for k, g in enumerate(groups):
            steps += 1
            if steps > _PACKING_STEPS:
                return
            left = ends[h] - at - len(g.members)
            if used[k] or left < 0 or left == 1:
                continue
            here = _place_in(g, at, old)
            more = _moved(here, old)
            if best and cost + more >= best[0][0]:
                continue
            used[k] = True
            fill(h, at + len(g.members), cost + more, placed | here)
            used[k] = False

    fill(0, holes[0][0] if holes else 1, 0, {})
    return best[0][1] if best else None


def _least_moves(groups: Sequence[Group], earlier: EarlierSeating) -> dict[uuid.UUID, int]:
    """Seats after a change that move the fewest people; see ``seat``."""
    old = {rid: s for group in earlier for rid, s in group}
    before = {frozenset(rid for rid, _ in group) for group in earlier}
    size = sum(len(g.members) for g in groups)

    def unchanged(g: Group) -> bool:
        ids = frozenset(m.registration_id for m in g.members)
        return ids in before and all(old[rid] <= size for rid in ids)

    def moved(layout: Mapping[uuid.UUID, int]) -> int:
        return sum(1 for rid, s in layout.items() if old.get(rid) != s)

    kept = sorted((g for g in groups if unchanged(g)), key=lambda g: _anchor(g, old))
    moving = [g for g in groups if not unchanged(g)]
    taken = {old[m.registration_id] for g in kept for m in g.members}
    layout = _pack(kept, moving, size, old, taken)
    while layout is None and kept:
        # Free the kept group beside a gap whose move lets the rest fit with the fewest people moved (it
        # widens the gap); else the last one on the table.
        best: tuple[int, int, dict[uuid.UUID, int]] | None = None
        for k in range(len(kept) - 1, -1, -1):
            span = {old[m.registration_id] for m in kept[k].members}
            beside = {min(span) - 1, max(span) + 1} - {0, size + 1}
            if beside <= taken and k != len(kept) - 1:
                continue
            trial = _pack(kept[:k] + kept[k + 1 :], [*moving, kept[k]], size, old, taken - span)
            if trial is not None and (best is None or moved(trial) < best[0]):
                best = (moved(trial), k, trial)
        k = best[1] if best is not None else len(kept) - 1
        taken -= {old[m.registration_id] for m in kept[k].members}
        moving.append(kept.pop(k))
        layout = best[2] if best is not None else None
    closed = _closed_up(groups, old)
    if layout is None or moved(closed) < moved(layout):
        return closed
    return layout


def seat(groups: Sequence[Group], earlier: EarlierSeating = ()) -> list[Seat]:
    """Seats 1..n along one long table, without gaps; the host at the head is not a seat.

    Row r has seat 2r-1 on the left and 2r on the right. Every group sits in consecutive seats; a pair's
    resident sits on the left and its newcomer on the right, face to face, and an extra next to them.

    A first plan (no ``earlier`` seating) orders the pairs so neighbours differ in their main interest and
    puts the groups of odd size (trios) at the end of the table, so every pair faces each other.

    A re-match (``earlier``: the earlier plan's groups with their seats) moves as few people as it can
    (issue 17, kind 3): every group that is unchanged keeps its seats, and the changed groups fill the
    gaps that cancellations left (the people affected move into the gap). When the gaps cannot hold them
    exactly, as few unchanged groups as possible move too, the ones whose move frees the most fitting gap;
    and when closing the gap (every group after it moves up in the same order) moves fewer people, the
    table closes the gap instead. People whose group changed keep their seat where it lies in their
    group's new seats.
    """
    if earlier:
        where = _least_moves(groups, earlier)
    else:
        pairs = _spread([g for g in groups if len(g.members) % 2 == 0])
        odd = _spread([g for g in groups if len(g.members) % 2 == 1])
        where = {}
        start = 1
        for g in [*pairs, *odd]:
            where.update(_place_in(g, start, {}))
            start += len(g.members)
    first_seat = sorted(((min(where[m.registration_id] for m in g.members), g) for g in groups), key=lambda x: x[0])
    seats: list[Seat] = []
    for number, (_, group) in enumerate(first_seat, start=1):
        for m in group.members:
            s = where[m.registration_id]
            seats.append(Seat(m.registration_id, m.participant_id, m.group, number, s, "left" if s % 2 else "right"))
    seats.sort(key=lambda s: s.seat)
    return seats
