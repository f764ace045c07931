from __future__ import annotations

import uuid

from shared import topics
from shared.events import Envelope, RegistrationChanged, TenantCreated, make_event, payload, topic_for


def test_envelope_round_trips_and_carries_cloudevents_headers() -> None:
    tenant = uuid.uuid4()
    event = make_event(
        "tenant.created",
        tenant,
        TenantCreated(tenant_id=tenant, slug="arendal", name="Arendal", municipality_number="4203"),
    )
    again = Envelope.model_validate_json(event.model_dump_json())
    assert again == event
    headers = event.headers("registration")
    assert headers["ce_id"] == str(event.id)
    assert headers["ce_type"] == "tenant.created"
    assert headers["ce_source"] == "/fmf/registration"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_time"] == event.occurred_at.isoformat()


def test_consumers_ignore_unknown_fields_and_types() -> None:
    tenant = uuid.uuid4()
    raw = {
        "type": "tenant.created",
        "tenant_id": str(tenant),
        "brand_new_field": 1,
        "data": {"tenant_id": str(tenant), "slug": "a", "name": "A", "municipality_number": "0301", "extra": True},
    }
    event = Envelope.model_validate(raw)
    assert isinstance(payload(event), TenantCreated)
    assert payload(Envelope(type="something.new", tenant_id=tenant)) is None


def test_caused_event_keeps_the_correlation() -> None:
    tenant, meeting = uuid.uuid4(), uuid.uuid4()
    cause = Envelope(type="meeting.registration_closed", tenant_id=tenant)
    data = RegistrationChanged(
        registration_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        meeting_id=meeting,
        tenant_id=tenant,
        group="resident",
        status="confirmed",
        language="nb",
    )
    effect = cause.caused("registration.promoted", data)
    assert effect.correlation_id == cause.correlation_id and effect.causation_id == cause.id


def test_every_event_type_has_a_topic_of_the_contract() -> None:
    assert topic_for("registration.confirmed") == topics.REGISTRATIONS
    assert topic_for("contact.upserted") == topics.CONTACTS
    assert topics.dlq(topics.MEETINGS) == "fmf.meetings.v1.dlq"


def test_registration_events_carry_no_personal_data() -> None:
    fields = set(RegistrationChanged.model_fields) | set(
        RegistrationChanged.model_fields["profile"].annotation.model_fields
    )  # type: ignore[union-attr]
    assert not fields & {"name", "email", "phone", "comment"}
