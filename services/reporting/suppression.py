"""Small-cell suppression for published tables. Pure: no I/O.

The rule, in the order it is applied:

1. **Primary suppression.** A count of 1 to 4 people is never shown: it is published as ``"<5"``.
   A count of 0 identifies nobody and is shown as 0; 5 and more are shown as they are.

2. **Totals stay true.** Every shown number is the real count, totals included: nothing is
   rounded, left out of a sum or moved between cells, so whatever a reader adds up is right.

3. **Secondary suppression.** Because totals stay true, a hidden cell could be worked out from the
   cells around it (a tenant's total minus its residents gives its newcomers). The table declares
   its additive relations (``total = part + part + ...``); the rule hides further cells, shown as
   ``":"``, until no count of 1 to 4 people — shown or implied — can be computed exactly from the
   published numbers by any sequence of additions and subtractions along those relations. Implied
   counts are cells that are not published but follow from the relations (people who gave
   feedback but made no new connection, say); they are protected like published ones.

   Each relation is checked first on its own: one unknown alone in a relation is known, and so is a
   ``"<5"`` cell whose range the relation pins to one value (two ``"<5"`` cells adding up to 8 are
   both 4). Then the whole table is checked as one linear system: a cell is exposed exactly when
   every solution of the system agrees on it. For each exposed cell the rule hides the smallest
   positive shown cell of a relation it belongs to, and checks again. Cells hidden this way hold
   5 or more, so they never claim a ``"<5"`` they do not have.

What it does not promise: bounds narrower than ``1..4`` found by combining several relations with
the knowledge that counts are not negative (linear-programming attacks on whole tables).

The linear check uses the shape of a report table: cells belong to rows (a tenant, a month, the
nation), most relations stay inside one row and only a few (a column's total over tenants or over
months) cross rows. So each row's null space is computed on its own, and only the few crossing
relations are solved together.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from scipy.linalg import null_space

THRESHOLD: Final = 5
SMALL: Final = "<5"  # a count of 1 to 4 people
HIDDEN: Final = ":"  # a larger count, hidden so that a small one cannot be computed from it
_TOLERANCE: Final = 1e-9

Key = Any  # any hashable cell name; Any because Mapping keys are invariant


@dataclass(frozen=True)
class Relation:
    """``total = sum(parts)``, true of the real counts."""

    total: Key
    parts: tuple[Key, ...]

    @property
    def cells(self) -> tuple[Key, ...]:
        return (self.total, *self.parts)

    def coefficient(self, key: Key) -> int:
        return -1 if key == self.total else 1


def is_small(value: int) -> bool:
    return 0 < value < THRESHOLD


@dataclass(frozen=True)
class Suppressed:
    values: Mapping[Key, int]
    published: frozenset[Key]
    primary: frozenset[Key]
    secondary: frozenset[Key]

    def shown(self, key: Key) -> int | str:
        if key in self.primary:
            return SMALL
        if key in self.secondary:
            return HIDDEN
        return self.values[key]

    @property
    def hidden(self) -> frozenset[Key]:
        return self.primary | self.secondary


@dataclass
class _State:
    values: Mapping[Key, int]
    published: frozenset[Key]
    relations: list[Relation]
    block_of: Callable[[Key], Hashable]
    secondary: set[Key] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.primary = frozenset(k for k in self.published if is_small(self.values[k]))
        self.sensitive = frozenset(k for k, v in self.values.items() if is_small(v))
        self.relations_of: dict[Key, list[int]] = defaultdict(list)
        for i, relation in enumerate(self.relations):
            for key in relation.cells:
                self.relations_of[key].append(i)
        self.null_spaces: dict[Hashable, tuple[tuple[Key, ...], np.ndarray]] = {}
        self.exposed_in_row: set[Key] = set()
        self.unknowns = {k for r in self.relations for k in r.cells if k not in self.published} | self.primary
        self.blocks = [tuple(self.block_of(k) for k in r.cells) for r in self.relations]
        self.relations_in: dict[Hashable, set[int]] = defaultdict(set)
        for i, blocks in enumerate(self.blocks):
            for block in blocks:
                self.relations_in[block].add(i)
        # Each relation's shown positive cells, smallest first: where a cover is looked for.
        self.candidates = [
            sorted((k for k in r.cells if k in self.published and self.values[k] >= THRESHOLD), key=self._order)
            for r in self.relations
        ]

    def _order(self, key: Key) -> tuple[int, str]:
        return self.values[key], repr(key)

    def hide(self, key: Key) -> None:
        self.secondary.add(key)
        self.unknowns.add(key)

    def unknown(self, key: Key) -> bool:
        return key in self.unknowns

    def bounds(self, key: Key) -> tuple[float, float]:
        """What a reader knows of an unknown cell: ``<5`` is 1..4, ``:`` is 5 or more, implied is >= 0."""
        if key in self.primary:
            return 1, THRESHOLD - 1
        if key in self.secondary:
            return THRESHOLD, math.inf
        return 0, math.inf


def suppress(
    values: Mapping[Key, int],
    relations: Iterable[Relation],
    published: Iterable[Key] | None = None,
    block_of: Callable[[Key], Hashable] = lambda key: key[0],
) -> Suppressed:
    """Apply the rule to a table of true counts. ``published`` defaults to every cell in ``values``;
    other cells are implied. ``block_of`` names a cell's row (by default the first item of its key)."""
    state = _State(values, frozenset(values if published is None else published), list(relations), block_of)
    while True:
        exposed = _exposed_locally(state)
        state.exposed_in_row = set()
        if not exposed:
            exposed = _exposed_globally(state)
        if not exposed:
            break
        hidden_before = len(state.secondary)
        changed: set[int] = set()  # relations with a newly hidden cell: looked at again next round
        for key, relations_to_search in exposed:
            if changed.intersection(relations_to_search):
                continue
            if key in state.exposed_in_row:
                candidate = _cover_in_row(state, key, relations_to_search)
            else:
                candidate = _cover(state, key, relations_to_search)
            if candidate is not None:
                state.hide(candidate)
                changed.update(state.relations_of[candidate])
        if len(state.secondary) == hidden_before:
            break  # nothing left to hide: every shown cell around the exposed ones is 0
    return Suppressed(values, state.published, state.primary, frozenset(state.secondary))


