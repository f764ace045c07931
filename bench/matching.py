"""Benchmark of the pairing solver on realistic synthetic meetings: ``python -m bench.matching``.

For 10+10, 50+50, 200+200 and 1000+1000 people it times our solver (score + solve + seat, the real
``services.matching.pairing`` code) and compares the mean pair score with two baselines on the same score
matrix: a greedy matcher (repeatedly take the best remaining allowed pair) and networkx's
``max_weight_matching`` on the bipartite graph (maxcardinality=True). networkx runs in a child process
with a time limit and is skipped when it does not finish in time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Literal

import numpy as np

from services.matching import pairing
from services.matching.pairing import History, Person
from shared.formats import PairingWeights
from shared.vocabulary import ids, vocabulary

SIZES = (10, 50, 200, 1000)
RUNS = {10: 15, 50: 15, 200: 7, 1000: 3}
NETWORKX_LIMIT_S = 60.0
GOAL_SMALL_MS = 1.0  # 10+10
GOAL_LARGE_MS = 1000.0  # 1000+1000
WEIGHTS = PairingWeights()

NEWCOMER_LANGUAGES = {"ar": 20, "ti": 12, "so": 10, "uk": 18, "fa": 6, "prs": 8, "en": 14, "ru": 5, "ps": 4, "tr": 3}
RESIDENT_EXTRA_LANGUAGES = {"de": 4, "sv": 5, "es": 3, "fr": 3, "da": 2, "ar": 1}
NEWCOMER_AGES = {"18-24": 18, "25-34": 32, "35-44": 24, "45-54": 14, "55-64": 8, "65-74": 3, "75+": 1}
RESIDENT_AGES = {"18-24": 6, "25-34": 12, "35-44": 14, "45-54": 16, "55-64": 20, "65-74": 22, "75+": 10}


# ------------------------------------------------------------------------------------------ population


def _pick(rng: np.random.Generator, weights: dict[str, int]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _person(rng: np.random.Generator, group: Literal["newcomer", "resident"]) -> Person:
    interests = [item["id"] for item in vocabulary()["interests"]]
    popularity = 1.0 / np.arange(1, len(interests) + 1) ** 0.8  # vocabulary order ~ popularity: skewed
    chosen = rng.choice(len(interests), size=int(rng.integers(2, 6)), replace=False, p=popularity / popularity.sum())
    occupations = sorted(ids("occupation_fields"))
    occupation: str | None = occupations[int(rng.integers(len(occupations)))] if rng.random() > 0.05 else None
    languages = {"nb"}
    if group == "newcomer":
        for _ in range(int(rng.integers(1, 3))):
            languages.add(_pick(rng, NEWCOMER_LANGUAGES))
    else:
        if rng.random() < 0.8:
            languages.add("en")
        if rng.random() < 0.25:
            languages.add(_pick(rng, RESIDENT_EXTRA_LANGUAGES))
    gender_roll = rng.random()
    gender = (
        "female" if gender_roll < 0.5 else "male" if gender_roll < 0.96 else "other" if gender_roll < 0.98 else None
    )
    return Person(
        registration_id=uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | int(rng.integers(1 << 62))),
        participant_id=uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | int(rng.integers(1 << 62))),
        group=group,
        interests=frozenset(interests[int(k)] for k in chosen),
        occupation_field=occupation,
        languages=frozenset(languages),
        age_band=_pick(rng, NEWCOMER_AGES if group == "newcomer" else RESIDENT_AGES) if rng.random() > 0.03 else None,
        gender=gender,
        same_gender_partner=bool(rng.random() < 0.10),
    )


def population(size: int, seed: int = 2024) -> tuple[list[Person], list[Person], History]:
    """``size`` newcomers and ``size`` residents, and a small history: some of them met before, plus
    earlier pairs of people who are not at this meeting."""
    rng = np.random.default_rng(seed + size)
    newcomers = [_person(rng, "newcomer") for _ in range(size)]
    residents = [_person(rng, "resident") for _ in range(size)]
    history: set[frozenset[uuid.UUID]] = set()
    for _ in range(max(1, size // 10)):
        n = newcomers[int(rng.integers(size))]
        r = residents[int(rng.integers(size))]
        history.add(frozenset((n.participant_id, r.participant_id)))
    for k in range(5 * size):
        history.add(frozenset((uuid.UUID(int=2 * k + 1), uuid.UUID(int=2 * k + 2))))
    return newcomers, residents, frozenset(history)


# ------------------------------------------------------------------------------------------ solvers


@dataclass(frozen=True)
class Outcome:
    pairs: int
    total: float

    @property
    def mean(self) -> float:
        return self.total / self.pairs if self.pairs else 0.0


def ours(newcomers: Sequence[Person], residents: Sequence[Person], history: History) -> Outcome:
    proposal = pairing.propose(newcomers, residents, WEIGHTS, history)
    pairing.seat(proposal.groups)
    return Outcome(len(proposal.groups), proposal.total_score)


def greedy(newcomers: Sequence[Person], residents: Sequence[Person], history: History) -> Outcome:
    """Repeatedly take the best remaining allowed pair (on the same fast score matrix)."""
    scores = pairing.score_matrix(newcomers, residents, WEIGHTS)
    ok = pairing.allowed_matrix(newcomers, residents, history)
    cells = np.flatnonzero(ok.ravel())
    cells = cells[np.argsort(-scores.ravel()[cells], kind="stable")]
    width = scores.shape[1]
    free_rows, free_cols = set(range(scores.shape[0])), set(range(width))
    pairs, total = 0, 0.0
    for cell in cells.tolist():
        i, j = divmod(cell, width)
        if i in free_rows and j in free_cols:
            free_rows.discard(i)
            free_cols.discard(j)
            pairs += 1
            total += float(scores[i, j])
            if not free_rows or not free_cols:
                break
    return Outcome(pairs, total)


def with_networkx(newcomers: Sequence[Person], residents: Sequence[Person], history: History) -> Outcome:
    """networkx.max_weight_matching on the bipartite graph of allowed pairs, maximum cardinality first."""
    import networkx as nx

    scores = pairing.score_matrix(newcomers, residents, WEIGHTS)
    ok = pairing.allowed_matrix(newcomers, residents, history)
    graph = nx.Graph()
    rows, cols = np.nonzero(ok)
    graph.add_weighted_edges_from(
        (int(i), len(newcomers) + int(j), float(scores[i, j])) for i, j in zip(rows, cols, strict=True)
    )
    matching = nx.max_weight_matching(graph, maxcardinality=True)
    total = 0.0
    for a, b in matching:
        i, j = (a, b) if a < len(newcomers) else (b, a)
        total += float(scores[i, j - len(newcomers)])
    return Outcome(len(matching), total)


Solver = Callable[[Sequence[Person], Sequence[Person], History], Outcome]


def measure(
    solver: Solver, size: int, runs: int, budget_s: float = float("inf"), warm_up: bool = True
) -> tuple[float, Outcome, int]:
    """Median milliseconds over ``runs`` (stopping early once ``budget_s`` is spent), the outcome, runs done."""
    newcomers, residents, history = population(size)
    if warm_up:
        solver(newcomers, residents, history)  # caches, first-call costs
    times: list[float] = []
    outcome = Outcome(0, 0.0)
    spent = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        outcome = solver(newcomers, residents, history)
        elapsed = time.perf_counter() - started
        times.append(elapsed)
        spent += elapsed
        if spent > budget_s:
            break
    return statistics.median(times) * 1000, outcome, len(times)


def _child(size: int, runs: int, budget_s: float, pipe: Connection) -> None:
    import networkx  # noqa: F401  (imported before timing)

    pipe.send(measure(with_networkx, size, runs, budget_s, warm_up=size <= 50))
    pipe.close()


def measure_networkx(size: int, runs: int, limit_s: float) -> tuple[float, Outcome, int] | str:
    """Run in a child process; give up (and stop the child) when the first run exceeds ``limit_s``."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(size, runs, 10.0, sender), daemon=True)
    started = time.perf_counter()
    child.start()
    sender.close()
    try:
        if receiver.poll(limit_s):
            result: tuple[float, Outcome, int] = receiver.recv()
            return result
        return f"skipped: no result within {limit_s:.0f} s (stopped after {time.perf_counter() - started:.0f} s)"
    finally:
        if child.is_alive():
            child.terminate()
        child.join()


