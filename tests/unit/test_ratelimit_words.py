"""The pure parts of the abuse limits: what a refusal says, and which part of an address is counted."""

from __future__ import annotations

import pytest

from shared.ratelimit import REFUSALS, Rule, client_key, rules_from_settings, wait_in_words
from shared.settings import AbuseLimitSettings


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "1 second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "90 seconds"),
        (91, "2 minutes"),
        (600, "10 minutes"),
        (3600, "60 minutes"),
        (7200, "120 minutes"),
        (7201, "3 hours"),
        (86_400, "24 hours"),
    ],
)
def test_the_wait_is_said_in_words(seconds: int, words: str) -> None:
    assert wait_in_words(seconds) == words


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.17", "192.0.2.17"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.17", "192.0.2.17"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_a_client_is_counted_by_its_address_or_its_ipv6_network(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_every_rule_has_a_setting_and_a_refusal() -> None:
    assert set(rules_from_settings(AbuseLimitSettings())) == set(Rule) == set(REFUSALS)


def test_a_school_class_signing_up_together_passes_by_default() -> None:
    """15-25 people of an adult-education class sign up from one school address within half an hour."""
    from limits import parse_many

    for item in parse_many(AbuseLimitSettings().limit_signup_per_client):
        assert item.amount >= 25