def _exposed_locally(state: _State) -> list[tuple[Key, list[int]]]:
    """Hidden cells that single relations give away, followed from relation to relation.

    A relation with one unknown left tells that unknown. An implied cell learnt this way counts as
    known from then on; a hidden cell learnt this way is exposed (a ``":"`` cell too: it protects
    nothing once it is known). A ``"<5"`` cell is exposed as well when a relation pins its range.
    """
    learnt: set[Key] = set()
    exposed: list[tuple[Key, list[int]]] = []
    work = deque(range(len(state.relations)))
    queued = set(work)
    while work:
        index = work.popleft()
        queued.discard(index)
        relation = state.relations[index]
        unknowns = [k for k in relation.cells if k in state.unknowns and k not in learnt]
        if len(unknowns) == 1:
            key = unknowns[0]
            if key in state.sensitive or key in state.secondary:
                exposed.append((key, [index]))
            else:
                learnt.add(key)
                for other in state.relations_of[key]:
                    if other not in queued:
                        queued.add(other)
                        work.append(other)
            continue
        sensitive = [k for k in unknowns if k in state.sensitive]
        if not sensitive:
            continue
        known = sum(relation.coefficient(k) * state.values[k] for k in relation.cells if k not in unknowns)
        terms = {k: _term(state, relation, k) for k in unknowns}
        low = _Sum(t[0] for t in terms.values())
        high = _Sum(t[1] for t in terms.values())
        for key in sensitive:
            # coefficient * x = -known - (the other terms)
            rest_low, rest_high = low.without(terms[key][0]), high.without(terms[key][1])
            c = relation.coefficient(key)
            ends = sorted(((-known - rest_high) / c, (-known - rest_low) / c))
            lo, hi = state.bounds(key)
            if max(lo, ends[0]) == min(hi, ends[1]):
                exposed.append((key, [index]))
    return exposed


def _term(state: _State, relation: Relation, key: Key) -> tuple[float, float]:
    """The range of ``coefficient * value`` of an unknown cell."""
    lo, hi = state.bounds(key)
    return (lo, hi) if relation.coefficient(key) > 0 else (-hi, -lo)


class _Sum:
    """A sum of bounds that may be infinite, from which one term can be taken out again."""

    def __init__(self, terms: Iterable[float]) -> None:
        self.finite = 0.0
        self.infinite: dict[float, int] = defaultdict(int)
        for t in terms:
            if math.isinf(t):
                self.infinite[t] += 1
            else:
                self.finite += t

    def without(self, term: float) -> float:
        infinite = dict(self.infinite)
        if math.isinf(term):
            infinite[term] -= 1
        else:
            return self._value(self.finite - term, infinite)
        return self._value(self.finite, infinite)

    @staticmethod
    def _value(finite: float, infinite: dict[float, int]) -> float:
        signs = [t for t, n in infinite.items() if n > 0]
        return signs[0] if signs else finite


def _null_space(state: _State, block: Hashable, keys: tuple[Key, ...], relations: list[int]) -> np.ndarray:
    """A basis of the null space of one row's own relations over its unknown cells (cached)."""
    cached = state.null_spaces.get(block)
    if cached is not None and cached[0] == keys:
        return cached[1]
    index = {k: i for i, k in enumerate(keys)}
    matrix = np.zeros((len(relations), len(keys)))
    for row, r in enumerate(relations):
        relation = state.relations[r]
        for k in relation.cells:
            if k in index:
                matrix[row, index[k]] = relation.coefficient(k)
    basis = null_space(matrix) if len(relations) else np.eye(len(keys))
    state.null_spaces[block] = (keys, basis)
    return basis


