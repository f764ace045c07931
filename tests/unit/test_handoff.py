"""The signed hand-off from the console to reporting's dashboards (shared/handoff.py)."""

from __future__ import annotations

import uuid

import pytest

from shared import handoff
from shared.handoff import HandoffRefused

KEY = handoff.key_of("operator-secret")
NOW = 1_800_000_000.0
TENANT = uuid.uuid4()


def coordinator(kind: handoff.Kind = "access") -> handoff.Grant:
    return handoff.grant("coordinator", TENANT, "oslo", "nb", kind, NOW)


def test_a_signed_grant_verifies_until_it_expires() -> None:
    text = handoff.sign(KEY, coordinator())
    got = handoff.verify(KEY, text, "access", NOW + 59)
    assert (got.role, got.tenant_id, got.tenant_slug, got.language) == ("coordinator", str(TENANT), "oslo", "nb")
    assert got.may_see_tenant(TENANT) and not got.may_see_tenant(uuid.uuid4())
    with pytest.raises(HandoffRefused, match="expired"):
        handoff.verify(KEY, text, "access", NOW + 60)


def test_the_cookie_lives_an_hour() -> None:
    text = handoff.sign(KEY, coordinator("cookie"))
    assert handoff.verify(KEY, text, "cookie", NOW + 3599).kind == "cookie"
    with pytest.raises(HandoffRefused, match="expired"):
        handoff.verify(KEY, text, "cookie", NOW + 3600)


def test_a_tampered_grant_is_refused() -> None:
    text = handoff.sign(KEY, coordinator())
    payload, signature = text.rsplit(".", 1)
    fields = handoff.verify(KEY, text, "access", NOW).__dict__ | {"role": "operator", "tenant_id": None}
    forged = handoff.sign(KEY, handoff.Grant(**fields)).rsplit(".", 1)[0]
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{forged}.{signature}", f"{flipped}.{signature}", f"{payload}.{signature[:-2]}AA", text + "x"):
        with pytest.raises(HandoffRefused, match="signature"):
            handoff.verify(KEY, bad, "access", NOW)
    for bad in ("", "a.b.c", "nothing", "x" * 2000):
        with pytest.raises(HandoffRefused):
            handoff.verify(KEY, bad, "access", NOW)


def test_another_key_is_refused() -> None:
    text = handoff.sign(handoff.key_of("another-operator-token"), coordinator())
    with pytest.raises(HandoffRefused, match="signature"):
        handoff.verify(KEY, text, "access", NOW)


def test_a_cookie_is_no_access_token_and_the_other_way_round() -> None:
    with pytest.raises(HandoffRefused, match="expected"):
        handoff.verify(KEY, handoff.sign(KEY, coordinator("cookie")), "access", NOW)
    with pytest.raises(HandoffRefused, match="expected"):
        handoff.verify(KEY, handoff.sign(KEY, coordinator("access")), "cookie", NOW)


def test_a_wrong_role_is_refused_even_when_signed() -> None:
    for role, tenant in (("administrator", TENANT), ("coordinator", None)):
        value = handoff.Grant(role, str(tenant) if tenant else None, "oslo", "nb", "access", int(NOW) + 60, "n")  # type: ignore[arg-type]
        with pytest.raises(HandoffRefused, match="role"):
            handoff.verify(KEY, handoff.sign(KEY, value), "access", NOW)


def test_the_operator_sees_every_tenant_and_each_grant_has_its_own_nonce() -> None:
    operator = handoff.grant("operator", None, None, "en", "access", NOW)
    assert handoff.verify(KEY, handoff.sign(KEY, operator), "access", NOW).may_see_tenant(TENANT)
    assert operator.nonce != handoff.grant("operator", None, None, "en", "access", NOW).nonce


def test_no_operator_token_no_key() -> None:
    with pytest.raises(ValueError):
        handoff.key_of("")
