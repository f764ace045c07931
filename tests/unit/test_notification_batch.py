"""``domain.waves``: the steps in which notification applies a batch of consumed records set-wise have the
effect of its records one by one, against a model in which records of different keys commute and a barrier
sees everything before it and nothing after."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from services.notification import domain

# A record: a key (None: a barrier) and a value; the model's state is each key's values in order, and each
# barrier's view of the state when it is applied.
RECORDS = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.integers()), max_size=40)

State = tuple[dict[int, list[int]], list[dict[int, tuple[int, ...]]]]


def apply_one(state: State, key: int | None, value: int) -> None:
    values, views = state
    if key is None:
        views.append({k: tuple(v) for k, v in values.items()})
    else:
        values.setdefault(key, []).append(value)


@given(RECORDS, st.randoms())
def test_applying_the_waves_in_any_order_within_each_equals_applying_the_records_one_by_one(
    records: list[tuple[int | None, int]], rand: random.Random
) -> None:
    one_by_one: State = ({}, [])
    for key, value in records:
        apply_one(one_by_one, key, value)
    steps = domain.waves([key for key, _ in records])
    set_wise: State = ({}, [])
    for step in steps:
        wave = list(step)
        rand.shuffle(wave)  # a wave's records commute: any order will do
        for i in wave:
            apply_one(set_wise, *records[i])
    assert set_wise == one_by_one
    assert sorted(i for step in steps for i in step) == list(range(len(records)))


@given(RECORDS)
def test_a_wave_holds_each_key_once_and_a_barrier_is_a_step_of_its_own(records: list[tuple[int | None, int]]) -> None:
    for step in domain.waves([key for key, _ in records]):
        keys = [records[i][0] for i in step]
        if None in keys:
            assert len(step) == 1
        else:
            assert len(set(keys)) == len(keys)
            assert step == sorted(step)


def test_the_records_of_one_key_go_in_successive_waves_and_the_others_with_them() -> None:
    keys = ["a", "b", "a", None, "a", "c", "a", "a"]
    assert domain.waves(keys) == [[0, 1], [2], [3], [4, 5], [6], [7]]
    assert domain.waves([]) == []