def _exposed_globally(state: _State) -> list[tuple[Key, list[int]]]:
    """Sensitive cells on which every solution of the whole linear system agrees.

    With ``x`` the unknown cells, the relations say ``A x = b``. A cell is exposed when the unit
    vector of that cell lies in the row space of ``A``, i.e. when every vector of the null space is 0
    there. Relations whose unknowns sit in one row form that row's own system ``L_r``; with ``N_r``
    a basis of its null space, ``x_r = N_r z_r``, and the crossing relations ``G`` leave
    ``M z = 0`` with ``M = [G_r N_r]``. A cell's functional ``z -> (N_r z_r)_i`` vanishes on
    ``null(M)`` exactly when it lies in the row space of ``M``.
    """
    unknowns = state.unknowns
    if not unknowns & state.sensitive:
        return []
    rows: dict[Hashable, list[Key]] = defaultdict(list)
    for key in sorted(unknowns, key=repr):
        rows[state.block_of(key)].append(key)
    local: dict[Hashable, list[int]] = defaultdict(list)
    crossing: list[int] = []
    for i, relation in enumerate(state.relations):
        blocks = {b for k, b in zip(relation.cells, state.blocks[i], strict=True) if k in unknowns}
        if len(blocks) == 1:
            local[blocks.pop()].append(i)
        elif blocks:
            crossing.append(i)

    bases = {block: _null_space(state, block, tuple(keys), local[block]) for block, keys in rows.items()}
    positions = {k: (block, i) for block, keys in rows.items() for i, k in enumerate(keys)}
    offsets: dict[Hashable, int] = {}
    width = 0
    for block, basis in bases.items():
        offsets[block] = width
        width += basis.shape[1]
    row_space = np.zeros((width, 0))
    if crossing and width:
        g_times_n = np.zeros((len(crossing), width))
        for row, r in enumerate(crossing):
            relation = state.relations[r]
            for k in relation.cells:
                if state.unknown(k):
                    block, i = positions[k]
                    basis, start = bases[block], offsets[block]
                    g_times_n[row, start : start + basis.shape[1]] += relation.coefficient(k) * basis[i]
        row_space = _orthonormal_rows(g_times_n).T

    exposed: list[tuple[Key, list[int]]] = []
    in_row: set[Key] = set()
    for block, keys in rows.items():
        basis, start = bases[block], offsets[block]
        for i, key in enumerate(keys):
            if key not in state.sensitive:
                continue
            w = basis[i]
            norm = float(w @ w)
            if norm > _TOLERANCE:
                projected = row_space[start : start + basis.shape[1]].T @ w
                norm -= float(projected @ projected)
            if norm <= _TOLERANCE:
                exposed.append((key, state.relations_of[key]))
                if float(w @ w) <= _TOLERANCE:
                    in_row.add(key)
    state.exposed_in_row = in_row
    return exposed


def _orthonormal_rows(matrix: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the row space (Gram-Schmidt, twice per row: the matrices are short and
    wide, where plain vector products beat a full decomposition)."""
    basis = np.zeros((0, matrix.shape[1]))
    for row in matrix:
        size = float(np.linalg.norm(row))
        if size <= _TOLERANCE:
            continue
        v = row.copy()
        for _ in range(2):
            v -= basis.T @ (basis @ v)
        rest = float(np.linalg.norm(v))
        if rest > 1e-8 * size:
            basis = np.vstack([basis, v / rest])
    return basis


def _exposed_in_its_row(state: _State, key: Key) -> bool:
    block = state.block_of(key)
    keys = tuple(sorted((k for k in state.unknowns if state.block_of(k) == block), key=repr))
    local = [
        i
        for i in state.relations_in[block]
        if all(
            b == block for k, b in zip(state.relations[i].cells, state.blocks[i], strict=True) if k in state.unknowns
        )
    ]
    w = _null_space(state, ("try", block), keys, local)[keys.index(key)]
    return float(w @ w) <= _TOLERANCE


def _cover_in_row(state: _State, key: Key, relations: list[int], tries: int = 8) -> Key | None:
    """For a cell its own row gives away: the smallest shown cell of its relations whose hiding protects it,
    else the smallest one."""
    block = state.block_of(key)
    options = sorted(
        {k for r in relations for k in state.candidates[r] if k not in state.unknowns and state.block_of(k) == block},
        key=state._order,
    )
    for candidate in options[:tries]:
        state.unknowns.add(candidate)
        protected = not _exposed_in_its_row(state, key)
        state.unknowns.discard(candidate)
        if protected:
            return candidate
    return _cover(state, key, relations)


def _cover(state: _State, key: Key, relations: list[int]) -> Key | None:
    """The smallest positive shown cell in one of ``relations``, searching outwards if there is none."""
    seen: set[int] = set()
    frontier = set(relations)
    while frontier:
        best: Key | None = None
        for r in frontier:
            found = next((k for k in state.candidates[r] if k not in state.unknowns), None)
            if found is not None and (best is None or state._order(found) < state._order(best)):
                best = found
        if best is not None:
            return best
        seen |= frontier
        frontier = {o for r in frontier for k in state.relations[r].cells for o in state.relations_of[k]} - seen
    return None