# ------------------------------------------------------------------------------------------ report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES), help="people per side")
    parser.add_argument("--networkx-limit", type=float, default=NETWORKX_LIMIT_S, help="seconds before skipping")
    args = parser.parse_args(argv)

    print("Pairing benchmark: median time (ms) and mean pair score on seeded synthetic meetings")
    print("  ours     = pairing.propose + pairing.seat (vectorised scoring, exact assignment, reasons, seating)")
    print("  greedy   = same score matrix, then repeatedly the best remaining allowed pair")
    print("  networkx = same score matrix, then networkx.max_weight_matching(maxcardinality=True)")
    print(
        f"  goals: 10+10 < {GOAL_SMALL_MS:g} ms and 1000+1000 < {GOAL_LARGE_MS:g} ms for ours; ours' mean >= greedy's"
    )
    print()
    header = (
        f"{'size':>11} {'runs':>4} | {'ours ms':>9} {'pairs':>5} {'mean':>6} {'total':>8} | {'greedy ms':>9} "
        f"{'pairs':>5} {'mean':>6} {'total':>8} | {'networkx ms':>11} {'pairs':>5} {'mean':>6} | goals"
    )
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for size in args.sizes:
        runs = RUNS.get(size, 3)
        ours_ms, ours_out, _ = measure(ours, size, runs)
        greedy_ms, greedy_out, _ = measure(greedy, size, runs)
        nx_result = measure_networkx(size, runs, args.networkx_limit)
        if isinstance(nx_result, str):
            nx_cells = f"{'skipped':>11} {'-':>5} {'-':>6}"
            notes.append(f"{size}+{size}: networkx {nx_result}")
        else:
            nx_ms, nx_out, nx_runs = nx_result
            nx_cells = f"{nx_ms:>11.1f} {nx_out.pairs:>5} {nx_out.mean:>6.3f}"
            if nx_runs < runs:
                notes.append(f"{size}+{size}: networkx timed over {nx_runs} run(s) only (slow)")
            same = nx_out.pairs == ours_out.pairs and abs(nx_out.total - ours_out.total) < 1e-6
            notes.append(
                f"{size}+{size}: ours vs networkx (exact reference): same pairs and total = {'yes' if same else 'NO'}"
            )
        goals = []
        if size == 10:
            goals.append(f"<{GOAL_SMALL_MS:g} ms {'met' if ours_ms < GOAL_SMALL_MS else 'MISSED'}")
        if size == 1000:
            goals.append(f"<{GOAL_LARGE_MS:g} ms {'met' if ours_ms < GOAL_LARGE_MS else 'MISSED'}")
        goals.append(f"mean>=greedy {'met' if ours_out.mean >= greedy_out.mean - 1e-9 else 'MISSED'}")
        if ours_out.mean < greedy_out.mean - 1e-9:
            notes.append(
                f"{size}+{size}: greedy's mean per pair is higher because it formed {greedy_out.pairs} pairs where "
                f"{ours_out.pairs} were possible; its total is {greedy_out.total:.2f}, ours {ours_out.total:.2f}"
            )
        print(
            f"{f'{size}+{size}':>11} {runs:>4} | {ours_ms:>9.3f} {ours_out.pairs:>5} {ours_out.mean:>6.3f} "
            f"{ours_out.total:>8.2f} | {greedy_ms:>9.3f} {greedy_out.pairs:>5} {greedy_out.mean:>6.3f} "
            f"{greedy_out.total:>8.2f} | {nx_cells} | {', '.join(goals)}",
            flush=True,
        )
    if notes:
        print()
        for note in notes:
            print("  " + note)


if __name__ == "__main__":
    main()
